package wabatype

import (
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
)

// Message is one delivery of a waba.shared message, as the consumer hands
// it to the handler.
type Message struct {
	Subject    string // waba.shared or waba.unshared (Topology's names)
	Data       []byte
	MsgID      string // the Nats-Msg-Id header, if any
	StreamSeq  uint64
	Delivery   int // 1 for the first delivery
	MaxDeliver int // the last delivery allowed; <= 0 means no limit
}

// Last reports whether this is the last delivery JetStream will make.
func (m Message) Last() bool { return m.MaxDeliver > 0 && m.Delivery >= m.MaxDeliver }

// Verdict is what should become of one delivery of an event.
type Verdict int

const (
	// Done: publish Succeeded, then ack.
	Done Verdict = iota + 1
	// Failed: publish Failed, then ack; an invalid event is terminated instead.
	Failed
	// RetryLater: nak with Delay; the event comes back later.
	RetryLater
	// Paused: Graph cannot be worked with right now (breaker open, token
	// rejected). Intake must pause until Reason clears; the event is not the
	// cause and must not be failed. Nak with Delay, or hold it.
	Paused
	// Recorded: nothing to publish (a share that ended, waba.unshared):
	// record it, then ack.
	Recorded
)

func (v Verdict) String() string {
	switch v {
	case Done:
		return "done"
	case Failed:
		return "failed"
	case Recorded:
		return "recorded"
	case RetryLater:
		return "retry_later"
	case Paused:
		return "paused"
	}
	return "unknown"
}

// PauseReason says why intake must pause.
type PauseReason int

const (
	NoPause PauseReason = iota
	// PauseBreaker: the circuit breaker is open.
	PauseBreaker
	// PauseCredentials: Graph rejected a token.
	PauseCredentials
)

func (r PauseReason) String() string {
	switch r {
	case PauseBreaker:
		return "breaker_open"
	case PauseCredentials:
		return "credentials_rejected"
	}
	return "none"
}

// Outcome is the handler's whole answer about one delivery.
type Outcome struct {
	Verdict   Verdict
	Succeeded *events.Succeeded // with Done
	Failed    *events.Failed    // with Failed
	Unshared  *events.Unshared  // with Recorded
	Delay     time.Duration     // with RetryLater and Paused
	Reason    PauseReason       // with Paused
	Err       error             // the cause, for logs (never holds a secret)

	// EventID is the event's id; WabaID its WABA when that is a Graph id
	// (not for an invalid event's). Set on every outcome, for logs and
	// traces, so nothing downstream decodes the input again.
	EventID, WabaID string
}

// Terminate reports whether the input must be terminated rather than acked:
// an invalid event will never become valid.
func (o Outcome) Terminate() bool {
	return o.Verdict == Failed && o.Failed != nil && o.Failed.Error.Kind == events.KindInvalidEvent
}
