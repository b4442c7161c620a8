package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/logging"
)

// Not a terminal: auto is JSON; text is tint without colour.
func TestFormats(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.New(&buf, slog.LevelInfo, "auto")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "event_id", "e1")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["event_id"] != "e1" {
		t.Fatalf("auto on a pipe is not JSON: %q (%v)", buf.String(), err)
	}
	buf.Reset()
	log, _ = logging.New(&buf, slog.LevelInfo, "text")
	log.Info("hello", "event_id", "e1")
	if out := buf.String(); !strings.Contains(out, "INF hello event_id=e1") || strings.Contains(out, "\x1b[") {
		t.Fatalf("text: %q", out)
	}
	if _, err := logging.New(&buf, slog.LevelInfo, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// An attribute that names a secret is redacted, whatever the code logs.
func TestRedactsSecretAttributes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, _ := logging.New(&buf, slog.LevelInfo, "json")
	log.Info("x", "access_token", "tok-123", "app_secret", "s3cret", "appsecret_proof", "abc", "fbtrace_id", "keep-me")
	out := buf.String()
	for _, s := range []string{"tok-123", "s3cret", "abc"} {
		if strings.Contains(out, s) {
			t.Errorf("%q logged: %s", s, out)
		}
	}
	if !strings.Contains(out, "keep-me") {
		t.Errorf("fbtrace_id redacted: %s", out)
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, _ := logging.New(&buf, slog.LevelWarn, "json")
	log.Info("quiet")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn level: %s", buf.String())
	}
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	got := logging.RedactURLs("nats://a:b@h1:4222, nats://h2:4222,tls://tok@h3")
	if want := "nats://[redacted]@h1:4222, nats://h2:4222,tls://[redacted]@h3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
