package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// fakeHandler is a Handler whose answers a test scripts. Unset functions
// answer Done, NoPause, NoPause and a retries_exhausted failure.
type fakeHandler struct {
	handle func(ctx context.Context, m wabatype.Message) wabatype.Outcome
	paused func() (wabatype.PauseReason, time.Duration)
	probe  func(ctx context.Context) (wabatype.PauseReason, error)
	key    func(m wabatype.Message) string // nil: no key

	handled, probes, givenUp atomic.Int32
}

func (h *fakeHandler) Handle(ctx context.Context, m wabatype.Message) wabatype.Outcome {
	h.handled.Add(1)
	if h.handle != nil {
		return h.handle(ctx, m)
	}
	return done(m)
}

func (h *fakeHandler) Key(m wabatype.Message) string {
	if h.key != nil {
		return h.key(m)
	}
	return ""
}

func (h *fakeHandler) Paused() (wabatype.PauseReason, time.Duration) {
	if h.paused != nil {
		return h.paused()
	}
	return wabatype.NoPause, 0
}

func (h *fakeHandler) Probe(ctx context.Context) (wabatype.PauseReason, error) {
	h.probes.Add(1)
	if h.probe != nil {
		return h.probe(ctx)
	}
	return wabatype.NoPause, nil
}

func (h *fakeHandler) GiveUp(m wabatype.Message, cause error) wabatype.Outcome {
	h.givenUp.Add(1)
	id := eventID(m)
	return wabatype.Outcome{Verdict: wabatype.Failed, EventID: id, Err: cause, Failed: &events.Failed{
		EventID: id, WabaID: "1", Attempts: m.Delivery, Event: events.RawEvent(m.Data),
		Error: events.Failure{Kind: events.KindRetriesExhausted, Message: cause.Error(), Retryable: true}}}
}

func eventID(m wabatype.Message) string {
	ev, _ := events.Decode(m.Data)
	return events.EventID(ev.ID, m.MsgID, m.StreamSeq)
}

// done is the Done outcome of m.
func done(m wabatype.Message) wabatype.Outcome {
	id := eventID(m)
	return wabatype.Outcome{Verdict: wabatype.Done, EventID: id, WabaID: "1",
		Succeeded: &events.Succeeded{EventID: id, WabaID: "1", SystemUserID: "2", Tasks: []string{"MANAGE"}, Attempts: m.Delivery}}
}

// fakeMsg is a jetstream.Msg that records what is done to it.
type fakeMsg struct {
	data    []byte
	header  nats.Header
	meta    *jetstream.MsgMetadata // nil: Metadata fails
	mu      sync.Mutex
	acts    []string // "ack", "nak", "nak 1s", "term <reason>"
	settled chan struct{}
	inProg  atomic.Int32
}

func newMsg(id string, delivery uint64) *fakeMsg {
	return &fakeMsg{
		data:    []byte(`{"id":"` + id + `","waba_id":"1"}`),
		header:  nats.Header{},
		meta:    &jetstream.MsgMetadata{NumDelivered: delivery, Sequence: jetstream.SequencePair{Stream: 7, Consumer: delivery}},
		settled: make(chan struct{}),
	}
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	if m.meta == nil {
		return nil, errors.New("not a JetStream message")
	}
	return m.meta, nil
}
func (m *fakeMsg) Data() []byte                       { return m.data }
func (m *fakeMsg) Headers() nats.Header               { return m.header }
func (m *fakeMsg) Subject() string                    { return "waba.shared" }
func (m *fakeMsg) Reply() string                      { return "" }
func (m *fakeMsg) Ack() error                         { return m.act("ack") }
func (m *fakeMsg) DoubleAck(context.Context) error    { return m.act("ack") }
func (m *fakeMsg) Nak() error                         { return m.act("nak") }
func (m *fakeMsg) NakWithDelay(d time.Duration) error { return m.act("nak " + d.String()) }
func (m *fakeMsg) Term() error                        { return m.act("term") }
func (m *fakeMsg) TermWithReason(r string) error      { return m.act("term " + r) }
func (m *fakeMsg) InProgress() error                  { m.inProg.Add(1); return nil }

func (m *fakeMsg) act(a string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acts = append(m.acts, a)
	if len(m.acts) == 1 {
		close(m.settled)
	}
	return nil
}

// actions returns what was done to the message.
func (m *fakeMsg) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.acts...)
}

// testBundle is a worker on a real in-process JetStream server whose stream
// exists, with a fake handler.
type testBundle struct {
	t   *testing.T
	w   *Worker
	h   *fakeHandler
	js  jetstream.JetStream
	srv *natstest.Server
}

func setup(t *testing.T, h *fakeHandler, cfg Config) *testBundle {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	if _, err := EnsureStream(t.Context(), js, cfg.Topology.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = &fakeHandler{}
	}
	w, err := New(js, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{t: t, w: w, h: h, js: js, srv: srv}
}

// run runs the worker until the test ends, or until the returned stop is
// called; stop waits for Run to return.
func (b *testBundle) run() (stop func()) {
	ctx, cancel := context.WithCancel(b.t.Context())
	done := make(chan error, 1)
	go func() { done <- b.w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					b.t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				b.t.Error("Run did not return after the stop")
			}
		})
	}
	b.t.Cleanup(stop)
	return stop
}

// publish publishes an input event with Nats-Msg-Id id.
func (b *testBundle) publish(id string) {
	b.t.Helper()
	if _, err := b.js.Publish(b.t.Context(), wabatype.DefaultSubject, []byte(`{"id":"`+id+`","waba_id":"1"}`), jetstream.WithMsgID(id)); err != nil {
		b.t.Fatal(err)
	}
}

// result returns the last message on subject, or nil when there is none.
func (b *testBundle) result(subject string) *jetstream.RawStreamMsg {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), wabatype.DefaultStream)
	if err != nil {
		b.t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(b.t.Context(), subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return m
}

// eventually waits up to 10s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settled waits for the first action on m.
func settled(t *testing.T, m *fakeMsg) {
	t.Helper()
	select {
	case <-m.settled:
	case <-time.After(10 * time.Second):
		t.Fatal("the message was never settled")
	}
}
