package events_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/schemas"
)

// Inputs that other tools choke on once embedded in a failed event, each with
// how the failed event must carry it: as its JSON (asJSON), or as a string
// with or without event_base64.
var adversarial = []struct {
	name   string
	in     string
	asJSON bool // event is the input byte for byte
	base64 bool // event_base64 is set
}{
	{"invalid UTF-8 in a string", "{\"waba_id\":\"1\",\"source\":\"caf\xe9\"}", false, true},
	{"overlong encoding", "{\"waba_id\":\"1\",\"source\":\"\xc0\xb1\"}", false, true},
	{"binary junk", "\x00\xff\xfe", false, true},
	{"10,000 levels deep", deep(10000), false, true},
	{"10,000 levels deep in a field", `{"waba_id":"1","x":` + deep(9999) + `}`, false, true},
	{"10,001 unclosed brackets", strings.Repeat("[", 10001), false, true},
	{"101 levels deep", deep(101), false, true},
	{"100 levels deep", deep(100), true, false},
	{"integer of 5,000 digits", `{"waba_id":"1","n":` + strings.Repeat("7", 5000) + `}`, false, true},
	{"fraction of 5,000 digits", `{"waba_id":"1","n":0.` + strings.Repeat("7", 5000) + `}`, true, false},
	{"trailing newline", "{\"waba_id\":\"1\"}\n", true, true},
	{"plain JSON", `{"waba_id": "12ab",  "x": [1, 2]}`, true, false},
	{"not JSON", `not json`, false, false},
	{"a JSON string", `"1"`, true, true},
	{"escapes that grow sixfold", strings.Repeat("\x00", 50<<10), false, true},
	{"invalid UTF-8 over MaxEmbeddedEvent", strings.Repeat("\xff", events.MaxEmbeddedEvent+10), false, false},
}

func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// maxDepth is the deepest nesting of arrays and objects in a JSON document.
func maxDepth(doc []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range doc {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// checkReadable fails t unless doc is a failed event every strict parser
// reads, that gives back exactly in.
func checkReadable(t *testing.T, doc, in []byte) events.Failed {
	t.Helper()
	if !utf8.Valid(doc) {
		t.Errorf("failed event is not valid UTF-8")
	}
	if !json.Valid(doc) {
		t.Errorf("failed event is not JSON Go reads")
	}
	if d := maxDepth(doc); d > events.MaxEventDepth+1 {
		t.Errorf("failed event nests %d levels", d)
	}
	if err := schemas.Validate(schemas.Failed, doc); err != nil {
		t.Errorf("failed event breaks its schema: %v", err)
	}
	back, err := events.DecodeFailed(doc)
	if err != nil {
		t.Fatalf("DecodeFailed: %v", err)
	}
	if len(in) <= events.MaxEmbeddedEvent && !bytes.Equal(back.Replayable(), in) {
		t.Errorf("Replayable gives %d bytes %.40q, want the exact %d bytes of the input %.40q", len(back.Replayable()), back.Replayable(), len(in), in)
	}
	if back.EventBase64 != nil {
		var raw struct {
			B64 string `json:"event_base64"`
		}
		_ = json.Unmarshal(doc, &raw)
		if got, err := base64.StdEncoding.DecodeString(raw.B64); err != nil || !bytes.Equal(got, in) {
			t.Errorf("event_base64 is not the standard base64 of the input: %v", err)
		}
	}
	return back
}

// strictParsers runs Python's json (and jq when installed) over every file
// in dir; each must parse. It skips what is not installed.
func strictParsers(t *testing.T, files []string) {
	t.Helper()
	if py, err := exec.LookPath("python3"); err == nil {
		script := "import json, sys\nfor p in sys.argv[1:]:\n    with open(p, 'rb') as f:\n        json.loads(f.read())\n"
		if out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput(); err != nil {
			t.Errorf("python3 json.loads refuses a failed event: %v\n%s", err, lastLines(out))
		}
	} else {
		t.Log("python3 not installed: Python's json not checked")
	}
	if jq, err := exec.LookPath("jq"); err == nil {
		for _, f := range files {
			if out, err := exec.Command(jq, "-e", ".event_id", f).CombinedOutput(); err != nil {
				t.Errorf("jq refuses %s: %v\n%s", filepath.Base(f), err, lastLines(out))
			}
		}
	} else {
		t.Log("jq not installed: jq not checked")
	}
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], "\n")
}

// Every adversarial input gives a failed event that Go, Python and jq read,
// that validates, and that gives the exact input back.
func TestFailedCarriesAdversarialInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for i, c := range adversarial {
		t.Run(c.name, func(t *testing.T) {
			f := events.Failed{EventID: "e", Attempts: 1, FailedAt: time.Date(2026, 11, 24, 12, 0, 1, 0, time.UTC),
				Error: events.Failure{Kind: events.KindInvalidEvent, Message: "m"}}
			f.SetEvent([]byte(c.in))
			doc, err := f.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back := checkReadable(t, doc, []byte(c.in))
			if got := bytes.Contains(doc, append([]byte(`"event":`), c.in...)); got != c.asJSON {
				t.Errorf("event is the input as JSON: %v, want %v", got, c.asJSON)
			}
			if !c.asJSON && (len(back.Event) == 0 || back.Event[0] != '"') {
				t.Errorf("event is not a string: %.40s", back.Event)
			}
			if got := back.EventBase64 != nil; got != c.base64 {
				t.Errorf("event_base64 set: %v, want %v", got, c.base64)
			}
			if len(doc) > 1<<20-4096 {
				t.Errorf("failed event is %d bytes: over NATS's default 1 MiB payload", len(doc))
			}
			p := filepath.Join(dir, strings.Repeat("x", i+1)+".json")
			if err := os.WriteFile(p, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		})
	}
	strictParsers(t, files)
}

// Invalid bytes become U+FFFD in the string, one per byte.
func TestFailedEventTextOfInvalidUTF8(t *testing.T) {
	t.Parallel()
	var f events.Failed
	f.SetEvent([]byte("{\"source\":\"caf\xe9\xc0\xb1\"}"))
	var text string
	if err := json.Unmarshal(f.Event, &text); err != nil || text != "{\"source\":\"caf\uFFFD\uFFFD\uFFFD\"}" {
		t.Errorf("event text %q, %v", text, err)
	}
}

// A failed event whose Event was set directly (not through SetEvent) is
// still encoded as readable JSON with the exact bytes.
func TestEncodeCarriesAnEventSetDirectly(t *testing.T) {
	t.Parallel()
	in := []byte("{\"waba_id\":\"1\",\"source\":\"caf\xe9\"}")
	doc, err := events.Failed{EventID: "e", Attempts: 1, Error: events.Failure{Kind: events.KindPermanent, Message: "m"}, Event: in}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	checkReadable(t, doc, in)
}

// DecodeFailed names what it cannot read, without echoing it.
func TestDecodeFailedRejects(t *testing.T) {
	t.Parallel()
	old := `{"event_id":"e","attempts":1,"failed_at":"2026-11-24T12:00:01Z","error":{"kind":"invalid_event","message":"m","retryable":false},"event":` + deep(10000) + `}`
	for _, c := range []struct{ name, doc, want string }{
		{"empty", ``, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"array", `[{"event_id":"e"}]`, "not a JSON object"},
		{"text", `secret garbage`, "not a JSON object"},
		{"truncated", `{"event_id":"e",`, "unexpected end"},
		{"no event_id", `{"event": {"waba_id": "1"}}`, "no event_id"},
		{"number event_id", `{"event_id": 7}`, "event_id is number"},
		{"bad base64", `{"event_id":"e","event":"x","event_base64":"not base64!"}`, "base64"},
		{"over Go's depth limit (written before event_base64)", old, "exceeded max depth"},
	} {
		_, err := events.DecodeFailed([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeFailed = %v, want an error with %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error echoes the document: %v", c.name, err)
		}
	}
}

// For any input, the failed event is valid UTF-8 JSON, nests at most one
// level more than MaxEventDepth, and gives the exact input back.
func FuzzFailedEvent(f *testing.F) {
	for _, c := range corpus {
		f.Add([]byte(c.doc))
	}
	for _, c := range adversarial {
		if len(c.in) <= 64<<10 {
			f.Add([]byte(c.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := events.Failed{EventID: "e", Attempts: 1, Error: events.Failure{Kind: events.KindInvalidEvent, Message: "m"}}
		ev.SetEvent(data)
		doc, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(doc) || !json.Valid(doc) {
			t.Fatalf("failed event of %q is not valid UTF-8 JSON: %q", data, doc)
		}
		if d := maxDepth(doc); d > events.MaxEventDepth+1 {
			t.Fatalf("failed event of %q nests %d levels", data, d)
		}
		back, err := events.DecodeFailed(doc)
		if err != nil {
			t.Fatalf("DecodeFailed(%q): %v", doc, err)
		}
		if len(data) <= events.MaxEmbeddedEvent && !bytes.Equal(back.Replayable(), data) {
			t.Fatalf("input %q comes back as %q", data, back.Replayable())
		}
	})
}

// The failed-event examples in schemas/examples are what SetEvent writes for
// the input they carry, and every strict parser reads them.
func TestFailedExamplesAreWhatSetEventWrites(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(schemas.FS, "examples/waba.assignment.failed*.json")
	if err != nil || len(names) < 3 {
		t.Fatalf("examples: %v %v", names, err)
	}
	var files []string
	withBase64 := 0
	for _, name := range names {
		doc, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := events.DecodeFailed(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var again events.Failed
		again.SetEvent(f.Replayable())
		if !bytes.Equal(again.EventBase64, f.EventBase64) || (f.EventBase64 != nil && !bytes.Equal(again.Event, f.Event)) {
			t.Errorf("%s: SetEvent of its input gives event %.60s, event_base64 %q", name, again.Event, again.EventBase64)
		}
		if f.EventBase64 != nil {
			withBase64++
		}
		p := filepath.Join(t.TempDir(), filepath.Base(name))
		if err := os.WriteFile(p, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	if withBase64 < 2 {
		t.Errorf("%d examples with event_base64, want the invalid UTF-8 and the too deep one", withBase64)
	}
	strictParsers(t, files)
}
