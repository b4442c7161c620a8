package lease

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultTTL is the lease TTL and the lock bucket's TTL unless configured
// otherwise. 15s: renewals run every 5s, so a lease survives a NATS blip or a
// JetStream leader election of several seconds (failed renewals are retried
// until the lease would expire), while a holder killed with kill -9 blocks its
// WABA for at most 15s, a quarter of the default AckWait (60s).
const DefaultTTL = 15 * time.Second

// DefaultBucket is the KV bucket of the leases (WORKER_LOCK_BUCKET).
const DefaultBucket = "waba_locks"

// Defaults of the polling while another process holds a key. The key's watch
// wakes a waiter on a release or expiry; polling is the fallback for a bucket
// without limit markers or a watch that missed an update.
const (
	DefaultPollInitial = 100 * time.Millisecond
	DefaultPollMax     = time.Second
)

// ErrInvalidKey is returned (wrapped, with the reason) for a key the bucket
// cannot hold.
var ErrInvalidKey = errors.New("invalid lease key")

// ErrLost is wrapped by [Lease.Err] and [Lease.Release] once a lease was lost.
var ErrLost = errors.New("lease lost")

// Observer is told about every wait, for metrics. It must not block.
type Observer interface {
	// Waited is called once per Acquire that returned a lease: d is the time
	// from the call to the lease, contended is true when it had to wait for
	// another holder (in this process or another).
	Waited(d time.Duration, contended bool)
}

// Options configure a [Locker].
type Options struct {
	// Owner names this process in the lease's value, for diagnostics
	// (`nats kv get waba_locks <waba-id>`). Defaults to [DefaultOwner].
	Owner string
	// TTL is the lease TTL; it must equal the bucket's TTL (see
	// [BucketConfig], [Locker.Verify]). Leases renew every TTL/3. Defaults to
	// [DefaultTTL].
	TTL time.Duration
	// PollInitial is the first wait between attempts while another process
	// holds a key; it doubles up to PollMax, with jitter. Defaults to
	// [DefaultPollInitial].
	PollInitial time.Duration
	// PollMax caps that wait. Defaults to [DefaultPollMax] (or PollInitial
	// when that is larger).
	PollMax time.Duration
	// Observer, when set, is told about every wait.
	Observer Observer
	// Logger gets lost leases (warn) and renewal retries (debug). Defaults to
	// discarding.
	Logger *slog.Logger
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Owner == "" {
		o.Owner = DefaultOwner()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.PollInitial <= 0 {
		o.PollInitial = DefaultPollInitial
	}
	if o.PollMax <= 0 {
		o.PollMax = DefaultPollMax
	}
	o.PollMax = max(o.PollMax, o.PollInitial)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DefaultOwner is "<hostname>:<pid>:<random>", unique per process start.
func DefaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + randomHex(4)
}

// BucketConfig is the configuration of a lock bucket whose leases last ttl:
// file storage, one value per key, TTL = ttl. LimitMarkerTTL is set too (to
// ttl, at least 1s, the server's minimum): when the TTL removes an abandoned
// lease, the server leaves a marker that watchers see, so a waiter wakes at
// once instead of at its next poll. It needs nats-server 2.11 or later.
func BucketConfig(name string, ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         name,
		Description:    "waba-worker leases: one writer per WABA, one sweep at a time",
		History:        1,
		TTL:            ttl,
		Storage:        jetstream.FileStorage,
		Replicas:       replicas,
		LimitMarkerTTL: max(ttl, time.Second),
	}
}

// ValidKey reports why key cannot be a lease key (an error wrapping
// ErrInvalidKey), or nil. Keys follow JetStream KV's rules: letters, digits
// and - / _ = . ; not empty; no leading, trailing or double dot.
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case key[0] == '.' || key[len(key)-1] == '.':
		return fmt.Errorf("%w %q: starts or ends with a dot", ErrInvalidKey, key)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '/' || c == '_' || c == '=' || c == '.'
		if !ok {
			return fmt.Errorf("%w %q: byte %q at %d (allowed: letters, digits, - / _ = .)", ErrInvalidKey, key, key[i:i+1], i)
		}
		if c == '.' && i > 0 && key[i-1] == '.' {
			return fmt.Errorf("%w %q: two dots in a row", ErrInvalidKey, key)
		}
	}
	return nil
}

// Locker hands out leases on the keys of one bucket. It is safe for
// concurrent use; a process uses one Locker per bucket, since the FIFO queue
// of a key is per Locker.
type Locker struct {
	kv   jetstream.KeyValue
	opts Options

	mu    sync.Mutex
	turns map[string]*turnQueue // a key is present while some caller has its turn
}

// turnQueue is the local queue of one key: the caller that has the turn is
// not in it; waiters are, oldest first.
type turnQueue struct {
	waiters []*waiter
}

type waiter struct {
	ch      chan struct{} // closed when granted
	granted bool          // under Locker.mu
}

// New returns a Locker on kv, a bucket made with [BucketConfig] and the same
// TTL as opts.TTL.
func New(kv jetstream.KeyValue, opts Options) *Locker {
	return &Locker{kv: kv, opts: opts.WithDefaults(), turns: make(map[string]*turnQueue)}
}

// Owner is the name this Locker writes into its leases.
func (l *Locker) Owner() string { return l.opts.Owner }

// Verify checks that the bucket's TTL is the Locker's TTL: with a longer or
// no TTL, a dead holder would block its key longer than promised (forever
// without TTL); with a shorter one, leases would expire between renewals.
func (l *Locker) Verify(ctx context.Context) error {
	st, err := l.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("lease bucket %s: %w", l.kv.Bucket(), err)
	}
	if st.TTL() != l.opts.TTL {
		return fmt.Errorf("lease bucket %s: its TTL is %s, leases need %s", l.kv.Bucket(), st.TTL(), l.opts.TTL)
	}
	return nil
}

// Acquire waits until it holds key's lease, or until ctx ends (then it returns
// an error wrapping ctx's error). Callers of one key in this process are
// served in order of arrival. The lease must be released with
// [Lease.Release]; ctx bounds only the wait, not the lease.
func (l *Locker) Acquire(ctx context.Context, key string) (*Lease, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	start := time.Now()
	queued, err := l.takeTurn(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", key, err)
	}
	ls, waited, err := l.acquireRemote(ctx, key)
	if err != nil {
		l.passTurn(key)
		return nil, fmt.Errorf("lease %s: %w", key, err)
	}
	if l.opts.Observer != nil {
		l.opts.Observer.Waited(time.Since(start), queued || waited)
	}
	return ls, nil
}

// TryAcquire takes key's lease if it is free now, without waiting: ok is
// false when another caller, here or elsewhere, holds it or waits for it in
// this process. err is for a key that is invalid or a bucket that cannot be
// reached.
func (l *Locker) TryAcquire(ctx context.Context, key string) (ls *Lease, ok bool, err error) {
	if err := ValidKey(key); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	if _, busy := l.turns[key]; busy {
		l.mu.Unlock()
		return nil, false, nil
	}
	l.turns[key] = &turnQueue{}
	l.mu.Unlock()

	token := randomHex(16)
	value := l.value(token)
	rev, err := l.kv.Create(ctx, key, value)
	if err == nil {
		return l.newLease(key, token, value, rev, time.Now()), true, nil
	}
	l.passTurn(key)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, false, nil
	}
	// The Create may have reached the server and timed out on the way back;
	// then the key stays blocked until the TTL frees it. The next try sees it.
	return nil, false, fmt.Errorf("lease %s: %w", key, err)
}

// takeTurn returns when the caller is at the head of key's local queue;
// queued says whether it had to wait behind others.
func (l *Locker) takeTurn(ctx context.Context, key string) (queued bool, err error) {
	l.mu.Lock()
	q, busy := l.turns[key]
	if !busy {
		l.turns[key] = &turnQueue{}
		l.mu.Unlock()
		return false, nil
	}
	w := &waiter{ch: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	l.mu.Unlock()

	select {
	case <-w.ch:
		return true, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted { // granted while ctx ended: pass it on
		l.mu.Unlock()
		l.passTurn(key)
		return true, ctx.Err()
	}
	for i, o := range q.waiters {
		if o == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	return true, ctx.Err()
}

// passTurn gives key's turn to the next local waiter, if any.
func (l *Locker) passTurn(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.turns[key]
	if q == nil {
		return
	}
	if len(q.waiters) == 0 {
		delete(l.turns, key)
		return
	}
	w := q.waiters[0]
	q.waiters[0] = nil
	q.waiters = q.waiters[1:]
	w.granted = true
	close(w.ch)
}

// waiting is how many callers wait behind the one that has key's turn (tests).
func (l *Locker) waiting(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if q := l.turns[key]; q != nil {
		return len(q.waiters)
	}
	return 0
}

// acquireRemote is the head of key's local queue taking the key in the
// bucket: Create, and while another holds it, wait for its delete or expiry
// marker on a watch, or the next poll.
func (l *Locker) acquireRemote(ctx context.Context, key string) (_ *Lease, waited bool, _ error) {
	token := randomHex(16)
	value := l.value(token)
	var (
		watch     jetstream.KeyWatcher
		ambiguous time.Time // when a Create first failed in a way that may have written it
		delay     = l.opts.PollInitial
		lastErr   error
	)
	defer func() {
		if watch != nil {
			stopWatch(watch)
		}
	}()
	for {
		sent := time.Now()
		rev, err := l.kv.Create(ctx, key, value)
		if err == nil {
			return l.newLease(key, token, value, rev, sent), waited, nil
		}
		if ctx.Err() != nil {
			return nil, waited, ctx.Err()
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			if !ambiguous.IsZero() {
				if e, ok := l.ours(ctx, key, token); ok {
					// An earlier Create did land, at some time after the
					// first of them was sent: count the TTL from then.
					return l.newLease(key, token, value, e.Revision(), ambiguous), waited, nil
				}
			}
			waited = true
			if watch == nil {
				w, werr := l.kv.Watch(ctx, key, jetstream.UpdatesOnly(), jetstream.MetaOnly())
				if werr == nil {
					// A release between the Create and the watch would go
					// unseen: try once more now that the watch is in place.
					watch = w
					continue
				}
				lastErr = werr
			}
		} else {
			if ambiguous.IsZero() {
				ambiguous = sent
			}
			lastErr = err
			l.opts.Logger.Debug("lease: create failed, retrying", "key", key, "err", err)
		}
		if err := l.pause(ctx, watch, delay); err != nil {
			if lastErr != nil {
				return nil, waited, fmt.Errorf("%w (last bucket error: %v)", err, lastErr)
			}
			return nil, waited, err
		}
		delay = min(delay*2, l.opts.PollMax)
	}
}

// pause waits about delay (with jitter), until ctx ends, or until the watch
// reports a delete, purge or expiry of the key.
func (l *Locker) pause(ctx context.Context, watch jetstream.KeyWatcher, delay time.Duration) error {
	t := time.NewTimer(jitter(delay))
	defer t.Stop()
	var updates <-chan jetstream.KeyValueEntry
	if watch != nil {
		updates = watch.Updates()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case e, open := <-updates:
			if !open {
				updates = nil // the watch ended (connection closed); polling goes on
				continue
			}
			if e == nil || e.Operation() == jetstream.KeyValuePut {
				continue // a renewal by the holder
			}
			return nil
		}
	}
}

// ours returns key's entry if it holds this lease's token.
func (l *Locker) ours(ctx context.Context, key, token string) (jetstream.KeyValueEntry, bool) {
	e, err := l.kv.Get(ctx, key)
	if err != nil {
		return nil, false
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil || v.Token != token {
		return nil, false
	}
	return e, true
}

// leaseValue is what a lease's key holds: who holds it, for people reading
// the bucket, and the token that tells this lease from any other.
type leaseValue struct {
	Owner      string    `json:"owner"`
	Token      string    `json:"token"`
	AcquiredAt time.Time `json:"acquired_at"`
}

func (l *Locker) value(token string) []byte {
	b, _ := json.Marshal(leaseValue{Owner: l.opts.Owner, Token: token, AcquiredAt: time.Now().UTC()})
	return b
}

// holder names who holds key now, for an error message.
func (l *Locker) holder(ctx context.Context, key string) string {
	e, err := l.kv.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return "the key was deleted or expired"
		}
		return "the key could not be read: " + err.Error()
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil || v.Owner == "" {
		return "the key was overwritten"
	}
	return "now held by " + v.Owner
}

// stopWatch stops w and drains it, so that nats.go's delivery goroutine,
// which blocks on a full updates channel, can finish.
func stopWatch(w jetstream.KeyWatcher) {
	_ = w.Stop()
	go func() {
		for range w.Updates() {
		}
	}()
}

func jitter(d time.Duration) time.Duration {
	// 80%..120% of d, so the heads of several processes do not poll in step.
	return d*4/5 + rand.N(d*2/5+1)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
