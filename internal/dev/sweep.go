package dev

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/ledger"
)

// The discovery sweep of `worker dev`: every minute rather than `worker
// run`'s hour, the first one a fixed 2s after the worker starts (with a
// demo, 2s after the demo's own events have their results), so that the
// demo shows it and it does not re-emit the WABAs those events onboard.
const (
	DefaultSweepInterval = time.Minute
	SweepFirstDelay      = 2 * time.Second
	// NoSweep, as Options.SweepInterval, disables the sweep
	// (SWEEP_INTERVAL=0).
	NoSweep time.Duration = -1
)

// SweepWABAID is the WABA the demo shares "while the webhook was down": in
// the emulator, shared with the business, with no webhook and no event. Only
// the discovery sweep can find it.
const SweepWABAID = "102290129340499"

// sweepWait is how long the demo waits for the sweep's result, from when it
// lets the first sweep run, before it gives up counting it.
const sweepWait = SweepFirstDelay + 30*time.Second

// settleWait bounds how long the demo holds the first sweep back waiting for
// its own events' results.
const settleWait = 30 * time.Second

// PreOnboardEventID is the event_id of the ledger records `worker dev`
// writes at start for the seeded WABAs the demo does not use.
const PreOnboardEventID = "worker-dev-preonboard"

// demoWABAs returns, for each of the demo's n events, its WABA: the seeded
// WABAs in turn, and UnknownWABAID for the last one when n >= 2.
func demoWABAs(n int) []string {
	ids := emulator.DevWABAIDs()
	out := make([]string, n)
	for i := range out {
		out[i] = ids[i%len(ids)]
	}
	if n >= 2 {
		out[n-1] = UnknownWABAID
	}
	return out
}

// preOnboard makes the seeded WABAs that the demo does not use onboarded,
// as if the worker had assigned them before: the system user holds cfg's
// tasks in the emulator, and the ledger (cfg.StateBucket, created here as the
// worker would create it) records them as assigned. So dev's first sweep
// finds only what is new (SweepWABAID), instead of 21 seeded WABAs at once.
// It returns how many it onboarded.
func preOnboard(ctx context.Context, js jetstream.JetStream, cfg config.Config, emu *emulator.Server, demo []string) (int, error) {
	kv, err := js.CreateKeyValue(ctx, ledger.BucketConfig(cfg.StateBucket, 1))
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.StateBucket) // a kept store (--store)
	}
	if err != nil {
		return 0, fmt.Errorf("dev: KV bucket %s: %w", cfg.StateBucket, err)
	}
	store := ledger.New(kv)
	used := map[string]bool{}
	for _, id := range demo {
		used[id] = true
	}
	n := 0
	for _, id := range emulator.DevWABAIDs() {
		if used[id] {
			continue
		}
		if err := emu.Assign(id, emulator.DevSystemUserID, cfg.AssignTasks...); err != nil {
			return n, fmt.Errorf("dev: pre-onboard %s: %w", id, err)
		}
		held := emu.Assignments(id)[emulator.DevSystemUserID]
		if err := store.Put(ctx, ledger.Record{WABAID: id, State: ledger.StateAssigned,
			SystemUserID: emulator.DevSystemUserID, HeldTasks: held, EventID: PreOnboardEventID}); err != nil {
			return n, fmt.Errorf("dev: pre-onboard %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
