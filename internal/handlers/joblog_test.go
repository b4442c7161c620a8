package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/logging"
)

// A job's lines carry its event_id and waba_id first, then the line's own
// attributes, through the logger's handler (its redaction included).
func TestJobLogLine(t *testing.T) {
	var buf bytes.Buffer
	l, err := logging.New(&buf, slog.LevelInfo, "json")
	if err != nil {
		t.Fatal(err)
	}
	j := jobLog{l: l, eventID: "evt-1", wabaID: "102290129340398"}
	j.Info("assignment verified", "tasks", []string{"MANAGE"}, "attempts", 2, "access_token", "EAAB-secret")
	j.Debug("not at this level")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, buf.String())
	}
	want := map[string]any{"level": "INFO", "msg": "assignment verified", "event_id": "evt-1", "waba_id": "102290129340398",
		"tasks": []any{"MANAGE"}, "attempts": 2.0, "access_token": "[redacted]"}
	for k, v := range want {
		if got, _ := json.Marshal(line[k]); string(got) != mustJSON(t, v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	if _, ok := line["time"]; !ok {
		t.Error("no time")
	}
	raw := buf.String()
	if e, w, a := strings.Index(raw, `"event_id"`), strings.Index(raw, `"waba_id"`), strings.Index(raw, `"tasks"`); !(e < w && w < a) {
		t.Errorf("the ids do not come first: %s", raw)
	}
	// Without ids (the system-user lookup), the line has none.
	buf.Reset()
	jobLog{l: l}.Warn("system user lookup failed")
	if bytes.Contains(buf.Bytes(), []byte("event_id")) {
		t.Errorf("empty ids logged: %s", buf.String())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkJobLog is the line every assigned event logs, as JSON.
func BenchmarkJobLog(b *testing.B) {
	l, err := logging.New(io.Discard, slog.LevelInfo, "json")
	if err != nil {
		b.Fatal(err)
	}
	j := jobLog{l: l, eventID: "evt-7f3c2a9e", wabaID: "102290129340398"}
	tasks := []string{"MANAGE"}
	b.ReportAllocs()
	for b.Loop() {
		j.Info("assignment verified", "system_user_id", "1972555232742222", "tasks", tasks, "already_assigned", false, "attempts", 1)
	}
}
