package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/schemas"
)

// corpus is a set of inputs, each with whether it is a valid waba.shared event.
var corpus = []struct {
	name  string
	doc   string
	valid bool
}{
	{"spec example", `{"id": "evt-7f3c", "waba_id": "102290129340398", "business_id": "100200300", "tasks": ["MANAGE"], "source": "embedded_signup", "occurred_at": "2026-11-24T12:00:00Z"}`, true},
	{"only waba_id", `{"waba_id": "1"}`, true},
	{"32 digits", `{"waba_id": "12345678901234567890123456789012"}`, true},
	{"unknown fields ignored", `{"waba_id": "1", "extra": {"x": [1, 2]}, "n": 3}`, true},
	{"several tasks", `{"waba_id": "1", "tasks": ["MANAGE", "DEVELOP", "MESSAGING"]}`, true},
	{"duplicate tasks", `{"waba_id": "1", "tasks": ["MANAGE", "MANAGE"]}`, true},
	{"offset time", `{"waba_id": "1", "occurred_at": "2026-11-24T12:00:00+02:00"}`, true},
	{"not json", `not json`, false},
	{"empty", ``, false},
	{"array", `[{"waba_id": "1"}]`, false},
	{"string", `"1"`, false},
	{"null", `null`, false},
	{"missing waba_id", `{"id": "e1"}`, false},
	{"empty waba_id", `{"waba_id": ""}`, false},
	{"number waba_id", `{"waba_id": 102290129340398}`, false},
	{"null waba_id", `{"waba_id": null}`, false},
	{"letters", `{"waba_id": "12a4"}`, false},
	{"path-like", `{"waba_id": "../../me/accounts"}`, false},
	{"query-like", `{"waba_id": "1?fields=access_token"}`, false},
	{"33 digits", `{"waba_id": "123456789012345678901234567890123"}`, false},
	{"negative", `{"waba_id": "-1"}`, false},
	{"unicode digits", `{"waba_id": "١٢٣"}`, false},
	{"unknown task", `{"waba_id": "1", "tasks": ["OWNER"]}`, false},
	{"lowercase task", `{"waba_id": "1", "tasks": ["manage"]}`, false},
	{"empty tasks", `{"waba_id": "1", "tasks": []}`, false},
	{"tasks as string", `{"waba_id": "1", "tasks": "MANAGE"}`, false},
	{"tasks with number", `{"waba_id": "1", "tasks": [1]}`, false},
	{"number id", `{"id": 7, "waba_id": "1"}`, false},
	{"id with space", `{"id": "a b", "waba_id": "1"}`, false},
	{"empty id", `{"id": "", "waba_id": "1"}`, false},
	{"bad business", `{"waba_id": "1", "business_id": "x"}`, false},
	{"bad time", `{"waba_id": "1", "occurred_at": "yesterday"}`, false},
	{"number source", `{"waba_id": "1", "source": 5}`, false},
	// Adversarial: what a failed event must still carry readably.
	{"invalid UTF-8", "{\"waba_id\":\"1\",\"source\":\"caf\xe9\"}", false},
	{"overlong UTF-8", "{\"waba_id\":\"1\",\"source\":\"\xc0\xb1\"}", false},
	{"10,000 levels deep", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), false},
	{"deep but valid", `{"waba_id": "1", "x": ` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, true},
	{"integer of 5,000 digits", `{"waba_id": "1", "n": ` + strings.Repeat("7", 5000) + `}`, true},
}

func TestDecodeCorpus(t *testing.T) {
	t.Parallel()
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.Decode([]byte(c.doc))
			if c.valid && err != nil {
				t.Fatalf("Decode(%s) = %v, want valid", c.doc, err)
			}
			if !c.valid {
				var ie *events.InvalidError
				if !errors.As(err, &ie) || ie.Reason == "" {
					t.Fatalf("Decode(%s) = %v, want an *InvalidError with a reason", c.doc, err)
				}
			}
		})
	}
}

// The code and schemas/waba.shared.json agree on every document of the
// corpus that is JSON at all (JSON is UTF-8; Go's json.Valid does not check).
func TestDecodeAgreesWithSchema(t *testing.T) {
	t.Parallel()
	for _, c := range corpus {
		if !json.Valid([]byte(c.doc)) || !utf8.ValidString(c.doc) {
			continue
		}
		_, err := events.Decode([]byte(c.doc))
		serr := schemas.Validate(schemas.Shared, []byte(c.doc))
		if (err == nil) != (serr == nil) {
			t.Errorf("%s: Decode says %v, schema says %v", c.name, err, serr)
		}
	}
}

func TestDecodeOversize(t *testing.T) {
	t.Parallel()
	doc := `{"waba_id": "1", "pad": "` + strings.Repeat("x", 70<<10) + `"}`
	_, err := events.Decode([]byte(doc))
	var ie *events.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "limit") {
		t.Fatalf("70 KiB payload: %v", err)
	}
}

func TestDecodeKeepsWabaIDOfInvalidEvent(t *testing.T) {
	t.Parallel()
	ev, err := events.Decode([]byte(`{"waba_id": "123", "tasks": ["NOPE"]}`))
	if err == nil || ev.WabaID != "123" {
		t.Fatalf("got %+v, %v", ev, err)
	}
}

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	ev, err := events.Decode([]byte(`{"id": "evt-1", "waba_id": "42", "business_id": "7", "tasks": ["DEVELOP", "MANAGE", "DEVELOP"], "source": "ops"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := events.Shared{ID: "evt-1", WabaID: "42", BusinessID: "7", Tasks: []string{"DEVELOP", "MANAGE"}, Source: "ops"}
	if ev.ID != want.ID || ev.WabaID != want.WabaID || ev.BusinessID != want.BusinessID || strings.Join(ev.Tasks, ",") != "DEVELOP,MANAGE" || ev.Source != want.Source {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
}

func TestEventID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		payload, header string
		seq             uint64
		want            string
	}{
		{"evt-1", "hdr-1", 5, "evt-1"},
		{"", "hdr-1", 5, "hdr-1"},
		{"", "", 5, "seq-5"},
		{"bad id", "", 9, "seq-9"},
		{"", "bad\nheader", 9, "seq-9"},
	}
	for _, c := range cases {
		if got := events.EventID(c.payload, c.header, c.seq); got != c.want {
			t.Errorf("EventID(%q, %q, %d) = %q, want %q", c.payload, c.header, c.seq, got, c.want)
		}
	}
}

func TestParseTasks(t *testing.T) {
	t.Parallel()
	got, err := events.ParseTasks(" MANAGE, DEVELOP ,MANAGE")
	if err != nil || strings.Join(got, ",") != "MANAGE,DEVELOP" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "MANAGE,", "OWNER", "manage"} {
		if _, err := events.ParseTasks(bad); err == nil {
			t.Errorf("ParseTasks(%q) accepted", bad)
		}
	}
}

func TestRawEvent(t *testing.T) {
	t.Parallel()
	if got := string(events.RawEvent([]byte(`{"waba_id":"1"}`))); got != `{"waba_id":"1"}` {
		t.Errorf("JSON kept as JSON: got %s", got)
	}
	if got := string(events.RawEvent([]byte("not json"))); got != `"not json"` {
		t.Errorf("text kept as a string: got %s", got)
	}
	if got := events.RawEvent([]byte("\xff\xfe")); !json.Valid(got) {
		t.Errorf("invalid UTF-8 must still give JSON: %q", got)
	}
	f := events.Failed{Event: events.RawEvent([]byte("not json"))}
	if string(f.Replayable()) != "not json" {
		t.Errorf("Replayable of text = %q", f.Replayable())
	}
	f = events.Failed{Event: events.RawEvent([]byte(`{"waba_id":"1"}`))}
	if string(f.Replayable()) != `{"waba_id":"1"}` {
		t.Errorf("Replayable of JSON = %q", f.Replayable())
	}
}

// Results encode to documents their schemas accept.
func TestResultsMatchSchemas(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 1, 0, time.UTC)
	ok := events.Succeeded{EventID: "e", WabaID: "1", SystemUserID: "2", Tasks: []string{"MANAGE"}, HeldTasks: []string{"MANAGE"}, Attempts: 1, CompletedAt: now}
	b, _ := json.Marshal(ok)
	if err := schemas.Validate(schemas.Succeeded, b); err != nil {
		t.Errorf("succeeded: %v\n%s", err, b)
	}
	code, sub := 100, 33
	for _, f := range []events.Failed{
		{EventID: "e", WabaID: "1", SystemUserID: "2", Tasks: []string{"MANAGE"}, Attempts: 3, FailedAt: now,
			Error: events.Failure{Kind: events.KindPermanent, Message: "m", GraphCode: &code, GraphSubcode: &sub, FBTraceID: "x"},
			Event: events.RawEvent([]byte(`{"waba_id":"1"}`))},
		{EventID: "seq-1", Attempts: 1, FailedAt: now, Error: events.Failure{Kind: events.KindInvalidEvent, Message: "m"},
			Event: events.RawEvent([]byte(`garbage`))},
	} {
		b, _ := json.Marshal(f)
		if err := schemas.Validate(schemas.Failed, b); err != nil {
			t.Errorf("failed: %v\n%s", err, b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range corpus {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := events.Decode(data)
		if err == nil {
			if !events.IsGraphID(ev.WabaID) {
				t.Fatalf("accepted waba_id %q", ev.WabaID)
			}
			for _, task := range ev.Tasks {
				if !events.ValidTask(task) {
					t.Fatalf("accepted task %q", task)
				}
			}
			// What the code accepts, the schema accepts.
			if serr := schemas.Validate(schemas.Shared, data); serr != nil {
				t.Fatalf("Decode accepted %q, schema rejects: %v", data, serr)
			}
		}
		raw := events.RawEvent(data)
		if !json.Valid(raw) {
			t.Fatalf("RawEvent(%q) is not JSON", data)
		}
	})
}

// A failed event carries its input byte for byte, whitespace included, so a
// replay republishes exactly what was received.
func TestFailedKeepsTheInputVerbatim(t *testing.T) {
	t.Parallel()
	in := []byte("{\"waba_id\": \"12ab\",\n  \"note\": \"kept as is\"}")
	b, err := events.Failed{EventID: "e", Attempts: 1, Error: events.Failure{Kind: events.KindInvalidEvent, Message: "m"}, Event: events.RawEvent(in)}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) || !strings.Contains(string(b), string(in)) {
		t.Fatalf("encoded failed event %s does not hold the input verbatim", b)
	}
	var back events.Failed
	if err := json.Unmarshal(b, &back); err != nil || string(back.Replayable()) != string(in) {
		t.Fatalf("round trip: %q, %v", back.Replayable(), err)
	}
}
