package lease_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/lease"
)

const waba = "102290129340398"

func TestBucketConfig(t *testing.T) {
	t.Parallel()
	cfg := lease.BucketConfig("waba_locks", 15*time.Second, 3)
	if cfg.Bucket != "waba_locks" || cfg.TTL != 15*time.Second || cfg.Replicas != 3 ||
		cfg.History != 1 || cfg.Storage != jetstream.FileStorage || cfg.LimitMarkerTTL != 15*time.Second {
		t.Errorf("config = %+v", cfg)
	}
	if got := lease.BucketConfig("b", 200*time.Millisecond, 1).LimitMarkerTTL; got != time.Second {
		t.Errorf("LimitMarkerTTL for a 200ms TTL = %s, want the server's minimum 1s", got)
	}

	// The server takes it, and Verify agrees with a Locker of the same TTL only.
	b := setup(t, 2*time.Second)
	p := b.process()
	st, err := p.kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 2*time.Second || st.LimitMarkerTTL() != 2*time.Second || st.History() != 1 {
		t.Errorf("bucket: ttl %s, marker ttl %s, history %d", st.TTL(), st.LimitMarkerTTL(), st.History())
	}
	if err := lease.New(p.kv, lease.Options{TTL: 2 * time.Second}).Verify(context.Background()); err != nil {
		t.Errorf("Verify, same TTL: %v", err)
	}
	err = lease.New(p.kv, lease.Options{}).Verify(context.Background())
	if err == nil || !strings.Contains(err.Error(), "its TTL is 2s, leases need 15s") {
		t.Errorf("Verify, default TTL on a 2s bucket: %v", err)
	}
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{waba, "1", "sweep", "a-b_c=d/e.f"} {
		if err := lease.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for k, why := range map[string]string{
		"":            "empty",
		".1":          "starts or ends with a dot",
		"1.":          "starts or ends with a dot",
		"a..b":        "two dots in a row",
		"a b":         `byte " " at 1`,
		"waba*":       `byte "*" at 4`,
		"waba>":       `byte ">" at 4`,
		"caf\u00e9":   `byte "\xc3" at 3`,
		"a\nb":        `byte "\n" at 1`,
		"sweep:daily": `byte ":" at 5`,
	} {
		err := lease.ValidKey(k)
		if !errors.Is(err, lease.ErrInvalidKey) || !strings.Contains(err.Error(), why) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey saying %q", k, err, why)
		}
	}

	b := setup(t, lease.DefaultTTL)
	l, _ := b.locker("p1")
	if _, err := l.Acquire(context.Background(), "a b"); !errors.Is(err, lease.ErrInvalidKey) {
		t.Errorf("Acquire: %v", err)
	}
	if _, _, err := l.TryAcquire(context.Background(), ""); !errors.Is(err, lease.ErrInvalidKey) {
		t.Errorf("TryAcquire: %v", err)
	}
}

// Two processes (separate connections), many goroutines each, a few keys: no
// two holders of a key ever overlap, and no increment made under a lease is
// lost.
func TestMutualExclusionAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	keys := []string{"1001", "1002", "1003"}
	const perProcess, rounds = 8, 12

	var (
		inside  [3]atomic.Int32
		counter [3]atomic.Int64
		overlap atomic.Int32
		obs     observer
		wg      sync.WaitGroup
	)
	for p := range 2 {
		l, _ := b.locker(fmt.Sprintf("p%d", p), func(o *lease.Options) { o.Observer = &obs })
		for g := range perProcess {
			wg.Go(func() {
				for r := range rounds {
					k := (g + r) % len(keys)
					ls, err := l.Acquire(context.Background(), keys[k])
					if err != nil {
						t.Errorf("acquire: %v", err)
						return
					}
					if !inside[k].CompareAndSwap(0, 1) {
						overlap.Add(1)
					}
					v := counter[k].Load() // a read-modify-write that overlap would break
					runtime.Gosched()
					counter[k].Store(v + 1)
					inside[k].Store(0)
					if err := ls.Release(context.Background()); err != nil {
						t.Errorf("release: %v", err)
					}
				}
			})
		}
	}
	wg.Wait()

	if n := overlap.Load(); n != 0 {
		t.Errorf("%d times two holders were inside at once", n)
	}
	var total int64
	for k := range keys {
		total += counter[k].Load()
	}
	if want := int64(2 * perProcess * rounds); total != want {
		t.Errorf("counted %d increments, want %d (lost updates mean overlapping holders)", total, want)
	}
	contended := 0
	for _, w := range obs.all() {
		if w.contended {
			contended++
		}
	}
	if len(obs.all()) != 2*perProcess*rounds || contended == 0 {
		t.Errorf("observer: %d waits, %d contended", len(obs.all()), contended)
	}
}

// Callers of one key in one process are served in order of arrival, and
// while a local caller holds the key the others do not touch the bucket.
func TestLocalQueueIsFIFO(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	p := b.process()
	kv := &countingKV{KeyValue: p.kv}
	l := lease.New(kv, lease.Options{TTL: b.ttl})

	holder := acquire(t, l, waba)
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := 1; i <= 5; i++ {
		wg.Go(func() {
			ls := acquire(t, l, waba)
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			release(t, ls)
		})
		waitFor(t, fmt.Sprintf("waiter %d queued", i), 5*time.Second, func() bool { return l.Waiting(waba) == i })
	}
	if n := kv.creates.Load(); n != 1 {
		t.Errorf("%d Creates while the key was held here, want only the holder's", n)
	}
	release(t, holder)
	wg.Wait()

	if fmt.Sprint(order) != "[1 2 3 4 5]" {
		t.Errorf("served in order %v", order)
	}
	if c, w := kv.creates.Load(), kv.watches.Load(); c != 6 || w != 0 {
		t.Errorf("%d Creates and %d Watches for 6 local turns, want 6 and 0", c, w)
	}
	if n := l.Waiting(waba); n != 0 {
		t.Errorf("%d still waiting", n)
	}
}

// While another process holds the key, only the head of the local queue
// polls and watches the bucket.
func TestOnlyTheHeadWaitsOnTheBucket(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	remote, _ := b.locker("remote")
	held := acquire(t, remote, waba)

	p := b.process()
	kv := &countingKV{KeyValue: p.kv}
	var obs observer
	l := lease.New(kv, lease.Options{Owner: "local", TTL: b.ttl, PollInitial: 5 * time.Millisecond, PollMax: 10 * time.Millisecond, Observer: &obs})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { release(t, acquire(t, l, waba)) })
	}
	waitFor(t, "4 queued and the head polling", 10*time.Second, func() bool {
		return l.Waiting(waba) == 4 && kv.creates.Load() >= 10
	})
	if n := kv.maxInFlight(); n != 1 {
		t.Errorf("%d Creates in flight at once, want 1 (the head's)", n)
	}
	if n := kv.watches.Load(); n != 1 {
		t.Errorf("%d Watches, want 1 (the head's)", n)
	}
	release(t, held)
	wg.Wait()

	if n := kv.maxInFlight(); n != 1 {
		t.Errorf("%d Creates in flight at once, want 1", n)
	}
	waits := obs.all()
	if len(waits) != 5 {
		t.Fatalf("%d waits observed", len(waits))
	}
	for _, w := range waits {
		if !w.contended {
			t.Errorf("a wait behind a held key observed as uncontended: %+v", w)
		}
	}
}

// A holder that dies (its connection closes, so its renewals stop) blocks the
// key for about TTL: another process takes it no sooner than the lease could
// have expired and within TTL plus the server's expiry tick and a poll. With
// limit markers the waiter needs no poll at all: its polls are a minute
// apart, and the expiry marker wakes it.
func TestAbandonedLeaseIsTakenAfterTTL(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	for _, c := range []struct {
		name    string
		markers bool
		poll    time.Duration
	}{
		{"expiry marker wakes the waiter", true, time.Minute},
		{"without markers polling finds it", false, 200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := lease.BucketConfig(bucket, ttl, 1)
			if !c.markers {
				cfg.LimitMarkerTTL = 0
			}
			b := setupBucket(t, cfg)
			dead, deadProc := b.locker("dead")
			ls := acquire(t, dead, waba)

			p := b.process()
			kv := &countingKV{KeyValue: p.kv}
			l := lease.New(kv, lease.Options{Owner: "heir", TTL: ttl, PollInitial: c.poll, PollMax: c.poll})
			got := make(chan *lease.Lease, 1)
			go func() {
				ls, err := l.Acquire(context.Background(), waba)
				if err != nil {
					t.Errorf("heir: %v", err)
				}
				got <- ls
			}()
			waitFor(t, "the heir watching", 5*time.Second, func() bool { return kv.watches.Load() == 1 })

			died := time.Now()
			deadProc.nc.Close() // kill -9, as far as the server can tell
			select {
			case heir := <-got:
				took := time.Since(died)
				if heir != nil {
					defer release(t, heir)
				}
				t.Logf("taken over %s after the holder died (TTL %s)", took.Round(time.Millisecond), ttl)
				if took < ttl/2 {
					t.Errorf("taken over after %s: the dead holder's last renewal was at most TTL/3 earlier", took)
				}
			case <-time.After(ttl + 4*time.Second): // generous: CI machines are busy
				e, err := p.kv.Get(context.Background(), waba)
				if err == nil {
					t.Fatalf("not taken over within TTL+4s; the key holds %s written %s ago, %d Creates", e.Value(), time.Since(e.Created()), kv.creates.Load())
				}
				t.Fatalf("not taken over within TTL+4s; the key: %v, %d Creates", err, kv.creates.Load())
			}
			if !closedWithin(ls.Lost(), 3*time.Second) {
				t.Fatal("the dead holder's lease did not report lost")
			}
			if err := ls.Err(); !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "not renewed within the TTL") {
				t.Errorf("Err = %v", err)
			}
			if err := ls.Release(context.Background()); !errors.Is(err, lease.ErrLost) {
				t.Errorf("Release of a lost lease = %v, want ErrLost", err)
			}
		})
	}
}

// A release in one process wakes the head waiting in another at once, not
// at its next poll (a minute away here).
func TestReleaseWakesRemoteWaiter(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	a, _ := b.locker("a")
	p := b.process()
	kv := &countingKV{KeyValue: p.kv}
	w := lease.New(kv, lease.Options{Owner: "b", TTL: b.ttl, PollInitial: time.Minute, PollMax: time.Minute})

	ls := acquire(t, a, waba)
	got := make(chan *lease.Lease, 1)
	go func() {
		ls, err := w.Acquire(context.Background(), waba)
		if err != nil {
			t.Errorf("b: %v", err)
		}
		got <- ls
	}()
	waitFor(t, "b watching", 5*time.Second, func() bool { return kv.watches.Load() == 1 })
	released := time.Now()
	release(t, ls)
	select {
	case ls := <-got:
		t.Logf("remote waiter woke %s after the release", time.Since(released).Round(time.Microsecond))
		if ls != nil {
			release(t, ls)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the remote waiter did not wake within 2s of the release")
	}
}

// A waiter whose context ends returns its error and leaves the queue; the
// next waiter becomes head and gets the key, locally and behind a remote
// holder.
func TestCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	for _, remoteHolder := range []bool{false, true} {
		t.Run(fmt.Sprintf("remote holder %v", remoteHolder), func(t *testing.T) {
			t.Parallel()
			b := setup(t, 5*time.Second)
			l, _ := b.locker("local")
			holderLocker := l
			if remoteHolder {
				holderLocker, _ = b.locker("remote")
			}
			held := acquire(t, holderLocker, waba)
			behind := 0
			if !remoteHolder {
				behind = 1
			}

			ctx, cancel := context.WithCancel(context.Background())
			first := make(chan error, 1)
			go func() {
				ls, err := l.Acquire(ctx, waba)
				if err == nil {
					_ = ls.Release(context.Background())
				}
				first <- err
			}()
			waitFor(t, "first waiter queued", 5*time.Second, func() bool { return l.Waiting(waba) == behind })
			second := make(chan *lease.Lease, 1)
			go func() {
				ls, err := l.Acquire(context.Background(), waba)
				if err != nil {
					t.Errorf("second: %v", err)
				}
				second <- ls
			}()
			waitFor(t, "second waiter queued", 5*time.Second, func() bool { return l.Waiting(waba) == behind+1 })

			cancel()
			select {
			case err := <-first:
				if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "lease "+waba) {
					t.Errorf("canceled Acquire = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a canceled Acquire did not return")
			}
			waitFor(t, "the canceled waiter gone", 5*time.Second, func() bool { return l.Waiting(waba) == behind })

			release(t, held)
			select {
			case ls := <-second:
				if ls != nil {
					release(t, ls)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the next waiter did not get the key")
			}
		})
	}
}

func TestAcquireDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	a, _ := b.locker("a")
	w, _ := b.locker("w")
	held := acquire(t, a, waba)
	defer release(t, held)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := w.Acquire(ctx, waba); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire past its deadline = %v", err)
	}
	if n := w.Waiting(waba); n != 0 {
		t.Errorf("%d waiting", n)
	}
}

// A lease whose key was deleted, overwritten or taken over reports it lost
// within a renewal period, and says how.
func TestLostLease(t *testing.T) {
	t.Parallel()
	const ttl = 900 * time.Millisecond
	for _, c := range []struct {
		name, why string
		steal     func(t *testing.T, b *testBundle, kv jetstream.KeyValue)
	}{
		{"deleted", "the key was deleted or expired", func(t *testing.T, _ *testBundle, kv jetstream.KeyValue) {
			if err := kv.Delete(context.Background(), waba); err != nil {
				t.Fatal(err)
			}
		}},
		{"overwritten", "the key was overwritten", func(t *testing.T, _ *testBundle, kv jetstream.KeyValue) {
			if _, err := kv.PutString(context.Background(), waba, "operator was here"); err != nil {
				t.Fatal(err)
			}
		}},
		{"taken over", "now held by thief", func(t *testing.T, b *testBundle, kv jetstream.KeyValue) {
			if err := kv.Purge(context.Background(), waba); err != nil {
				t.Fatal(err)
			}
			thief, _ := b.locker("thief")
			ls, ok, err := thief.TryAcquire(context.Background(), waba)
			if err != nil || !ok {
				t.Fatalf("thief: %v %v", ok, err)
			}
			t.Cleanup(func() { _ = ls.Release(context.Background()) })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, ttl)
			kv := &countingKV{KeyValue: b.process().kv}
			l := lease.New(kv, lease.Options{Owner: "victim", TTL: ttl})
			ls := acquire(t, l, waba)
			told := make(chan struct{})
			ls.OnLost(func() { close(told) })
			stopped := ls.OnLost(func() { t.Error("an OnLost stopped before the loss ran") })
			if !stopped() {
				t.Error("OnLost's stop did not stop it")
			}
			c.steal(t, b, b.process().kv)

			if !closedWithin(ls.Lost(), ttl) {
				t.Fatalf("Lost not closed within %s", ttl)
			}
			if !closedWithin(told, 3*time.Second) {
				t.Error("OnLost's function did not run at the loss")
			}
			err := ls.Err()
			if !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("Err = %v, want ErrLost saying %q", err, c.why)
			}
			if err := ls.Release(context.Background()); !errors.Is(err, lease.ErrLost) {
				t.Errorf("Release = %v, want ErrLost", err)
			}
			if err := ls.Release(context.Background()); err != nil {
				t.Errorf("second Release = %v", err)
			}
			// The local turn was handed on all the same: TryAcquire asks the
			// bucket (and finds the key held, or deleted) instead of
			// answering "busy here".
			creates := kv.creates.Load()
			again, ok, err := l.TryAcquire(context.Background(), waba)
			if err != nil {
				t.Errorf("TryAcquire: %v", err)
			}
			if ok {
				release(t, again)
			}
			if kv.creates.Load() != creates+1 {
				t.Error("TryAcquire after Release did not ask the bucket: the turn was not handed on")
			}
			if l.Waiting(waba) != 0 {
				t.Errorf("%d waiting", l.Waiting(waba))
			}
		})
	}
}

// Renewals keep a lease for many TTLs: every Update restarts the entry's age
// under the bucket's TTL, which Update has no per-key option for.
func TestRenewalOutlivesTTL(t *testing.T) {
	t.Parallel()
	const ttl = 1500 * time.Millisecond
	b := setup(t, ttl)
	p := b.process()
	kv := &countingKV{KeyValue: p.kv}
	l := lease.New(kv, lease.Options{Owner: "holder", TTL: ttl})
	other, _ := b.locker("other")

	ls := acquire(t, l, waba)
	until := time.Now().Add(7 * ttl / 2)
	for time.Now().Before(until) {
		select {
		case <-ls.Lost():
			t.Fatalf("lost: %v", ls.Err())
		case <-time.After(100 * time.Millisecond):
		}
		got, ok, err := other.TryAcquire(context.Background(), waba)
		if err != nil || ok {
			_ = got.Release(context.Background())
			t.Fatalf("another process took a renewed lease: %v %v", ok, err)
		}
	}
	if n := kv.updates.Load(); n < 8 {
		t.Errorf("%d renewals in 3.5 TTLs, want about 10 (every TTL/3)", n)
	}
	release(t, ls)
	got, ok, err := other.TryAcquire(context.Background(), waba)
	if err != nil || !ok {
		t.Fatalf("TryAcquire after release: %v %v", ok, err)
	}
	release(t, got)
}

// A broker restart shorter than the TTL does not lose a lease: failed
// renewals are retried, and one lands after the restart.
func TestRenewalSurvivesBrokerRestart(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	b := setup(t, ttl)
	l, _ := b.locker("holder")
	ls := acquire(t, l, waba)

	b.srv.Restart()
	restarted := time.Now()
	check := b.process()
	waitFor(t, "a renewal after the restart", 2*ttl, func() bool {
		e, err := check.kv.Get(context.Background(), waba)
		return err == nil && e.Created().After(restarted)
	})
	select {
	case <-ls.Lost():
		t.Fatalf("lost across a short restart: %v", ls.Err())
	default:
	}
	release(t, ls)
}

func TestTryAcquire(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	p := b.process()
	kv := &countingKV{KeyValue: p.kv}
	var obs observer
	l := lease.New(kv, lease.Options{TTL: b.ttl, Observer: &obs})
	remote, _ := b.locker("remote")

	ls, ok, err := l.TryAcquire(context.Background(), "sweep")
	if err != nil || !ok {
		t.Fatalf("TryAcquire a free key: %v %v", ok, err)
	}
	if _, ok, err := l.TryAcquire(context.Background(), "sweep"); err != nil || ok {
		t.Errorf("TryAcquire a key held here: %v %v", ok, err)
	}
	if n := kv.creates.Load(); n != 1 {
		t.Errorf("%d Creates: a key held here needs no bucket call", n)
	}
	start := time.Now()
	if _, ok, err := remote.TryAcquire(context.Background(), "sweep"); err != nil || ok {
		t.Errorf("TryAcquire a key held elsewhere: %v %v", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("TryAcquire waited %s", d)
	}
	release(t, ls)
	ls2, ok, err := remote.TryAcquire(context.Background(), "sweep")
	if err != nil || !ok {
		t.Fatalf("TryAcquire after release: %v %v", ok, err)
	}
	release(t, ls2)
	if n := len(obs.all()); n != 0 {
		t.Errorf("TryAcquire reported %d waits", n)
	}
}

func TestObserverUncontended(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	var obs observer
	l, _ := b.locker("p", func(o *lease.Options) { o.Observer = &obs })
	release(t, acquire(t, l, waba))
	waits := obs.all()
	if len(waits) != 1 || waits[0].contended || waits[0].d <= 0 {
		t.Errorf("waits = %+v", waits)
	}
}

// The value names the holder, for `nats kv get`.
func TestValueNamesOwner(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Second)
	l, p := b.locker("")
	if !strings.Contains(l.Owner(), ":") {
		t.Errorf("default owner %q", l.Owner())
	}
	ls := acquire(t, l, waba)
	defer release(t, ls)
	e, err := p.kv.Get(context.Background(), waba)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Value()), `"owner":"`+l.Owner()+`"`) {
		t.Errorf("value %s", e.Value())
	}
}

// The cost of an uncontended lease against an in-process server. "same key":
// the key was released a moment ago, so its delete marker is there and
// nats.go's Create takes three round trips (a failed create, a get, an update
// at the marker's revision) plus the Delete; "new key": one Create and the
// Delete, as for a WABA seen for the first time in a TTL.
func BenchmarkAcquireRelease(b *testing.B) {
	tb := setup(b, lease.DefaultTTL)
	l, _ := tb.locker("bench")
	ctx := context.Background()
	run := func(b *testing.B, key func(i int) string) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ls, err := l.Acquire(ctx, key(i))
			if err != nil {
				b.Fatal(err)
			}
			if err := ls.Release(ctx); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("same key", func(b *testing.B) { run(b, func(int) string { return waba }) })
	b.Run("new key", func(b *testing.B) {
		base := time.Now().UnixNano()
		run(b, func(i int) string { return strconv.FormatInt(base+int64(i), 10) })
	})
}

// A write whose reply was lost is recognised by the lease's token: a Create
// that landed is taken as acquired (not waited on for a TTL), and a renewal
// that landed is not taken for a lost lease.
func TestLostReplies(t *testing.T) {
	t.Parallel()
	const ttl = 1500 * time.Millisecond
	b := setup(t, ttl)
	kv := &lostReplyKV{KeyValue: b.process().kv}
	l := lease.New(kv, lease.Options{Owner: "p", TTL: ttl, PollInitial: 10 * time.Millisecond, PollMax: 20 * time.Millisecond})
	kv.loseCreates.Store(1)
	kv.loseUpdates.Store(2)

	start := time.Now()
	ls := acquire(t, l, waba)
	if d := time.Since(start); d > ttl/2 {
		t.Errorf("took %s to find that its own Create had landed", d)
	}
	waitFor(t, "the lost renewal replies used up", 3*ttl, func() bool { return kv.loseUpdates.Load() < 0 })
	other, _ := b.locker("other")
	until := time.Now().Add(ttl)
	for time.Now().Before(until) {
		select {
		case <-ls.Lost():
			t.Fatalf("lost after a renewal whose reply was lost: %v", ls.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if got, ok, err := other.TryAcquire(context.Background(), waba); err != nil || ok {
			_ = got.Release(context.Background())
			t.Fatalf("another took it: %v %v", ok, err)
		}
	}
	release(t, ls)
}
