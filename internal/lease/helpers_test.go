package lease_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/natstest"
)

// Renewals stop on Release, waits stop their watches: nothing outlives the
// tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const bucket = "waba_locks"

// testBundle is one NATS server with a lock bucket; each process() is a
// separate connection to it, as a separate worker process would have.
type testBundle struct {
	t   testing.TB
	srv *natstest.Server
	ttl time.Duration
}

func setup(t testing.TB, ttl time.Duration) *testBundle {
	t.Helper()
	return setupBucket(t, lease.BucketConfig(bucket, ttl, 1))
}

func setupBucket(t testing.TB, cfg jetstream.KeyValueConfig) *testBundle {
	t.Helper()
	b := &testBundle{t: t, srv: natstest.Start(t), ttl: cfg.TTL}
	_, js := b.srv.Connect()
	if _, err := js.CreateKeyValue(context.Background(), cfg); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return b
}

// process is one connection's view of the bucket.
type process struct {
	nc *nats.Conn
	kv jetstream.KeyValue
}

func (b *testBundle) process() process {
	b.t.Helper()
	nc, js := b.srv.Connect()
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		b.t.Fatalf("bind bucket: %v", err)
	}
	return process{nc: nc, kv: kv}
}

// locker is a Locker of a new process with the bundle's TTL and fast polls.
func (b *testBundle) locker(owner string, tune ...func(*lease.Options)) (*lease.Locker, process) {
	b.t.Helper()
	p := b.process()
	o := lease.Options{Owner: owner, TTL: b.ttl, PollInitial: 20 * time.Millisecond, PollMax: 200 * time.Millisecond}
	for _, f := range tune {
		f(&o)
	}
	return lease.New(p.kv, o), p
}

func acquire(t testing.TB, l *lease.Locker, key string) *lease.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls, err := l.Acquire(ctx, key)
	if err != nil {
		t.Fatalf("acquire %s: %v", key, err)
	}
	return ls
}

func release(t testing.TB, ls *lease.Lease) {
	t.Helper()
	if err := ls.Release(context.Background()); err != nil {
		t.Errorf("release %s: %v", ls.Key(), err)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedWithin reports whether ch closes within d.
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// countingKV is the real bucket with its calls counted: how many Creates,
// Watches and Gets, and the most Creates in flight at once.
type countingKV struct {
	jetstream.KeyValue
	creates, watches, gets, updates atomic.Int64

	mu               sync.Mutex
	inFlight, maxFly int
}

func (c *countingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	c.creates.Add(1)
	c.mu.Lock()
	c.inFlight++
	c.maxFly = max(c.maxFly, c.inFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	return c.KeyValue.Create(ctx, key, value, opts...)
}

func (c *countingKV) Watch(ctx context.Context, keys string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	c.watches.Add(1)
	return c.KeyValue.Watch(ctx, keys, opts...)
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets.Add(1)
	return c.KeyValue.Get(ctx, key)
}

func (c *countingKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	c.updates.Add(1)
	return c.KeyValue.Update(ctx, key, value, rev)
}

func (c *countingKV) maxInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxFly
}

// observer records the Observer's calls.
type observer struct {
	mu    sync.Mutex
	waits []wait
}

type wait struct {
	d         time.Duration
	contended bool
}

func (o *observer) Waited(d time.Duration, contended bool) {
	o.mu.Lock()
	o.waits = append(o.waits, wait{d, contended})
	o.mu.Unlock()
}

func (o *observer) all() []wait {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]wait(nil), o.waits...)
}

// lostReplyKV is the real bucket whose next Creates or Updates are written
// but answered with a timeout, as when the reply is lost on the way back.
type lostReplyKV struct {
	jetstream.KeyValue
	loseCreates, loseUpdates atomic.Int32
}

func (k *lostReplyKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := k.KeyValue.Create(ctx, key, value, opts...)
	if err == nil && k.loseCreates.Add(-1) >= 0 {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (k *lostReplyKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := k.KeyValue.Update(ctx, key, value, rev)
	if err == nil && k.loseUpdates.Add(-1) >= 0 {
		return 0, nats.ErrTimeout
	}
	return n, err
}
