package worker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// consumerInfo is the durable consumer's state.
func (b *testBundle) consumerInfo() *jetstream.ConsumerInfo {
	b.t.Helper()
	c, err := b.js.Consumer(b.t.Context(), wabatype.DefaultStream, wabatype.DefaultConsumer)
	if err != nil {
		return nil
	}
	info, err := c.Info(b.t.Context())
	if err != nil {
		return nil
	}
	return info
}

func TestRunWorksEveryEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{Concurrency: 4, FetchWait: 100 * time.Millisecond})
	b.run()
	eventually(t, "the consumer bound", func() bool { return b.w.Status().ConsumerBound })
	for _, id := range []string{"evt-a", "evt-b", "evt-c", "evt-d", "evt-e", "evt-f"} {
		b.publish(id)
	}
	eventually(t, "every event acked", func() bool {
		info := b.consumerInfo()
		return info != nil && info.AckFloor.Consumer == 6 && info.NumAckPending == 0
	})
	if n := b.h.handled.Load(); n != 6 {
		t.Errorf("handled %d events, want 6", n)
	}
	// Events run concurrently, so their results come in any order: count
	// them rather than expect the last one published to be evt-f's.
	s, err := b.js.Stream(t.Context(), wabatype.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(wabatype.DefaultSucceededSubject))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[wabatype.DefaultSucceededSubject]; n != 6 {
		t.Errorf("%d succeeded results, want 6", n)
	}
}

// While the handler says work is refused, nothing is pulled; once a probe
// succeeds the event is worked.
func TestRefusedWorkStopsIntake(t *testing.T) {
	t.Parallel()
	var refused atomic.Bool
	refused.Store(true)
	var asked atomic.Int32
	h := &fakeHandler{paused: func() (wabatype.PauseReason, time.Duration) {
		asked.Add(1)
		if refused.Load() {
			return wabatype.PauseBreaker, 5 * time.Millisecond
		}
		return wabatype.NoPause, 0
	}}
	b := setup(t, h, Config{FetchWait: 100 * time.Millisecond})
	b.publish("evt-p")
	b.run()
	eventually(t, "the pause", func() bool { return b.w.Status().Paused == wabatype.PauseBreaker })
	eventually(t, "the supervisor asking", func() bool { return asked.Load() > 20 })
	if n := h.handled.Load(); n != 0 {
		t.Fatalf("handled %d events while work was refused", n)
	}
	if info := b.consumerInfo(); info != nil && info.NumAckPending != 0 {
		t.Errorf("%d messages pulled while paused", info.NumAckPending)
	}
	refused.Store(false)
	eventually(t, "the event worked", func() bool { return h.handled.Load() == 1 && b.result(wabatype.DefaultSucceededSubject) != nil })
	if st := b.w.Status(); st.Paused != wabatype.NoPause || h.probes.Load() == 0 {
		t.Errorf("status %+v after %d probes", st, h.probes.Load())
	}
}

// A stop lets work in flight finish within ShutdownTimeout; what cannot
// finish is given back at once.
func TestShutdownNaksWhatCannotFinish(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	h := &fakeHandler{handle: func(ctx context.Context, _ wabatype.Message) wabatype.Outcome {
		started <- struct{}{}
		<-ctx.Done() // the work context: cancelled after the shutdown timeout
		return wabatype.Outcome{Verdict: wabatype.RetryLater}
	}}
	b := setup(t, h, Config{ShutdownTimeout: 200 * time.Millisecond, FetchWait: 100 * time.Millisecond, AckWait: time.Hour})
	b.publish("evt-s")
	stop := b.run()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the event was never handled")
	}
	begun := time.Now()
	stop()
	if d := time.Since(begun); d > 5*time.Second {
		t.Errorf("Run took %s to return after the stop", d)
	}
	// A nak without delay: the message is ready again at once, though
	// AckWait is an hour.
	if got := b.givenBack(1); got != 1 {
		t.Errorf("the unfinished event was not given back (got %d messages)", got)
	}
}

// givenBack pulls up to n messages ready again and reports how many came,
// each of which must be its second delivery.
func (b *testBundle) givenBack(n int) int {
	b.t.Helper()
	cons, err := b.js.Consumer(b.t.Context(), wabatype.DefaultStream, wabatype.DefaultConsumer)
	if err != nil {
		b.t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		if meta, _ := m.Metadata(); meta.NumDelivered != 2 {
			b.t.Errorf("delivery %d, want 2", meta.NumDelivered)
		}
	}
	return got
}

// BindOnly waits for a consumer it may not create; a deleted consumer is
// bound again.
func TestBindOnlyWaitsAndRebinds(t *testing.T) {
	t.Parallel()
	log := &countingHandler{}
	b := setup(t, nil, Config{BindOnly: true, FetchWait: 100 * time.Millisecond, Logger: slog.New(log)})
	b.run()
	eventually(t, "a failed bind", func() bool { return log.count("cannot bind the consumer, retrying") > 0 })
	if b.w.Status().ConsumerBound {
		t.Fatal("bound to a consumer that does not exist")
	}
	cfg := DefaultConfig()
	if _, err := b.js.CreateOrUpdateConsumer(t.Context(), cfg.Stream, ConsumerConfig(cfg.Topology, cfg.Concurrency, cfg.MaxDeliver, cfg.AckWait)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the consumer bound", func() bool { return b.w.Status().ConsumerBound })
	if err := b.js.DeleteConsumer(t.Context(), cfg.Stream, cfg.Consumer); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the loss noticed", func() bool { return !b.w.Status().ConsumerBound })
	if _, err := b.js.CreateOrUpdateConsumer(t.Context(), cfg.Stream, ConsumerConfig(cfg.Topology, cfg.Concurrency, cfg.MaxDeliver, cfg.AckWait)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the consumer bound again", func() bool { return b.w.Status().ConsumerBound })
	b.publish("evt-b")
	eventually(t, "the event worked", func() bool { return b.h.handled.Load() == 1 })
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.msgs == nil {
		h.msgs = map[string]int{}
	}
	h.msgs[r.Message]++
	return nil
}

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}

func TestEnsureStreamRefusesAStreamThatMissesASubject(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{})
	if _, err := EnsureStream(t.Context(), b.js, wabatype.Topology{FailedSubject: "other.failed"}.WithDefaults()); err == nil {
		t.Error("EnsureStream accepted a stream without the failed subject")
	}
}

// blockingRecorder holds the first outcome's Record until release closes.
type blockingRecorder struct {
	once     sync.Once
	blocked  chan struct{} // closed once the first Record is waiting
	release  chan struct{}
	recorded atomic.Int32
}

func (r *blockingRecorder) Record(context.Context, wabatype.Outcome) {
	first := false
	r.once.Do(func() { first = true })
	if first {
		close(r.blocked)
		<-r.release
	}
	r.recorded.Add(1)
}

// A delivery's settling (publish, PubAck, record, ack, lease release) frees
// its slot: with one slot, the next event's Graph work runs while the first
// is still settling, and the first is acked only after its record.
func TestSettlingFreesTheSlot(t *testing.T) {
	t.Parallel()
	rec := &blockingRecorder{blocked: make(chan struct{}), release: make(chan struct{})}
	b := setup(t, nil, Config{Concurrency: 1, FetchWait: 100 * time.Millisecond, Recorder: rec})
	b.publish("evt-1")
	b.run()
	eventually(t, "the first event settling", func() bool {
		select {
		case <-rec.blocked:
			return true
		default:
			return false
		}
	})
	b.publish("evt-2")
	eventually(t, "the second event handled while the first settles", func() bool { return b.h.handled.Load() == 2 })
	if info := b.consumerInfo(); info == nil || info.AckFloor.Consumer != 0 {
		t.Errorf("acked before its record: %+v", info)
	}
	close(rec.release)
	eventually(t, "both acked", func() bool {
		info := b.consumerInfo()
		return info != nil && info.AckFloor.Consumer == 2 && info.NumAckPending == 0
	})
	if n := rec.recorded.Load(); n != 2 {
		t.Errorf("%d recorded, want 2", n)
	}
}

// With every slot busy, Prefetch more deliveries are pulled ahead, their
// lease taken, and wait for a slot: they are handled only once one frees,
// and a stop gives them back.
func TestPrefetchedDeliveriesWaitForASlotWithTheirLease(t *testing.T) {
	t.Parallel()
	locks := newFakeLocker()
	release := make(chan struct{})
	var inGraph atomic.Int32
	h := &fakeHandler{key: keyOf, handle: func(ctx context.Context, m wabatype.Message) wabatype.Outcome {
		inGraph.Add(1)
		defer inGraph.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return done(m)
	}}
	b := setup(t, h, Config{Concurrency: 1, Prefetch: 2, Locker: locks, FetchWait: 100 * time.Millisecond})
	for _, id := range []string{"w1-a", "w2-a", "w3-a", "w4-a"} {
		b.publish(id)
	}
	stop := b.run()
	eventually(t, "one in its Graph phase and two pulled ahead with their lease", func() bool {
		return h.handled.Load() == 1 && locks.acquired.Load() == 3
	})
	if st := b.w.Status(); st.InFlight != 1 {
		t.Errorf("Status().InFlight = %d, want the one slot", st.InFlight)
	}
	if info := b.consumerInfo(); info == nil || info.NumAckPending != 3 {
		t.Errorf("pulled: %+v, want 3 (1 slot + 2 ahead)", info)
	}
	close(release)
	eventually(t, "all four worked, one at a time", func() bool {
		info := b.consumerInfo()
		return info != nil && info.AckFloor.Consumer == 4 && h.handled.Load() == 4
	})
	stop()
	if n := inGraph.Load(); n != 0 {
		t.Errorf("%d in the Graph phase after the stop", n)
	}
}

// Prefetch: -1 pulls nothing ahead of the slots.
func TestNoPrefetch(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, Config{Concurrency: 4, Prefetch: -1})
	if c, s := cap(b.w.intake), cap(b.w.slots); c != 4 || s != 4 {
		t.Errorf("intake %d, slots %d; want 4 and 4", c, s)
	}
	b = setup(t, nil, Config{Concurrency: 64})
	if c := cap(b.w.intake); c != 64+8 {
		t.Errorf("intake %d, want 64 + 64/8", c)
	}
}

// A stop gives back a delivery pulled ahead and waiting for a slot (a nak
// with FetchWait's delay), and releases its lease; each event is given back
// once, not bounced through this process's own open pull.
func TestStopGivesBackWhatWaitsForASlot(t *testing.T) {
	t.Parallel()
	locks := newFakeLocker()
	h := &fakeHandler{key: keyOf, handle: func(ctx context.Context, m wabatype.Message) wabatype.Outcome {
		<-ctx.Done() // the work context: cancelled after the shutdown timeout
		return wabatype.Outcome{Verdict: wabatype.RetryLater}
	}}
	// Prefetch 3: the pull that brought both events stays open for two
	// more through the stop, as one does in production. An event given
	// back with a plain nak would come straight back into it, to be given
	// back again: delivery 3 or 4 below, not 2.
	b := setup(t, h, Config{Concurrency: 1, Prefetch: 3, Locker: locks, ShutdownTimeout: 200 * time.Millisecond,
		FetchWait: time.Second, AckWait: time.Hour})
	b.publish("w1-a")
	b.publish("w2-a")
	stop := b.run()
	eventually(t, "one handled, one waiting with its lease", func() bool {
		return h.handled.Load() == 1 && locks.acquired.Load() == 2
	})
	stop()
	if n := h.handled.Load(); n != 1 {
		t.Errorf("%d handled, want 1: the waiting one must not start after the stop", n)
	}
	locks.mu.Lock()
	held := len(locks.held)
	locks.mu.Unlock()
	if held != 0 {
		t.Errorf("%d leases still held after the stop", held)
	}
	if got := b.givenBack(2); got != 2 {
		t.Errorf("%d of 2 given back (AckWait is an hour: only a nak returns them)", got)
	}
}
