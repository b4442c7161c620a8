package events_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/schemas"
)

var unsharedCorpus = []struct {
	name  string
	doc   string
	valid bool
}{
	{"gateway, with waba_info", `{"id": "wh-6f1d0c2a9b8e7d6c5b4a39281706f5e4", "waba_id": "980198427658004", "business_id": "2949482758682047", "owner_business_id": "2329417887457253", "reason": "PARTNER_REMOVED", "source": "webhook", "occurred_at": "2025-04-16T17:18:52Z"}`, true},
	{"gateway, without waba_info", `{"id": "wh-1", "waba_id": "102290129340398", "reason": "ACCOUNT_DELETED", "source": "webhook", "occurred_at": "2025-03-31T20:11:43Z"}`, true},
	{"only waba_id", `{"waba_id": "1"}`, true},
	{"unknown reason and fields", `{"waba_id": "1", "reason": "SOMETHING_NEW", "extra": [1]}`, true},
	{"missing waba_id", `{"reason": "PARTNER_REMOVED"}`, false},
	{"number waba_id", `{"waba_id": 1}`, false},
	{"letters", `{"waba_id": "1a"}`, false},
	{"bad owner", `{"waba_id": "1", "owner_business_id": "x"}`, false},
	{"bad business", `{"waba_id": "1", "business_id": ""}`, false},
	{"bad id", `{"waba_id": "1", "id": "a b"}`, false},
	{"bad time", `{"waba_id": "1", "occurred_at": "1744823932"}`, false},
	{"number reason", `{"waba_id": "1", "reason": 3}`, false},
	{"not an object", `[]`, false},
	{"null", `null`, false},
}

func TestDecodeUnshared(t *testing.T) {
	t.Parallel()
	for _, c := range unsharedCorpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.DecodeUnshared([]byte(c.doc))
			var ie *events.InvalidError
			switch {
			case c.valid && err != nil:
				t.Fatalf("DecodeUnshared(%s) = %v, want valid", c.doc, err)
			case !c.valid && (!errors.As(err, &ie) || ie.Reason == ""):
				t.Fatalf("DecodeUnshared(%s) = %v, want an *InvalidError", c.doc, err)
			}
			if json.Valid([]byte(c.doc)) {
				serr := schemas.Validate(schemas.Unshared, []byte(c.doc))
				if (serr == nil) != c.valid {
					t.Fatalf("schema says %v, code says valid=%v for %s", serr, c.valid, c.doc)
				}
			}
		})
	}
}

// What the gateway encodes, the worker decodes and the schema accepts.
func TestUnsharedRoundTrip(t *testing.T) {
	t.Parallel()
	in := events.Unshared{ID: "wh-1", WabaID: "980198427658004", BusinessID: "2949482758682047",
		OwnerBusinessID: "2329417887457253", Reason: events.ReasonPartnerRemoved, Source: "webhook",
		OccurredAt: "2025-04-16T17:18:52Z"}
	b, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.Unshared, b); err != nil {
		t.Fatalf("schema: %v\n%s", err, b)
	}
	out, err := events.DecodeUnshared(b)
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
}

// A shared event with owner_business_id (as the gateway publishes it) is a
// valid waba.shared input.
func TestSharedWithOwner(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(events.Shared{ID: "wh-1", WabaID: "980198427658004", BusinessID: "2949482758682047",
		OwnerBusinessID: "2329417887457253", Source: "webhook", OccurredAt: "2025-04-16T17:18:52Z"})
	if _, err := events.Decode(b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := schemas.Validate(schemas.Shared, b); err != nil {
		t.Fatalf("schema: %v", err)
	}
}
