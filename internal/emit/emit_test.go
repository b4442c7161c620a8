package emit_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/wabaworker/waba-worker/internal/emit"
	"github.com/wabaworker/waba-worker/internal/events"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	ev, payload, err := emit.Encode(events.Shared{WabaID: "102290129340398"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^evt-[0-9a-f]{20}$`).MatchString(ev.ID) {
		t.Errorf("generated id %q", ev.ID)
	}
	if got, want := string(payload), `{"id":"`+ev.ID+`","waba_id":"102290129340398"}`; got != want {
		t.Errorf("payload %s, want %s", got, want)
	}
	if ev2, _, _ := emit.Encode(events.Shared{WabaID: "1"}); ev2.ID == ev.ID {
		t.Error("two generated ids are equal")
	}
	var inv *events.InvalidError
	if _, _, err := emit.Encode(events.Shared{WabaID: "1", OccurredAt: "yesterday"}); !errors.As(err, &inv) {
		t.Errorf("bad occurred_at: %v, want an *events.InvalidError", err)
	}
}
