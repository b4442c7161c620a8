package sweep_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

const leaseTTL = time.Second

// runBundle is a NATS server with the lock and ledger buckets; each replica
// is a connection of its own, as a separate worker process would have.
type runBundle struct {
	t   *testing.T
	srv *natstest.Server
	kv  jetstream.KeyValue // the ledger bucket, on the test's connection

	mu     sync.Mutex
	sweeps []sweepRecord
}

type sweepRecord struct {
	who        string
	start, end time.Time
	err        error
}

func setupRun(t *testing.T) *runBundle {
	t.Helper()
	b := &runBundle{t: t, srv: natstest.Start(t)}
	_, js := b.srv.Connect()
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, lease.BucketConfig(lockBucket, leaseTTL, 1)); err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, ledger.BucketConfig(stateBucket, 1))
	if err != nil {
		t.Fatal(err)
	}
	b.kv = kv
	return b
}

// replica is one process running sweep.Run.
type replica struct {
	name   string
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
	turns  chan sweep.Turn
}

// start runs sweep.Run as replica name with interval every; sweepFn is its
// sweep (nil: one that takes 20ms and succeeds).
func (b *runBundle) start(name string, every time.Duration, sweepFn func(ctx context.Context) error) *replica {
	b.t.Helper()
	nc, js := b.srv.Connect()
	ctx := context.Background()
	locks, err := js.KeyValue(ctx, lockBucket)
	if err != nil {
		b.t.Fatal(err)
	}
	marks, err := js.KeyValue(ctx, stateBucket)
	if err != nil {
		b.t.Fatal(err)
	}
	if sweepFn == nil {
		sweepFn = func(ctx context.Context) error { time.Sleep(20 * time.Millisecond); return nil }
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &replica{name: name, nc: nc, cancel: cancel, done: make(chan struct{}), turns: make(chan sweep.Turn, 1000)}
	cfg := sweep.RunConfig{
		Every:      every,
		Locker:     lease.New(locks, lease.Options{Owner: name, TTL: leaseTTL}),
		Marks:      marks,
		FirstDelay: 10 * time.Millisecond,
		BusyRetry:  50 * time.Millisecond,
		Sweep: func(ctx context.Context) error {
			rec := sweepRecord{who: name, start: time.Now()}
			err := sweepFn(ctx)
			rec.end, rec.err = time.Now(), err
			b.mu.Lock()
			b.sweeps = append(b.sweeps, rec)
			b.mu.Unlock()
			return err
		},
		Observer: func(t sweep.Turn) {
			select {
			case r.turns <- t:
			default:
			}
		},
	}
	go func() {
		defer close(r.done)
		if err := sweep.Run(rctx, cfg); err != nil {
			b.t.Errorf("Run %s: %v", name, err)
		}
	}()
	b.t.Cleanup(r.stop)
	return r
}

// stop ends the replica's Run and waits for it (bounded).
func (r *replica) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		panic("Run of " + r.name + " did not return within 10s of its context ending")
	}
}

func (b *runBundle) records() []sweepRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sweepRecord(nil), b.sweeps...)
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two replicas with a short interval sweep once per interval between them,
// never twice in one, and the mark names the last sweep.
func TestRunSweepsOncePerIntervalAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	const every = 300 * time.Millisecond
	start := time.Now()
	a := b.start("a", every, nil)
	c := b.start("b", every, nil)
	waitFor(t, "6 sweeps", 10*time.Second, func() bool { return len(b.records()) >= 6 })
	a.stop()
	c.stop()
	elapsed := time.Since(start)

	recs := b.records()
	by := map[string]int{}
	for _, r := range recs {
		by[r.who]++
	}
	t.Logf("%d sweeps in %v: %v", len(recs), elapsed, by)
	if most := int(elapsed/every) + 1; len(recs) > most {
		t.Errorf("%d sweeps in %v, want at most %d (one per %v)", len(recs), elapsed, most, every)
	}
	for i := 1; i < len(recs); i++ {
		if gap := recs[i].start.Sub(recs[i-1].start); gap < every-10*time.Millisecond {
			t.Errorf("sweep %d (%s) started %v after sweep %d (%s), within one interval", i, recs[i].who, gap, i-1, recs[i-1].who)
		}
		if recs[i].start.Before(recs[i-1].end) {
			t.Errorf("sweeps %d and %d overlap", i-1, i)
		}
	}
	m, ok, err := sweep.LastSweep(context.Background(), b.kv)
	last := recs[len(recs)-1]
	if err != nil || !ok || m.Owner != last.who || m.StartedAt.Sub(last.start).Abs() > time.Millisecond {
		t.Errorf("mark %+v, %v, %v; last sweep %+v", m, ok, err, last)
	}
}

// A replica killed mid-sweep (its connection gone, so no release and no
// mark) leaves the next sweep to the other, once its lease has expired.
func TestRunHandsOverWhenTheSweeperDies(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	started := make(chan string, 2)
	hang := func(name string) func(context.Context) error {
		first := true
		return func(ctx context.Context) error {
			if first { // the first sweep of each replica hangs until it is killed
				first = false
				started <- name
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
	}
	reps := map[string]*replica{}
	reps["a"] = b.start("a", time.Hour, hang("a"))
	reps["b"] = b.start("b", time.Hour, hang("b"))

	var victim string
	select {
	case victim = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep started")
	}
	killed := time.Now()
	reps[victim].nc.Close() // as kill -9: the lease is neither released nor renewed
	reps[victim].stop()

	// The survivor's first sweep hangs too: it started, so it took over.
	var survivor string
	select {
	case survivor = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the other replica did not take over")
	}
	took := time.Since(killed)
	if survivor == victim {
		t.Fatalf("%s swept again after being killed", victim)
	}
	// It waited for the lease to expire (TTL after the last renewal, which
	// came at most TTL/3 before the kill), not for a release.
	if took < leaseTTL/2 {
		t.Errorf("took over after %v: the dead replica's lease was released?", took)
	}
	if _, ok, _ := sweep.LastSweep(context.Background(), b.kv); ok {
		t.Error("a mark was written though no sweep succeeded")
	}
}

// A replica stopped gracefully mid-sweep releases the lease: the other takes
// over at its next turn, without waiting for the TTL. A failed sweep writes
// no mark and is tried again.
func TestRunGracefulStopAndFailure(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	started := make(chan string, 4)
	var mu sync.Mutex
	calls := 0
	fn := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			started <- name
			switch n {
			case 1:
				<-ctx.Done() // stopped gracefully
				return ctx.Err()
			case 2:
				return errors.New("graph down")
			}
			return nil
		}
	}
	reps := map[string]*replica{"a": b.start("a", time.Hour, fn("a")), "b": b.start("b", time.Hour, fn("b"))}
	first := <-started
	stopped := time.Now()
	reps[first].stop()
	var second string
	select {
	case second = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no takeover")
	}
	if second == first || time.Since(stopped) > leaseTTL/2 {
		t.Errorf("takeover by %s after %v; want the other, before the TTL", second, time.Since(stopped))
	}
	// Sweep 2 failed: no mark; it is retried (FailedRetry = min(Every, 5m)
	// is long here, so look at the turn instead).
	r := reps[second]
	var tn sweep.Turn
	waitFor(t, "the failed turn", 10*time.Second, func() bool {
		select {
		case tn = <-r.turns:
		default:
		}
		return tn.Outcome == sweep.TurnFailed
	})
	if tn.Err == nil || time.Until(tn.Next) < 4*time.Minute {
		t.Errorf("failed turn %+v: want the error and a retry in about 5m", tn)
	}
	if _, ok, _ := sweep.LastSweep(context.Background(), b.kv); ok {
		t.Error("a failed sweep wrote a mark")
	}
}

func TestRunConfigErrors(t *testing.T) {
	t.Parallel()
	if err := sweep.Run(context.Background(), sweep.RunConfig{}); err == nil {
		t.Error("empty RunConfig accepted")
	}
}

// With FirstExact the first turn comes after exactly FirstDelay, not a
// random time up to it (worker dev shows its first sweep at a known moment).
func TestRunFirstExact(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	_, js := b.srv.Connect()
	locks, err := js.KeyValue(t.Context(), lockBucket)
	if err != nil {
		t.Fatal(err)
	}
	const first = 300 * time.Millisecond
	swept := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- sweep.Run(ctx, sweep.RunConfig{Every: time.Hour, FirstDelay: first, FirstExact: true,
			Locker: lease.New(locks, lease.Options{Owner: "dev", TTL: leaseTTL}), Marks: b.kv,
			Sweep: func(context.Context) error {
				select {
				case swept <- time.Now():
				default:
				}
				return nil
			}})
	}()
	select {
	case at := <-swept:
		if d := at.Sub(start); d < first {
			t.Errorf("first sweep %v after start, want at least %v", d, first)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep within 10s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
