package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/util/timeutil"
)

// LeaseKey is the key of the sweep's lease in the lock bucket (waba_locks).
// It cannot collide with a WABA's: it is not digits.
const LeaseKey = "sweep"

// MarkKey is the key, in the ledger bucket (waba_state), of the record of
// the last successful sweep, which every replica reads before it sweeps. The
// ledger bucket and not the lock bucket, because the lock bucket's TTL would
// delete the mark after 15s; ledger.Store.Each skips it, since it is not a
// WABA id.
const MarkKey = "sweep.last"

// Mark is the value at MarkKey.
type Mark struct {
	// StartedAt is when the last successful sweep started: the next is due
	// one interval later.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Owner      string    `json:"owner"` // the lease owner that swept
}

// LastSweep reads the mark of the last successful sweep from kv (the ledger
// bucket); ok is false when no sweep has succeeded yet. For the gauge "time
// since the last successful sweep", which every replica can report alike.
func LastSweep(ctx context.Context, kv jetstream.KeyValue) (m Mark, ok bool, err error) {
	e, err := kv.Get(ctx, MarkKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Mark{}, false, nil
	}
	if err != nil {
		return Mark{}, false, fmt.Errorf("sweep: read %s: %w", MarkKey, err)
	}
	if err := json.Unmarshal(e.Value(), &m); err != nil || m.StartedAt.IsZero() {
		// An unreadable mark is no mark: sweep, and write a good one.
		return Mark{}, false, nil
	}
	return m, true, nil
}

func writeMark(ctx context.Context, kv jetstream.KeyValue, m Mark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, MarkKey, b)
	return err
}

// Outcomes of a turn of Run, the values of Turn.Outcome.
const (
	// TurnSwept: this replica swept, successfully.
	TurnSwept = "swept"
	// TurnFailed: this replica swept, and the sweep failed.
	TurnFailed = "failed"
	// TurnBusy: another replica holds the sweep's lease (it is sweeping, or
	// died sweeping and its lease has not expired yet).
	TurnBusy = "busy"
	// TurnNotDue: a sweep (here or elsewhere) succeeded less than an interval ago.
	TurnNotDue = "not_due"
	// TurnError: the mark or the lease could not be read (NATS trouble).
	TurnError = "error"
)

// Turn is one wake-up of Run.
type Turn struct {
	Outcome string
	// Err is the sweep's error (TurnFailed) or NATS's (TurnError).
	Err error
	// Duration is the sweep's, for TurnSwept and TurnFailed.
	Duration time.Duration
	// LastSuccess is the start of the last successful sweep known to this
	// replica (zero when none).
	LastSuccess time.Time
	// Next is when Run wakes up again.
	Next time.Time
}

// DefaultInterval is SWEEP_INTERVAL's default: `worker run` sweeps once an
// hour.
const DefaultInterval = time.Hour

// RunConfig configures Run.
type RunConfig struct {
	// Every is the interval between sweeps (SWEEP_INTERVAL), start to start.
	// Required, positive.
	Every time.Duration
	// Locker hands out the sweep's lease (LeaseKey) in the lock bucket.
	// Required.
	Locker *lease.Locker
	// Marks is the ledger bucket, which holds MarkKey. Required.
	Marks jetstream.KeyValue
	// Sweep sweeps once; its context ends when Run's does or when the lease
	// is lost. Required.
	Sweep func(ctx context.Context) error
	// FirstDelay is the most Run waits before its first turn; it waits a
	// random time up to that, so that replicas started together do not all
	// try at once. Defaults to min(Every/10, 30s).
	FirstDelay time.Duration
	// FirstExact makes the first turn come after exactly FirstDelay instead
	// of a random time up to it: for a single process that has no replica
	// to spread from and wants its first sweep at a known moment (`worker
	// dev`, whose demo shows it). Defaults to false.
	FirstExact bool
	// BusyRetry is when Run tries again after TurnBusy or TurnError: the
	// soonest a replica takes over from one that died sweeping (after the
	// lease's TTL). Defaults to min(Every, 1m).
	BusyRetry time.Duration
	// FailedRetry is when Run sweeps again after a failed sweep. Defaults to
	// min(Every, 5m).
	FailedRetry time.Duration
	// Logger gets a line per turn that did something (debug for busy and not
	// due). Defaults to discarding.
	Logger *slog.Logger
	// Observer, when set, is called after every turn, on Run's goroutine;
	// it must not block.
	Observer func(Turn)
}

// WithDefaults returns c with every zero field set to its default.
func (c RunConfig) WithDefaults() RunConfig {
	if c.FirstDelay <= 0 {
		c.FirstDelay = min(c.Every/10, 30*time.Second)
	}
	if c.BusyRetry <= 0 {
		c.BusyRetry = min(c.Every, time.Minute)
	}
	if c.FailedRetry <= 0 {
		c.FailedRetry = min(c.Every, 5*time.Minute)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Run sweeps every c.Every, one replica at a time, until ctx ends; then it
// returns nil (an invalid c is the only error). Each turn:
//
//  1. reads the mark (MarkKey); when the last successful sweep, by any
//     replica, started less than Every ago, it sleeps until one Every after
//     that start;
//  2. tries the lease LeaseKey without waiting; when another replica holds
//     it, it tries again after BusyRetry;
//  3. reads the mark again under the lease (another replica may have just
//     finished), sweeps, and on success writes the mark with the sweep's
//     start; the lease is released after, and the sweep's context ends if
//     the lease is lost meanwhile.
//
// So N replicas sweep once per interval between them, and a replica killed
// mid-sweep (no release, no mark) leaves the lease to expire: the next
// replica whose turn comes after the TTL sweeps. The first turn comes after
// a random delay up to FirstDelay (exactly FirstDelay with FirstExact).
func Run(ctx context.Context, c RunConfig) error {
	c = c.WithDefaults()
	switch {
	case c.Every <= 0:
		return fmt.Errorf("sweep: RunConfig.Every %s: must be positive", c.Every)
	case c.Locker == nil || c.Marks == nil || c.Sweep == nil:
		return errors.New("sweep: RunConfig.Locker, Marks and Sweep are required")
	}
	wait := c.FirstDelay
	if !c.FirstExact {
		wait = jitter(c.FirstDelay)
	}
	for {
		if timeutil.Sleep(ctx, wait) != nil {
			return nil
		}
		t := turn(ctx, c)
		if ctx.Err() != nil {
			return nil
		}
		wait = time.Until(t.Next)
		if c.Observer != nil {
			c.Observer(t)
		}
	}
}

func turn(ctx context.Context, c RunConfig) Turn {
	now := time.Now()
	retry := func(outcome string, err error, last time.Time) Turn {
		lvl := slog.LevelDebug
		if err != nil {
			lvl = slog.LevelWarn
		}
		c.Logger.Log(ctx, lvl, "sweep turn", "outcome", outcome, "err", err, "retry_in", c.BusyRetry)
		return Turn{Outcome: outcome, Err: err, LastSuccess: last, Next: now.Add(jitterUp(c.BusyRetry))}
	}
	notDue := func(m Mark) Turn {
		next := m.StartedAt.Add(c.Every)
		c.Logger.Debug("sweep turn", "outcome", TurnNotDue, "last_started_at", m.StartedAt, "by", m.Owner, "next", next)
		return Turn{Outcome: TurnNotDue, LastSuccess: m.StartedAt, Next: next.Add(jitterUp(c.Every / 100))}
	}

	m, ok, err := LastSweep(ctx, c.Marks)
	if err != nil {
		return retry(TurnError, err, time.Time{})
	}
	if ok && now.Sub(m.StartedAt) < c.Every {
		return notDue(m)
	}
	ls, got, err := c.Locker.TryAcquire(ctx, LeaseKey)
	if err != nil {
		return retry(TurnError, err, m.StartedAt)
	}
	if !got {
		return retry(TurnBusy, nil, m.StartedAt)
	}
	defer func() {
		// Released even when ctx ended (a graceful stop), so that the next
		// replica need not wait for the TTL; a closed connection leaves the
		// lease to expire.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := ls.Release(rctx); err != nil {
			c.Logger.Warn("sweep: release the sweep's lease", "err", err)
		}
	}()
	if m2, ok2, err := LastSweep(ctx, c.Marks); err != nil {
		return retry(TurnError, err, m.StartedAt)
	} else if ok2 && time.Since(m2.StartedAt) < c.Every {
		return notDue(m2)
	}

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-ls.Lost():
			cancel(ls.Err())
		case <-sctx.Done():
		}
	}()
	start := time.Now()
	err = c.Sweep(sctx)
	d := time.Since(start)
	if err != nil {
		next := time.Now().Add(jitterUp(c.FailedRetry))
		if ctx.Err() == nil {
			c.Logger.Warn("sweep turn", "outcome", TurnFailed, "err", err, "duration", d, "retry_at", next)
		}
		return Turn{Outcome: TurnFailed, Err: err, Duration: d, LastSuccess: m.StartedAt, Next: next}
	}
	mark := Mark{StartedAt: start.UTC(), FinishedAt: time.Now().UTC(), Owner: c.Locker.Owner()}
	// A sweep that finished is marked even when a graceful stop began
	// meanwhile: otherwise the next replica sweeps again at once.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer mcancel()
	if err := writeMark(mctx, c.Marks, mark); err != nil {
		// The sweep happened; another replica may sweep again before the
		// interval is over, which is harmless (same message ids).
		c.Logger.Warn("sweep: write the mark of the last sweep", "err", err)
	}
	c.Logger.Info("sweep turn", "outcome", TurnSwept, "duration", d, "next", start.Add(c.Every))
	return Turn{Outcome: TurnSwept, Duration: d, LastSuccess: start, Next: start.Add(c.Every).Add(jitterUp(c.Every / 100))}
}

// jitter is a random duration in [0, d].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// jitterUp is d plus up to 10% of it, so replicas drift apart.
func jitterUp(d time.Duration) time.Duration { return d + jitter(d/10) }
