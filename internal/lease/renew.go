package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is a held key. It renews itself until [Lease.Release].
//
// The renewals run on a timer, not on a goroutine of their own: a lease
// held for the few milliseconds of one event costs a timer, and a renewal
// (every TTL/3) runs in the timer's goroutine.
type Lease struct {
	l      *Locker
	key    string
	token  string
	value  []byte
	ctx    context.Context    // of the renewals
	cancel context.CancelFunc // ends the renewals
	every  time.Duration
	timer  *time.Timer
	busy   sync.WaitGroup // a renewal running

	lostCtx context.Context // done when the lease was lost
	lose    context.CancelFunc

	mu       sync.Mutex
	rev      uint64
	written  time.Time // when the last write was sent
	err      error     // why the lease was lost
	released bool
	ended    bool // the renewals ended: released, or lost
}

// newLease starts the renewals of a lease written at revision rev at about
// time written (the time the write was sent, which is no later than the
// server's timestamp that its TTL counts from).
func (l *Locker) newLease(key, token string, value []byte, rev uint64, written time.Time) *Lease {
	ls := &Lease{l: l, key: key, token: token, value: value, rev: rev, written: written, every: l.opts.TTL / 3}
	ls.ctx, ls.cancel = context.WithCancel(context.Background())
	ls.lostCtx, ls.lose = context.WithCancel(context.Background())
	ls.mu.Lock()
	ls.timer = time.AfterFunc(time.Until(written.Add(ls.every)), ls.renew)
	ls.mu.Unlock()
	return ls
}

// Key is the lease's key.
func (ls *Lease) Key() string { return ls.key }

// Lost is closed when the lease was lost (see [Lease.Err]); work done under
// the lease after that may overlap another holder's. It is not closed by
// Release.
func (ls *Lease) Lost() <-chan struct{} { return ls.lostCtx.Done() }

// OnLost arranges for f to run in its own goroutine when the lease is lost
// (at once if it was), with no goroutine waiting meanwhile; stop undoes
// that, reporting whether it stopped f from running (context.AfterFunc).
func (ls *Lease) OnLost(f func()) (stop func() bool) { return context.AfterFunc(ls.lostCtx, f) }

// Err says why the lease was lost (wrapping ErrLost), or nil while it is held
// or after a clean release.
func (ls *Lease) Err() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.err
}

// Release ends the renewals, deletes the key if this lease still holds it,
// and hands the key's turn to the next caller waiting in this process.
// Releasing again does nothing and returns nil. It returns an error wrapping
// ErrLost when the lease had been lost, and the bucket's error when the delete
// failed, in which case the key frees itself within the TTL. The delete uses
// ctx: one that has already ended leaves the key to expire.
func (ls *Lease) Release(ctx context.Context) error {
	ls.mu.Lock()
	if ls.released {
		ls.mu.Unlock()
		return nil
	}
	ls.released = true
	ls.ended = true
	ls.mu.Unlock()
	ls.timer.Stop()
	ls.cancel()
	ls.busy.Wait() // a renewal cut short
	defer ls.l.passTurn(ls.key)

	if err := ls.Err(); err != nil {
		return fmt.Errorf("lease %s: %w", ls.key, err)
	}
	err := ls.l.kv.Delete(ctx, ls.key, jetstream.LastRevision(ls.revision()))
	if isMismatch(err) {
		// A renewal cut short by this release may have landed after all.
		if e, ok := ls.l.ours(ctx, ls.key, ls.token); ok {
			err = ls.l.kv.Delete(ctx, ls.key, jetstream.LastRevision(e.Revision()))
		}
	}
	switch {
	case err == nil:
		return nil
	case isMismatch(err):
		ls.markLost(fmt.Errorf("%w: %s", ErrLost, ls.l.holder(ctx, ls.key)))
		return fmt.Errorf("lease %s: %w", ls.key, ls.Err())
	default:
		return fmt.Errorf("lease %s: release: %w (the key frees itself within %s)", ls.key, err, ls.l.opts.TTL)
	}
}

func (ls *Lease) revision() uint64 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.rev
}

func (ls *Lease) setRevision(rev uint64) {
	ls.mu.Lock()
	ls.rev = rev
	ls.mu.Unlock()
}

func (ls *Lease) markLost(err error) {
	ls.mu.Lock()
	first := ls.err == nil
	if first {
		ls.err = err
		ls.ended = true
		ls.lose()
	}
	ls.mu.Unlock()
	if first {
		ls.l.opts.Logger.Warn("lease lost", "key", ls.key, "owner", ls.l.opts.Owner, "err", err)
	}
}

// renew rewrites the lease, in the timer's goroutine, and sets the timer
// for the next renewal TTL/3 after this write, until the lease is released
// or lost.
func (ls *Lease) renew() {
	ls.mu.Lock()
	if ls.ended {
		ls.mu.Unlock()
		return
	}
	ls.busy.Add(1) // before Release, which sets ended under mu, waits
	written := ls.written
	ls.mu.Unlock()
	defer ls.busy.Done()

	w, err := ls.renewOnce(ls.ctx, written)
	if ls.ctx.Err() != nil {
		return
	}
	if err != nil {
		ls.markLost(err)
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.written = w
	if !ls.ended {
		ls.timer.Reset(time.Until(w.Add(ls.every)))
	}
}

// renewOnce rewrites the lease, retrying failures until it would have expired
// (TTL after written). It returns when the new write was sent.
func (ls *Lease) renewOnce(ctx context.Context, written time.Time) (time.Time, error) {
	ttl := ls.l.opts.TTL
	deadline := written.Add(ttl)
	retry := min(max(ttl/10, 50*time.Millisecond), time.Second)
	var lastErr error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return written, fmt.Errorf("%w: not renewed within the TTL (%s): %v", ErrLost, ttl, lastErr)
		}
		sent := time.Now()
		opCtx, cancel := context.WithTimeout(ctx, min(ttl/3, left))
		rev, err := ls.l.kv.Update(opCtx, ls.key, ls.value, ls.revision())
		cancel()
		if err == nil {
			ls.setRevision(rev)
			return sent, nil
		}
		if ctx.Err() != nil {
			return written, ctx.Err()
		}
		if isMismatch(err) {
			// The key still holding this lease's token means a write that
			// looked failed had landed: carry on from its revision. (Only
			// this lease writes its token; the deadline bounds the loop.)
			opCtx, cancel := context.WithTimeout(ctx, ttl/3)
			e, ok := ls.l.ours(opCtx, ls.key, ls.token)
			who := ""
			if !ok {
				who = ls.l.holder(opCtx, ls.key)
			}
			cancel()
			if ok {
				ls.setRevision(e.Revision())
				continue
			}
			return written, fmt.Errorf("%w: %s", ErrLost, who)
		}
		lastErr = err
		ls.l.opts.Logger.Debug("lease: renewal failed, retrying", "key", ls.key, "err", err, "expires_in", time.Until(deadline))
		t := time.NewTimer(min(retry, max(time.Until(deadline), 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			return written, ctx.Err()
		case <-t.C:
		}
	}
}

// isMismatch reports a revision check that failed: the key is not at the
// revision this lease wrote.
func isMismatch(err error) bool {
	return err != nil && (errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists))
}
