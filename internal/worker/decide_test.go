package worker

import (
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// The mapping from the handler's vocabulary to JetStream's.
func TestDecide(t *testing.T) {
	t.Parallel()
	failed := func(kind string) *events.Failed { return &events.Failed{Error: events.Failure{Kind: kind}} }
	cases := []struct {
		name    string
		out     wabatype.Outcome
		publish bool
		act     ackAction
		delay   time.Duration
	}{
		{"done", wabatype.Outcome{Verdict: wabatype.Done, Succeeded: &events.Succeeded{}}, true, actAck, 0},
		{"permanent", wabatype.Outcome{Verdict: wabatype.Failed, Failed: failed(events.KindPermanent)}, true, actAck, 0},
		{"verification failed", wabatype.Outcome{Verdict: wabatype.Failed, Failed: failed(events.KindVerificationFailed)}, true, actAck, 0},
		{"retries exhausted", wabatype.Outcome{Verdict: wabatype.Failed, Failed: failed(events.KindRetriesExhausted)}, true, actAck, 0},
		{"invalid event", wabatype.Outcome{Verdict: wabatype.Failed, Failed: failed(events.KindInvalidEvent)}, true, actTerm, 0},
		{"retry later", wabatype.Outcome{Verdict: wabatype.RetryLater, Delay: 30 * time.Second}, false, actNak, 30 * time.Second},
		{"stopping", wabatype.Outcome{Verdict: wabatype.RetryLater}, false, actNak, 0},
		{"breaker open", wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseBreaker, Delay: time.Minute}, false, actNak, time.Minute},
		{"credentials", wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseCredentials, Delay: 5 * time.Second}, false, actNak, 5 * time.Second},
		{"unknown verdict", wabatype.Outcome{}, false, actNak, 0},
	}
	for _, c := range cases {
		publish, act, delay := decide(c.out)
		if publish != c.publish || act != c.act || delay != c.delay {
			t.Errorf("%s: decide = (%v, %v, %v), want (%v, %v, %v)", c.name, publish, act, delay, c.publish, c.act, c.delay)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"waba.shared", "waba.shared", true},
		{"waba.*", "waba.shared", true},
		{"waba.>", "waba.assignment.failed", true},
		{"waba.*", "waba.assignment.failed", false},
		{">", "waba.shared", true},
		{"waba.shared", "waba.shared.x", false},
		{"waba.shared.x", "waba.shared", false},
	}
	for _, c := range cases {
		if got := subjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}
