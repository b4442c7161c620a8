package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// DuplicateWindow is the stream's duplicate window when the worker creates
// it: a result republished after a crash (same Nats-Msg-Id) within it is
// dropped by JetStream. README ("NATS JetStream") asks for at least 10
// minutes; an hour also covers a worker that stays down for a while before
// redelivery.
const DuplicateWindow = time.Hour

// StreamConfig is the stream the worker creates when it is missing.
func StreamConfig(t wabatype.Topology) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.Stream,
		Description: "waba-worker: shared WABAs in, assignment results out",
		Subjects:    t.Subjects(),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  DuplicateWindow,
	}
}

// ConsumerConfig is the durable pull consumer the worker creates or
// updates: it takes both inputs (Topology.Inputs).
func ConsumerConfig(t wabatype.Topology, concurrency, maxDeliver int, ackWait time.Duration) jetstream.ConsumerConfig {
	return consumerConfig(t, t.Inputs(), concurrency, maxDeliver, ackWait)
}

// consumerConfig is ConsumerConfig taking only inputs (those of
// Topology.Inputs that the stream captures).
func consumerConfig(t wabatype.Topology, inputs []string, concurrency, maxDeliver int, ackWait time.Duration) jetstream.ConsumerConfig {
	c := jetstream.ConsumerConfig{
		Durable:       t.Consumer,
		Description:   "waba-worker: assigns the system user to shared WABAs",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
		// Several replicas share the consumer, so leave room above one
		// process's concurrency.
		MaxAckPending: max(1024, 4*concurrency),
	}
	if len(inputs) == 1 {
		c.FilterSubject = inputs[0]
	} else {
		c.FilterSubjects = inputs
	}
	return c
}

// MinDuplicateWindow is the shortest duplicate window with which a
// redelivered event cannot publish its result twice in practice.
const MinDuplicateWindow = 10 * time.Minute

// StreamCheck is what EnsureStream found wrong with an existing stream (it
// never changes a stream it did not create): subjects without which the
// worker cannot bind (MissingRequired, with an error), and lesser faults it
// can work with.
type StreamCheck struct {
	// MissingRequired are the subjects the stream must capture and does
	// not (waba.shared, a result subject): the worker cannot work with it,
	// CheckStream errs, and readiness fails naming them.
	MissingRequired []string
	// MissingInputs are input subjects the stream does not capture (e.g.
	// waba.unshared on a stream made before the worker took it): the
	// consumer takes the others, and readiness fails naming them.
	MissingInputs []string
	// Warnings are one line each: a missing input, a duplicate window under
	// MinDuplicateWindow, memory storage.
	Warnings []string
}

// Missing are all the subjects the stream should capture and does not.
func (c StreamCheck) Missing() []string {
	return append(slices.Clone(c.MissingRequired), c.MissingInputs...)
}

// Inputs are the input subjects of t that the stream captures.
func (c StreamCheck) Inputs(t wabatype.Topology) []string {
	var in []string
	for _, s := range t.Inputs() {
		if !slices.Contains(c.MissingInputs, s) {
			in = append(in, s)
		}
	}
	return in
}

// EnsureStream returns the stream, creating it when it is missing; see
// EnsureStreamCheck.
func EnsureStream(ctx context.Context, js jetstream.JetStream, t wabatype.Topology) (jetstream.Stream, error) {
	s, _, err := EnsureStreamCheck(ctx, js, t)
	return s, err
}

// EnsureStreamCheck returns the stream, creating it when it is missing, and
// what is wrong with it. An existing stream is never changed: when it does not
// capture waba.shared or a result subject an error says so (results are
// published to this stream, and the input is acked only after their
// PubAck); lesser faults are reported in the StreamCheck.
func EnsureStreamCheck(ctx context.Context, js jetstream.JetStream, t wabatype.Topology) (jetstream.Stream, StreamCheck, error) {
	s, err := js.Stream(ctx, t.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, StreamConfig(t))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, t.Stream) // another replica won the race
		}
	}
	if err != nil {
		return nil, StreamCheck{}, fmt.Errorf("stream %s: %w", t.Stream, err)
	}
	check, err := CheckStream(s.CachedInfo().Config, t)
	return s, check, err
}

// CheckStream judges an existing stream's configuration against t. When the
// stream lacks a subject the worker must have, the error names every one
// and the StreamCheck lists them (MissingRequired).
func CheckStream(cfg jetstream.StreamConfig, t wabatype.Topology) (StreamCheck, error) {
	var c StreamCheck
	for _, want := range []string{t.Subject, t.SucceededSubject, t.FailedSubject} {
		if !captures(cfg.Subjects, want) {
			c.MissingRequired = append(c.MissingRequired, want)
		}
	}
	if len(c.MissingRequired) > 0 {
		return c, fmt.Errorf("stream %s exists but does not capture subject %s (its subjects: %v); the worker never changes an existing stream", cfg.Name, strings.Join(c.MissingRequired, ", "), cfg.Subjects)
	}
	if !captures(cfg.Subjects, t.UnsharedSubject) {
		c.MissingInputs = append(c.MissingInputs, t.UnsharedSubject)
		c.Warnings = append(c.Warnings, fmt.Sprintf("stream %s does not capture %s (its subjects: %v): share removals are not consumed; add the subject to the stream (the worker never changes an existing stream)", cfg.Name, t.UnsharedSubject, cfg.Subjects))
	}
	if cfg.Duplicates < MinDuplicateWindow {
		c.Warnings = append(c.Warnings, fmt.Sprintf("stream %s has a duplicate window of %s, under %s: a result republished after a crash may be stored twice; raise it (the worker never changes an existing stream)", cfg.Name, cfg.Duplicates, MinDuplicateWindow))
	}
	if cfg.Storage == jetstream.MemoryStorage {
		c.Warnings = append(c.Warnings, fmt.Sprintf("stream %s is stored in memory: events and results are lost when the server restarts; use file storage (the worker never changes an existing stream)", cfg.Name))
	}
	return c, nil
}

// captures reports whether one of the stream's subjects matches subject.
func captures(streamSubjects []string, subject string) bool {
	if slices.Contains(streamSubjects, subject) {
		return true
	}
	for _, s := range streamSubjects {
		if subjectMatches(s, subject) {
			return true
		}
	}
	return false
}

// subjectMatches reports whether the literal subject matches pattern, which
// may hold * and > wildcards.
func subjectMatches(pattern, subject string) bool {
	p, s := splitTokens(pattern), splitTokens(subject)
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

func splitTokens(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
