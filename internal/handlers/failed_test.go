package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// The failed events the assigner builds for inputs other tools choke on
// (SPEC: failed events are always readable) encode to valid UTF-8 JSON, at
// most 101 levels deep, whose event_base64 is the exact input, whether the
// input was invalid or Graph refused it.
func TestFailedEventsOfUnreadableInputs(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, c := range []struct {
		name, in, kind string
	}{
		{"invalid UTF-8", "{\"waba_id\":\"1\",\"source\":\"caf\xe9\"}", events.KindInvalidEvent},
		{"overlong UTF-8", "{\"waba_id\":\"1\",\"source\":\"\xc0\xb1\"}", events.KindInvalidEvent},
		{"10,000 levels deep", deep(10000), events.KindInvalidEvent},
		// Valid, so Graph is asked; the WABA is not shared: 100/33, permanent.
		{"valid but 10,000 levels deep", `{"id":"evt-deep","waba_id":"90","x":` + deep(9999) + `}`, events.KindPermanent},
	} {
		out := b.assigner.Handle(t.Context(), wabatype.Message{Data: []byte(c.in), StreamSeq: 7, Delivery: 1, MaxDeliver: 10})
		if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != c.kind {
			t.Errorf("%s: got %v %+v, want a failed event of kind %s", c.name, out.Verdict, out.Failed, c.kind)
			continue
		}
		doc, err := out.Failed.Encode()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !utf8.Valid(doc) || !json.Valid(doc) {
			t.Errorf("%s: the failed event is not valid UTF-8 JSON", c.name)
		}
		if depth := jsonDepth(t, doc); depth > events.MaxEventDepth+1 {
			t.Errorf("%s: the failed event nests %d levels", c.name, depth)
		}
		back, err := events.DecodeFailed(doc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(back.EventBase64, []byte(c.in)) || !bytes.Equal(back.Replayable(), []byte(c.in)) {
			t.Errorf("%s: event_base64 does not give back the input", c.name)
		}
	}
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
