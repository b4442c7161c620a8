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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
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
func Publish(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, id string, payload []byte) (*jetstream.PubAck, error) {
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

// Wait follows the result subjects of topo's stream from stream sequence
// fromSeq (the input's: a result always comes after its input) until a
// result for eventID arrives or ctx ends. Because it reads the stream, a
// result published before Wait starts is found too.
func Wait(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, eventID string, fromSeq uint64) (wabatype.Result, error) {
	topo = topo.WithDefaults()
	cons, err := js.OrderedConsumer(ctx, topo.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.SucceededSubject, topo.FailedSubject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(fromSeq, 1),
	})
	if err != nil {
		return wabatype.Result{}, fmt.Errorf("follow results in stream %s: %w", topo.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return wabatype.Result{}, fmt.Errorf("follow results in stream %s: %w", topo.Stream, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return wabatype.Result{}, fmt.Errorf("wait for the result of %s: %w", eventID, ctx.Err())
			}
			return wabatype.Result{}, fmt.Errorf("wait for the result of %s: %w", eventID, err)
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
		return wabatype.DecodeResult(topo, msg.Subject(), seq, msg.Data())
	}
}
