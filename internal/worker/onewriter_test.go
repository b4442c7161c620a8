package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// fakeLocker is a Locker over an in-memory set of held keys; a test can hold
// a key "elsewhere" with hold and free it with free.
type fakeLocker struct {
	mu       sync.Mutex
	held     map[string]chan struct{} // closed when the key is freed
	acquired atomic.Int32
}

func newFakeLocker() *fakeLocker { return &fakeLocker{held: map[string]chan struct{}{}} }

func (l *fakeLocker) hold(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[key] = make(chan struct{})
}

func (l *fakeLocker) free(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.held[key]; ok {
		close(ch)
		delete(l.held, key)
	}
}

func (l *fakeLocker) Acquire(ctx context.Context, key string) (Lease, error) {
	for {
		l.mu.Lock()
		ch, busy := l.held[key]
		if !busy {
			l.held[key] = make(chan struct{})
			l.mu.Unlock()
			l.acquired.Add(1)
			return newFakeLease(l, key), nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type fakeLease struct {
	l    *fakeLocker
	key  string
	lost context.Context // done when lost
	lose context.CancelFunc
	once sync.Once
}

func newFakeLease(l *fakeLocker, key string) *fakeLease {
	ls := &fakeLease{l: l, key: key}
	ls.lost, ls.lose = context.WithCancel(context.Background())
	return ls
}

func (ls *fakeLease) OnLost(f func()) func() bool { return context.AfterFunc(ls.lost, f) }
func (ls *fakeLease) Release(context.Context) error {
	ls.once.Do(func() { ls.l.free(ls.key) })
	return nil
}

// keyOf keys fake messages by their event id's WABA: "w1-..." is WABA w1.
func keyOf(m wabatype.Message) string {
	id := eventID(m)
	for i := range len(id) {
		if id[i] == '-' {
			return id[:i]
		}
	}
	return id
}

// Deliveries of one WABA run one after the other, in arrival order, and
// those waiting hold no slot: with one slot, a delivery of another WABA
// still gets through while two wait behind the first.
func TestDeliveriesOfOneWABARunOneAtATime(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	var order []string
	h := &fakeHandler{key: keyOf, handle: func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		id := eventID(m)
		if keyOf(m) == "w1" {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				old := maxRunning.Load()
				if n <= old || maxRunning.CompareAndSwap(old, n) {
					break
				}
			}
			if id == "w1-a" {
				<-release
			}
		}
		mu.Lock()
		order = append(order, id)
		mu.Unlock()
		return done(m)
	}}
	obs := &parkObserver{}
	b := setup(t, h, Config{Concurrency: 2, Observer: obs})
	msgs := map[string]*fakeMsg{}
	for _, id := range []string{"w1-a", "w1-b", "w1-c", "w2-a"} {
		msgs[id] = newMsg(id, 1)
	}
	var wg sync.WaitGroup
	start := func(id string) { wg.Go(func() { b.w.process(t.Context(), t.Context(), msgs[id], nil) }) }
	start("w1-a")
	eventually(t, "w1-a to be handled", func() bool { return running.Load() == 1 })
	start("w1-b")
	eventually(t, "one parked", func() bool { return b.w.Status().Parked == 1 })
	start("w1-c")
	eventually(t, "two parked", func() bool { return b.w.Status().Parked == 2 })
	start("w2-a")
	eventually(t, "w2-a to finish while w1 waits", func() bool { return len(msgs["w2-a"].actions()) == 1 })
	if got := msgs["w1-b"].actions(); len(got) != 0 {
		t.Fatalf("w1-b settled %v while w1-a runs", got)
	}
	close(release)
	wg.Wait()
	if maxRunning.Load() != 1 {
		t.Errorf("%d deliveries of w1 ran at once", maxRunning.Load())
	}
	want := []string{"w2-a", "w1-a", "w1-b", "w1-c"}
	if !slices.Equal(order, want) {
		t.Errorf("handled in order %v, want %v", order, want)
	}
	for id, m := range msgs {
		if got := m.actions(); !slices.Equal(got, []string{"ack"}) {
			t.Errorf("%s: actions %v", id, got)
		}
	}
	if st := b.w.Status(); st.Parked != 0 || len(b.w.keys) != 0 {
		t.Errorf("after the run: %d parked, %d keys busy", st.Parked, len(b.w.keys))
	}
	if n := obs.parked.Load(); n != 2 {
		t.Errorf("the observer was told of %d parked deliveries taken up, want 2 (w1-b, w1-c)", n)
	}
}

// parkObserver counts the parked deliveries it is told of.
type parkObserver struct{ parked atomic.Int32 }

func (*parkObserver) EventStarted()                                 {}
func (*parkObserver) EventFinished(wabatype.Outcome, time.Duration) {}
func (o *parkObserver) EventParked(time.Duration)                   { o.parked.Add(1) }

// A parked delivery is kept in progress, so its AckWait does not run out.
func TestParkedDeliveryIsKeptInProgress(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := &fakeHandler{key: keyOf, handle: func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		if eventID(m) == "w1-a" {
			<-release
		}
		return done(m)
	}}
	b := setup(t, h, Config{Concurrency: 2, AckWait: 300 * time.Millisecond})
	first, second := newMsg("w1-a", 1), newMsg("w1-b", 1)
	var wg sync.WaitGroup
	wg.Go(func() { b.w.process(t.Context(), t.Context(), first, nil) })
	eventually(t, "first handled", func() bool { return b.h.handled.Load() == 1 })
	wg.Go(func() { b.w.process(t.Context(), t.Context(), second, nil) })
	eventually(t, "the parked delivery kept in progress", func() bool { return second.inProg.Load() >= 2 })
	close(release)
	wg.Wait()
	if got := second.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
}

// Parked deliveries are given back at a stop, not worked.
func TestParkedDeliveriesAreNakedAtStop(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := &fakeHandler{key: keyOf, handle: func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		if eventID(m) == "w1-a" {
			<-release
		}
		return done(m)
	}}
	b := setup(t, h, Config{Concurrency: 2})
	intake, stop := context.WithCancel(t.Context())
	first, second := newMsg("w1-a", 1), newMsg("w1-b", 1)
	var wg sync.WaitGroup
	wg.Go(func() { b.w.process(intake, t.Context(), first, nil) })
	eventually(t, "first handled", func() bool { return b.h.handled.Load() == 1 })
	wg.Go(func() { b.w.process(intake, t.Context(), second, nil) })
	eventually(t, "second parked", func() bool { return b.w.Status().Parked == 1 })
	stop()
	close(release)
	wg.Wait()
	if got := first.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("first: %v, want it finished", got)
	}
	if got := second.actions(); !slices.Equal(got, []string{"nak " + b.w.cfg.FetchWait.String()}) {
		t.Errorf("second: %v, want it given back after FetchWait", got)
	}
}

// A delivery whose WABA is leased elsewhere waits, kept in progress, and is
// handled once the lease is free; one that waits longer than LeaseWait is
// nak'd with LeaseRetryDelay, without being handled.
func TestDeliveryWaitsForTheLease(t *testing.T) {
	t.Parallel()
	locks := newFakeLocker()
	h := &fakeHandler{key: keyOf}
	b := setup(t, h, Config{Locker: locks, AckWait: 300 * time.Millisecond, LeaseWait: time.Minute, LeaseRetryDelay: 7 * time.Second})
	locks.hold("w1")
	m := newMsg("w1-a", 1)
	var wg sync.WaitGroup
	wg.Go(func() { b.w.process(t.Context(), t.Context(), m, nil) })
	eventually(t, "kept in progress while waiting", func() bool { return m.inProg.Load() >= 2 })
	if h.handled.Load() != 0 || len(m.actions()) != 0 {
		t.Fatalf("handled or settled while the WABA is held elsewhere: %v", m.actions())
	}
	locks.free("w1")
	wg.Wait()
	if got := m.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
	locks.mu.Lock()
	_, still := locks.held["w1"]
	locks.mu.Unlock()
	if still {
		t.Error("the lease was not released")
	}

	b2 := setup(t, &fakeHandler{key: keyOf}, Config{Locker: locks, LeaseWait: 50 * time.Millisecond, LeaseRetryDelay: 7 * time.Second})
	locks.hold("w2")
	m2 := newMsg("w2-a", 1)
	b2.w.process(t.Context(), t.Context(), m2, nil)
	if got := m2.actions(); !slices.Equal(got, []string{"nak 7s"}) {
		t.Errorf("after LeaseWait: actions %v, want [nak 7s]", got)
	}
	if b2.h.handled.Load() != 0 {
		t.Error("handled without the lease")
	}
}

// A lease lost mid-work cancels the work, which gives the event back.
func TestLostLeaseCancelsTheWork(t *testing.T) {
	t.Parallel()
	lost := make(chan struct{})
	h := &fakeHandler{key: keyOf, handle: func(ctx context.Context, m wabatype.Message) wabatype.Outcome {
		close(lost)
		<-ctx.Done()
		return wabatype.Outcome{Verdict: wabatype.RetryLater, Err: ctx.Err()}
	}}
	locks := &lossyLocker{}
	b := setup(t, h, Config{Locker: locks})
	m := newMsg("w1-a", 1)
	go func() { <-lost; locks.lose() }()
	b.w.process(t.Context(), t.Context(), m, nil)
	if got := m.actions(); !slices.Equal(got, []string{"nak 0s"}) {
		t.Errorf("actions %v", got)
	}
}

type lossyLocker struct {
	mu sync.Mutex
	ls *fakeLease
}

func (l *lossyLocker) Acquire(context.Context, string) (Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls = newFakeLease(newFakeLocker(), "")
	return l.ls, nil
}

func (l *lossyLocker) lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls.lose()
}

// recorder records what the Recorder is told, and when: after the result's
// PubAck, before the ack.
type recorder struct {
	mu   sync.Mutex
	outs []wabatype.Outcome
	b    *testBundle
	msg  *fakeMsg
	seen []string // the result subjects stored, and the message's actions, at each call
}

func (r *recorder) Record(_ context.Context, out wabatype.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outs = append(r.outs, out)
	state := "no-result"
	if r.b.result(wabatype.DefaultSucceededSubject) != nil {
		state = "result-stored"
	}
	r.seen = append(r.seen, state, "acts="+string(rune('0'+len(r.msg.actions()))))
}

func TestRecorderRunsAfterThePubAckAndBeforeTheAck(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	b := setup(t, &fakeHandler{key: keyOf}, Config{Recorder: rec})
	rec.b, rec.msg = b, newMsg("w1-a", 1)
	b.w.process(t.Context(), t.Context(), rec.msg, nil)
	if want := []string{"result-stored", "acts=0"}; !slices.Equal(rec.seen, want) {
		t.Errorf("recorder saw %v, want %v", rec.seen, want)
	}
	if got := rec.msg.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
}

// A Recorded outcome (waba.unshared) publishes nothing, is recorded and
// acked; a RetryLater is not recorded.
func TestRecordedOutcomePublishesNothing(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	verdict := wabatype.Recorded
	h := &fakeHandler{key: keyOf, handle: func(_ context.Context, m wabatype.Message) wabatype.Outcome {
		return wabatype.Outcome{Verdict: verdict, EventID: eventID(m), WabaID: "1", Unshared: &events.Unshared{WabaID: "1"},
			Err: errors.New("later")}
	}}
	b := setup(t, h, Config{Recorder: rec})
	rec.b, rec.msg = b, newMsg("w1-u", 1)
	b.w.process(t.Context(), t.Context(), rec.msg, nil)
	if got := rec.msg.actions(); !slices.Equal(got, []string{"ack"}) {
		t.Errorf("actions %v", got)
	}
	if b.result(wabatype.DefaultSucceededSubject) != nil || b.result(wabatype.DefaultFailedSubject) != nil {
		t.Error("a result was published for a Recorded outcome")
	}
	if len(rec.outs) != 1 || rec.outs[0].Unshared == nil {
		t.Fatalf("recorded %+v", rec.outs)
	}
	verdict = wabatype.RetryLater
	rec.msg = newMsg("w1-v", 1)
	b.w.process(t.Context(), t.Context(), rec.msg, nil)
	if len(rec.outs) != 1 {
		t.Errorf("a RetryLater was recorded")
	}
}

func TestCheckStream(t *testing.T) {
	t.Parallel()
	topo := wabatype.Topology{}.WithDefaults()
	good := StreamConfig(topo)
	if c, err := CheckStream(good, topo); err != nil || len(c.Warnings) != 0 || len(c.MissingInputs) != 0 {
		t.Errorf("the worker's own stream: %+v, %v", c, err)
	}
	old := good
	old.Subjects = []string{"waba.shared", "waba.assignment.>"}
	old.Duplicates = 2 * time.Minute
	old.Storage = 1 // memory
	c, err := CheckStream(old, topo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.MissingInputs, []string{"waba.unshared"}) || len(c.Warnings) != 3 {
		t.Errorf("check %+v", c)
	}
	if in := c.Inputs(topo); !slices.Equal(in, []string{"waba.shared"}) {
		t.Errorf("inputs %v", in)
	}
	noResults := good
	noResults.Subjects = []string{"waba.shared", "waba.unshared"}
	c, err = CheckStream(noResults, topo)
	if err == nil {
		t.Error("a stream without the result subjects: no error")
	}
	if want := []string{topo.SucceededSubject, topo.FailedSubject}; !slices.Equal(c.MissingRequired, want) || !slices.Equal(c.Missing(), want) {
		t.Errorf("missing %v (all: %v), want %v", c.MissingRequired, c.Missing(), want)
	}
}

// Many deliveries of a few WABAs never wedge the intake. A delivery that
// waits for room to park holds an intake token; the one working its WABA
// takes up the next parked delivery without needing a token of its own, so
// the tokens and the room cannot wait on each other. With one token, room
// for one parked delivery and eight events of one WABA, a worker that asked
// for a token to take up a parked delivery lost it to the puller, whose next
// message waited for room that only the taker frees.
func TestManyDeliveriesOfOneWABAKeepFlowing(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeHandler{key: keyOf}, Config{Concurrency: 1, Prefetch: -1, MaxParked: 1, FetchWait: 100 * time.Millisecond})
	const n = 8
	for i := range n {
		b.publish("w1-" + string(rune('a'+i)))
	}
	b.run()
	eventually(t, "every event acked", func() bool {
		info := b.consumerInfo()
		return info != nil && info.AckFloor.Consumer == n && info.NumAckPending == 0
	})
	if got := b.h.handled.Load(); got != n {
		t.Errorf("handled %d events, want %d", got, n)
	}
}
