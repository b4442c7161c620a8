package wabatype_test

import (
	"testing"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	code, sub, zero := 100, 33, 0
	tests := []struct {
		f    events.Failure
		want string
	}{
		{events.Failure{Kind: "permanent", Message: "gone", GraphCode: &code, GraphSubcode: &sub, FBTraceID: "AbC"},
			"permanent (Graph code 100, subcode 33, fbtrace_id AbC): gone"},
		{events.Failure{Kind: "permanent", Message: "(#200) no", GraphCode: &code, GraphSubcode: &zero}, "permanent (Graph code 100): (#200) no"},
		{events.Failure{Kind: "invalid_event", Message: "waba_id is required"}, "invalid_event: waba_id is required"},
	}
	for _, tt := range tests {
		if got := wabatype.Describe(tt.f); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
