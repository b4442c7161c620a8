package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// ConsumerConfig is the durable pull consumer the worker creates or updates.
func ConsumerConfig(t wabatype.Topology, concurrency, maxDeliver int, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       t.Consumer,
		Description:   "waba-worker: assigns the system user to shared WABAs",
		FilterSubject: t.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
		// Several replicas share the consumer, so leave room above one
		// process's concurrency.
		MaxAckPending: max(1024, 4*concurrency),
	}
}

// EnsureStream returns the stream, creating it when it is missing. An
// existing stream is never changed; when it does not capture the input and
// result subjects an error says so (results are published to this stream,
// and the input is acked only after their PubAck).
func EnsureStream(ctx context.Context, js jetstream.JetStream, t wabatype.Topology) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, t.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, StreamConfig(t))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, t.Stream) // another replica won the race
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.Stream, err)
	}
	subj := s.CachedInfo().Config.Subjects
	for _, want := range t.Subjects() {
		if !captures(subj, want) {
			return nil, fmt.Errorf("stream %s exists but does not capture subject %s (its subjects: %v); the worker never changes an existing stream", t.Stream, want, subj)
		}
	}
	return s, nil
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
