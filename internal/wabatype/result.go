package wabatype

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wabaworker/waba-worker/internal/events"
)

// Result is the worker's answer for one event, read back from the stream:
// exactly one of Succeeded and Failed is set. Data is the event as
// published.
type Result struct {
	Subject   string
	Seq       uint64 // stream sequence of the result
	Data      []byte
	Succeeded *events.Succeeded
	Failed    *events.Failed
}

// OK reports whether the event succeeded.
func (r Result) OK() bool { return r.Succeeded != nil }

// Summary is one line for a person: what happened to the event.
func (r Result) Summary() string {
	if s := r.Succeeded; s != nil {
		how := "assigned"
		if s.AlreadyAssigned {
			how = "already assigned"
		}
		return fmt.Sprintf("succeeded: event %s: WABA %s %s to system user %s with tasks %s (attempts %d)",
			s.EventID, s.WabaID, how, s.SystemUserID, strings.Join(s.Tasks, ","), s.Attempts)
	}
	f := r.Failed
	return fmt.Sprintf("failed: event %s: WABA %s: %s", f.EventID, orNone(f.WabaID), Describe(f.Error))
}

// Describe says why an event failed in one line: the kind, the Graph code
// and subcode when Graph answered, the message and the trace id.
func Describe(e events.Failure) string {
	var b strings.Builder
	b.WriteString(e.Kind)
	if e.GraphCode != nil {
		fmt.Fprintf(&b, " (Graph code %d", *e.GraphCode)
		if e.GraphSubcode != nil && *e.GraphSubcode != 0 {
			fmt.Fprintf(&b, ", subcode %d", *e.GraphSubcode)
		}
		if e.FBTraceID != "" {
			fmt.Fprintf(&b, ", fbtrace_id %s", e.FBTraceID)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// DecodeResult reads a result event published on subject.
func DecodeResult(topo Topology, subject string, seq uint64, data []byte) (Result, error) {
	topo = topo.WithDefaults()
	r := Result{Subject: subject, Seq: seq, Data: data}
	switch subject {
	case topo.SucceededSubject:
		r.Succeeded = new(events.Succeeded)
		if err := json.Unmarshal(data, r.Succeeded); err != nil {
			return Result{}, fmt.Errorf("result at seq %d: %w", seq, err)
		}
	case topo.FailedSubject:
		r.Failed = new(events.Failed)
		if err := json.Unmarshal(data, r.Failed); err != nil {
			return Result{}, fmt.Errorf("result at seq %d: %w", seq, err)
		}
	default:
		return Result{}, fmt.Errorf("result at seq %d: unexpected subject %s", seq, subject)
	}
	return r, nil
}
