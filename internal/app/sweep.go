package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/metrics"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// SweepLister lists the WABAs shared with the business through the
// worker's circuit breaker, and not at all while the worker's intake is
// paused (Graph down, or the token rejected): the sweep then fails its turn
// and is tried again, like the worker it waits for Graph rather than crash.
type SweepLister struct {
	Client  *graph.Client
	Breaker *breaker.Breaker            // optional
	Paused  func() wabatype.PauseReason // optional: the worker's pause
}

// ListClientWABAs is sweep.Lister's.
func (l SweepLister) ListClientWABAs(ctx context.Context, businessID string, limit int, fn func([]graph.ClientWABA) error) error {
	if l.Paused != nil {
		if r := l.Paused(); r != wabatype.NoPause {
			return fmt.Errorf("the worker's intake is paused (%s): the sweep waits for Graph too", r)
		}
	}
	list := func() error { return l.Client.ListClientWABAs(ctx, businessID, limit, fn) }
	if l.Breaker == nil {
		return list()
	}
	return l.Breaker.Do(list)
}

// NewSweeper is the discovery sweep of cfg's business and tasks, publishing
// to cfg's stream (nothing with dryRun).
func NewSweeper(cfg config.Config, lister sweep.Lister, js jetstream.JetStream, store *ledger.Store, log *slog.Logger, obs sweep.Observer, dryRun bool) (*sweep.Sweeper, error) {
	return sweep.New(sweep.Config{
		Lister:     lister,
		Ledger:     store,
		JetStream:  js,
		Stream:     cfg.Stream,
		Subject:    cfg.Subject,
		BusinessID: cfg.BusinessID,
		Tasks:      cfg.AssignTasks,
		DryRun:     dryRun,
		Logger:     log,
		Observer:   obs,
	})
}

// runSweeps sweeps every cfg.SweepInterval, one replica at a time (the
// sweep's lease in the lock bucket, the last sweep's mark in the ledger
// bucket), once the buckets are bound and after is closed (nil: at once),
// until ctx ends. A positive firstDelay is exactly when the first turn comes
// (Options.SweepFirstDelay); else sweep.Run's jittered default.
func runSweeps(ctx context.Context, cfg config.Config, after <-chan struct{}, firstDelay time.Duration, lister sweep.Lister, js jetstream.JetStream, kv *buckets, mx *metrics.Metrics, log *slog.Logger) {
	for kv.locker.Load() == nil || kv.marks.Load() == nil {
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if after != nil {
		select {
		case <-ctx.Done():
			return
		case <-after:
		}
	}
	marks := *kv.marks.Load()
	sw, err := NewSweeper(cfg, lister, js, ledger.New(marks), log.With("component", "sweep"), mx, false)
	if err != nil {
		log.Error("discovery sweep disabled", "error", err.Error())
		return
	}
	log.Info("discovery sweep", "every", cfg.SweepInterval, "business_id", cfg.BusinessID)
	err = sweep.Run(ctx, sweep.RunConfig{
		Every:      cfg.SweepInterval,
		FirstDelay: firstDelay,
		FirstExact: firstDelay > 0,
		Locker:     kv.locker.Load(),
		Marks:      marks,
		Sweep: func(ctx context.Context) error {
			_, err := sw.Sweep(ctx, nil)
			return err
		},
		Logger:   log.With("component", "sweep"),
		Observer: mx.SweepTurn,
	})
	if err != nil {
		log.Error("discovery sweep stopped", "error", err.Error())
	}
}

var _ worker.Locker = (*buckets)(nil)
