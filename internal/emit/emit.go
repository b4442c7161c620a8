// Package emit publishes one waba.shared event, as `worker emit` does, and
// follows the result subjects until the worker has answered for it.
package emit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// NewID returns a fresh event id: "evt-" and 20 random hex digits.
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "evt-" + hex.EncodeToString(b[:])
}

// Encode returns the waba.shared payload of ev, giving it a fresh id when it
// has none. It refuses, with an *events.InvalidError, what the worker would
// fail as invalid_event.
func Encode(ev events.Shared) (events.Shared, []byte, error) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return ev, nil, fmt.Errorf("encode event: %w", err)
	}
	if _, err := events.Decode(payload); err != nil {
		return ev, nil, err
	}
	return ev, payload, nil
}

// Publish publishes payload, the waba.shared event id, on topo's input
// subject with Nats-Msg-Id id, and waits for the stream's ack. A duplicate
// (the id was published within the stream's duplicate window) is not an
// error: the ack says Duplicate and carries the first message's sequence.
func Publish(ctx context.Context, js jetstream.JetStream, topo worker.Topology, id string, payload []byte) (*jetstream.PubAck, error) {
	topo = topo.WithDefaults()
	msg := &nats.Msg{Subject: topo.Subject, Data: payload, Header: nats.Header{}}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(topo.Stream))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("publish %s on %s: no stream takes the subject (start the worker once: it creates stream %s): %w",
				id, topo.Subject, topo.Stream, err)
		}
		return nil, fmt.Errorf("publish %s on %s: %w", id, topo.Subject, err)
	}
	return ack, nil
}

// Result is the worker's answer for one event: exactly one of Succeeded and
// Failed is set. Data is the event as published.
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
func DecodeResult(topo worker.Topology, subject string, seq uint64, data []byte) (Result, error) {
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

// Wait follows the result subjects of topo's stream from stream sequence
// fromSeq (the input's: a result always comes after its input) until a
// result for eventID arrives or ctx ends. Because it reads the stream, a
// result published before Wait starts is found too.
func Wait(ctx context.Context, js jetstream.JetStream, topo worker.Topology, eventID string, fromSeq uint64) (Result, error) {
	topo = topo.WithDefaults()
	cons, err := js.OrderedConsumer(ctx, topo.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.SucceededSubject, topo.FailedSubject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(fromSeq, 1),
	})
	if err != nil {
		return Result{}, fmt.Errorf("follow results in stream %s: %w", topo.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return Result{}, fmt.Errorf("follow results in stream %s: %w", topo.Stream, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, fmt.Errorf("wait for the result of %s: %w", eventID, ctx.Err())
			}
			return Result{}, fmt.Errorf("wait for the result of %s: %w", eventID, err)
		}
		var head struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(msg.Data(), &head) != nil || head.EventID != eventID {
			continue
		}
		var seq uint64
		if meta, err := msg.Metadata(); err == nil {
			seq = meta.Sequence.Stream
		}
		return DecodeResult(topo, msg.Subject(), seq, msg.Data())
	}
}
