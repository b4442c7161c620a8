package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/replay"
)

// Issue 15, end to end: inputs with invalid UTF-8 or nested 10,000 deep,
// published raw to waba.shared, give failed events whose stored bytes are
// valid UTF-8 JSON, at most 101 levels deep, that Python's json reads and
// whose event_base64 is the exact input; a replay dry run counts every one.
func TestFailedEventsOfUnreadableInputsAreReadable(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	inputs := map[string]string{ // event id (Nats-Msg-Id) -> raw input
		"bad-utf8": "{\"waba_id\":\"1\",\"source\":\"caf\xe9\"}",
		"overlong": "{\"waba_id\":\"1\",\"source\":\"\xc0\xb1\"}",
		"deep":     deep(10000),
		// Valid, so Graph is asked: the WABA is not shared (100/33), permanent.
		"deep-valid": `{"id":"deep-valid","waba_id":"90","x":` + deep(9999) + `}`,
	}
	for id, in := range inputs {
		b.publish(id, []byte(in))
	}
	b.start()
	b.waitResults(len(inputs), 20*time.Second)

	stored := b.storedFailed()
	if len(stored) != len(inputs) {
		t.Fatalf("%d failed events stored, want %d", len(stored), len(inputs))
	}
	var files []string
	for _, raw := range stored {
		if !utf8.Valid(raw) || !json.Valid(raw) {
			t.Errorf("stored failed event is not valid UTF-8 JSON: %.80q", raw)
			continue
		}
		if d := jsonDepth(t, raw); d > events.MaxEventDepth+1 {
			t.Errorf("stored failed event nests %d levels", d)
		}
		var doc struct {
			EventID     string `json:"event_id"`
			EventBase64 string `json:"event_base64"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		in, ok := inputs[doc.EventID]
		if !ok {
			t.Errorf("failed event for %q, not an input of the test", doc.EventID)
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(doc.EventBase64); err != nil || string(got) != in {
			t.Errorf("%s: event_base64 is not the exact input (%v)", doc.EventID, err)
		}
		if f, err := events.DecodeFailed(raw); err != nil || string(f.Replayable()) != in {
			t.Errorf("%s: DecodeFailed does not give back the input: %v", doc.EventID, err)
		}
		p := filepath.Join(t.TempDir(), doc.EventID+".json")
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	if py, err := exec.LookPath("python3"); err == nil {
		script := "import json, sys\nfor p in sys.argv[1:]:\n    json.loads(open(p, 'rb').read())\n"
		if out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput(); err != nil {
			t.Errorf("python3 json.loads refuses a stored failed event: %v\n%s", err, out)
		}
	} else {
		t.Log("python3 not installed: Python's json not checked")
	}

	// replay takes them without being asked (SPEC: it republishes every
	// matching failed event; the exact bytes of an input that was not JSON).
	sum, err := replay.Run(t.Context(), b.js, replay.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(stored); sum.Failed != n || sum.Unreadable != 0 || sum.Matched != n || sum.Replayed != n {
		t.Errorf("replay --dry-run: %+v; want %d failed, 0 unreadable, %d would replay", sum, n, n)
	}
}

// storedFailed returns the raw bytes of every message on the failed subject.
func (b *bundle) storedFailed() [][]byte {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), "WABA")
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context())
	if err != nil {
		b.t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(b.t.Context(), seq)
		if err == nil && m.Subject == "waba.assignment.failed" {
			out = append(out, m.Data)
		}
	}
	return out
}

// jsonDepth is the deepest nesting of arrays and objects in doc, as a JSON
// tokenizer reads it.
func jsonDepth(t *testing.T, doc []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("tokenize: %v", err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}
