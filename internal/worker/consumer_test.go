package worker

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// processOne runs one fake delivery through the worker, with intake open.
func (b *testBundle) processOne(m *fakeMsg) {
	b.t.Helper()
	b.w.process(b.t.Context(), b.t.Context(), m, nil)
}

func TestNewNeedsJetStreamAndHandler(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, &fakeHandler{}, Config{}); err == nil {
		t.Error("New without JetStream: no error")
	}
	if _, err := New(nil, nil, Config{}); err == nil {
		t.Error("New without a Handler: no error")
	}
}

func TestZeroConfigIsDefaultConfig(t *testing.T) {
	t.Parallel()
	got, want := Config{}.withDefaults(), DefaultConfig()
	got.Logger, got.Observer, got.TracerProvider = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config{}.withDefaults() = %+v\nDefaultConfig() = %+v", got, want)
	}
}

func TestDonePublishesThenAcks(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{})
	m := newMsg("evt-1", 1)
	b.processOne(m)
	if got := m.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v, want [ack]", got)
	}
	r := b.result(wabatype.DefaultSucceededSubject)
	if r == nil || r.Header.Get(jetstream.MsgIDHeader) != "evt-1.succeeded" {
		t.Fatalf("succeeded result %+v", r)
	}
	if b.result(wabatype.DefaultFailedSubject) != nil {
		t.Error("a failed result too")
	}
}

func TestReplayedInputGetsResultIDsOfItsOwn(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{})
	m := newMsg("evt-r", 1)
	m.header.Set(wabatype.HeaderReplayOf, "42")
	b.processOne(m)
	if r := b.result(wabatype.DefaultSucceededSubject); r == nil || r.Header.Get(jetstream.MsgIDHeader) != "evt-r.replay.42.succeeded" {
		t.Fatalf("result %+v", r)
	}
}

func TestInvalidEventIsPublishedThenTerminated(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{handle: func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		return wabatype.Outcome{Verdict: wabatype.Failed, EventID: "evt-bad", Failed: &events.Failed{EventID: "evt-bad",
			Event: events.RawEvent(m.Data), Error: events.Failure{Kind: events.KindInvalidEvent, Message: strings.Repeat("x", 300)}}}
	}}
	b := setup(t, h, Config{})
	m := newMsg("evt-bad", 1)
	b.processOne(m)
	acts := m.actions()
	if len(acts) != 1 || !strings.HasPrefix(acts[0], "term invalid_event: xxx") || len(acts[0]) > len("term ")+210 {
		t.Errorf("actions %v, want one clipped term", acts)
	}
	if r := b.result(wabatype.DefaultFailedSubject); r == nil || r.Header.Get(jetstream.MsgIDHeader) != "evt-bad.failed" {
		t.Fatalf("failed result %+v", r)
	}
}

func TestRetryLaterNaksWithoutResult(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{handle: func(context.Context, wabatype.Message) wabatype.Outcome {
		return wabatype.Outcome{Verdict: wabatype.RetryLater, Delay: 30 * time.Second}
	}}
	b := setup(t, h, Config{})
	m := newMsg("evt-2", 1)
	b.processOne(m)
	if got := m.actions(); !slices.Equal(got, []string{"nak 30s"}) {
		t.Errorf("actions %v", got)
	}
	if b.result(wabatype.DefaultSucceededSubject) != nil || b.result(wabatype.DefaultFailedSubject) != nil {
		t.Error("a result was published for a retry")
	}
}

func TestMessageWithoutMetadataIsTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{})
	m := newMsg("evt-3", 1)
	m.meta = nil
	b.processOne(m)
	if got := m.actions(); !slices.Equal(got, []string{"term no JetStream metadata"}) || b.h.handled.Load() != 0 {
		t.Errorf("actions %v, handled %d", got, b.h.handled.Load())
	}
}

func TestMessageAfterTheStopIsGivenBack(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{})
	intake, cancel := context.WithCancel(t.Context())
	cancel()
	m := newMsg("evt-4", 1)
	b.w.process(intake, t.Context(), m, nil)
	// With a delay: a pull of this process still open must not get it back.
	if got := m.actions(); !slices.Equal(got, []string{"nak " + b.w.cfg.FetchWait.String()}) || b.h.handled.Load() != 0 {
		t.Errorf("actions %v, handled %d", got, b.h.handled.Load())
	}
}

// A result that cannot be published before the work ends gives the input
// back, without a delay, instead of acking it.
func TestUnpublishedResultNaks(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{Topology: wabatype.Topology{Stream: "OTHER"}}) // results go to a stream that is not there
	if err := b.js.DeleteStream(t.Context(), "OTHER"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	m := newMsg("evt-5", 1)
	b.w.process(t.Context(), ctx, m, nil)
	if got := m.actions(); !slices.Equal(got, []string{"nak 0s"}) {
		t.Errorf("actions %v, want [nak 0s]", got)
	}
}

func TestKeepAliveWhileWorking(t *testing.T) {
	t.Parallel()
	var m *fakeMsg
	h := &fakeHandler{handle: func(ctx context.Context, msg wabatype.Message) wabatype.Outcome {
		for m.inProg.Load() < 2 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		return done(msg)
	}}
	b := setup(t, h, Config{AckWait: 300 * time.Millisecond}) // InProgress every 100ms
	m = newMsg("evt-6", 1)
	b.processOne(m)
	if n := m.inProg.Load(); n < 2 {
		t.Errorf("InProgress %d times", n)
	}
	if got := m.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
}

func TestPauseBeforeTheLastDeliveryNaksWithDelay(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{handle: func(context.Context, wabatype.Message) wabatype.Outcome {
		return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseBreaker, Delay: time.Minute, Err: errors.New("open")}
	}}
	b := setup(t, h, Config{MaxDeliver: 10})
	m := newMsg("evt-7", 9)
	b.processOne(m)
	if got := m.actions(); !slices.Equal(got, []string{"nak 1m0s"}) {
		t.Errorf("actions %v", got)
	}
	if st := b.w.Status(); st.Paused != wabatype.PauseBreaker || st.PausedSince.IsZero() {
		t.Errorf("status %+v, want paused for the breaker", st)
	}
}

// The last delivery is held through a pause and handled again once a probe
// says work may resume: an outage does not use up the event.
func TestLastDeliveryIsHeldUntilResumed(t *testing.T) {
	t.Parallel()
	var tokenOK atomic.Bool
	h := &fakeHandler{}
	h.handle = func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		if !tokenOK.Load() {
			return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseCredentials, Delay: 30 * time.Second}
		}
		return done(m)
	}
	h.probe = func(context.Context) (wabatype.PauseReason, error) {
		if !tokenOK.Load() {
			return wabatype.PauseCredentials, errors.New("token rejected")
		}
		return wabatype.NoPause, nil
	}
	b := setup(t, h, Config{MaxDeliver: 3, ProbeInterval: 10 * time.Millisecond})
	go b.w.supervise(t.Context())
	m := newMsg("evt-8", 3)
	finished := make(chan struct{})
	go func() { b.processOne(m); close(finished) }()
	eventually(t, "two failed probes", func() bool { return h.probes.Load() >= 2 })
	if st := b.w.Status(); st.Paused != wabatype.PauseCredentials {
		t.Errorf("status %+v while the token is rejected", st)
	}
	if got := m.actions(); len(got) != 0 {
		t.Fatalf("the held delivery was settled: %v", got)
	}
	tokenOK.Store(true)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the held delivery was never handled again")
	}
	if got := m.actions(); !slices.Equal(got, []string{"ack"}) || h.handled.Load() != 2 {
		t.Errorf("actions %v after %d calls", got, h.handled.Load())
	}
	if st := b.w.Status(); st.Paused != wabatype.NoPause {
		t.Errorf("still paused: %+v", st)
	}
}

// A breaker that opens again after every successful probe: after MaxHolds
// holds the consumer gives up on the last delivery.
func TestHeldTooOftenGivesUp(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{handle: func(context.Context, wabatype.Message) wabatype.Outcome {
		return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseBreaker, Delay: time.Minute, Err: errors.New("circuit breaker is open")}
	}}
	b := setup(t, h, Config{MaxDeliver: 3, MaxHolds: 2, ProbeInterval: 10 * time.Millisecond})
	go b.w.supervise(t.Context())
	m := newMsg("evt-9", 3)
	b.processOne(m)
	if got := m.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
	if h.handled.Load() != 3 || h.givenUp.Load() != 1 {
		t.Errorf("handled %d times, given up %d times; want 3 and 1", h.handled.Load(), h.givenUp.Load())
	}
	r := b.result(wabatype.DefaultFailedSubject)
	if r == nil || !strings.Contains(string(r.Data), events.KindRetriesExhausted) {
		t.Fatalf("failed result %+v", r)
	}
}

// A stop ends a hold: the held delivery is given back.
func TestStopEndsAHold(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{
		handle: func(context.Context, wabatype.Message) wabatype.Outcome {
			return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseCredentials, Delay: 5 * time.Second}
		},
	}
	b := setup(t, h, Config{MaxDeliver: 1})
	intake, cancel := context.WithCancel(t.Context())
	m := newMsg("evt-10", 1)
	go b.w.process(intake, t.Context(), m, nil)
	eventually(t, "the pause", func() bool { return b.w.Status().Paused == wabatype.PauseCredentials })
	cancel()
	settled(t, m)
	if got := m.actions(); !slices.Equal(got, []string{"nak 5s"}) {
		t.Errorf("actions %v", got)
	}
}
