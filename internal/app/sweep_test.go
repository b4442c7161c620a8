package app_test

import (
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
)

// Options.SweepAfter holds the first sweep until it is closed (worker dev
// closes it once its demo's own events have their results); the first turn
// then comes SweepFirstDelay later.
func TestSweepAfterHoldsTheFirstSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"SWEEP_INTERVAL": "1h"})
	gate := make(chan struct{})
	b.sweepAfter, b.sweepFirst = gate, time.Millisecond
	b.start()
	lists := func() int { return b.graph.CountFor(graph.OpListClientWABAs, emulator.DevBusinessID) }
	// Not a timing assertion: a slower machine only makes an early sweep
	// less likely to show. Without the gate the sweep lists within about
	// 250ms of the buckets being bound (see TestSweepAfterNilSweepsAtOnce).
	time.Sleep(time.Second)
	if n := lists(); n != 0 {
		t.Fatalf("%d list calls with SweepAfter open, want none", n)
	}
	close(gate)
	b.waitFor("the first sweep after the gate opened", 20*time.Second, func() bool { return lists() >= 1 })
}

// Without SweepAfter, a SweepFirstDelay of 1ms sweeps as soon as the
// buckets are bound: the check above would see it.
func TestSweepAfterNilSweepsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"SWEEP_INTERVAL": "1h"})
	b.sweepFirst = time.Millisecond
	b.start()
	b.waitFor("the first sweep", 20*time.Second, func() bool {
		return b.graph.CountFor(graph.OpListClientWABAs, emulator.DevBusinessID) >= 1
	})
}
