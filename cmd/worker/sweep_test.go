package main_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

// sweepsDone returns when each sweep whose "sweep done" line is in the
// processes' JSON logs started (the line's time less the sweep's
// duration), in order.
func sweepsDone(t *testing.T, ps ...*proc) []time.Time {
	t.Helper()
	var at []time.Time
	for _, p := range ps {
		for line := range strings.Lines(p.output.String()) {
			var l struct {
				Time     time.Time     `json:"time"`
				Msg      string        `json:"msg"`
				Duration time.Duration `json:"duration"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "sweep done" {
				at = append(at, l.Time.Add(-l.Duration))
			}
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at
}

// Two `worker run` processes with a short SWEEP_INTERVAL sweep once per
// interval between them, not once each: every sweep lists Graph once, and
// no two sweeps fall within one interval.
func TestTwoProcessesSweepOncePerInterval(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const every = 1500 * time.Millisecond
	w.env["SWEEP_INTERVAL"] = every.String()
	a, b := startWorker(t, w.env), startWorker(t, w.env)
	resultstest.WaitFor(t, "four sweeps", 60*time.Second, func() bool { return len(sweepsDone(t, a, b)) >= 4 })
	done := sweepsDone(t, a, b)
	for i := 1; i < len(done); i++ {
		// A sweep starts an interval (start to start) after the last
		// one started, or later when that one took longer (the first,
		// paced, takes about 4s for 21 WABAs); slack for the log's clock.
		if gap := done[i].Sub(done[i-1]); gap < every*9/10 {
			t.Errorf("sweeps %d and %d started %s apart, within one interval (%s): %v", i-1, i, gap, every, done)
		}
	}
	// Each sweep lists once (the 21 WABAs fit on one page): the listings
	// are the sweeps, no more. The count is read after the log lines, so
	// a sweep may have started since.
	if n := w.graph.Count(graph.OpListClientWABAs); n < len(done) || n > len(done)+1 {
		t.Errorf("%d list calls for %d sweeps", n, len(done))
	}
	// The sweeps onboarded the dev business's WABAs, each once.
	resultstest.WaitFor(t, "the shared WABAs onboarded", 60*time.Second, func() bool {
		return w.results.Count() >= len(emulator.DevWABAIDs())
	})
	if n := w.results.FailedCount(); n != 0 {
		t.Errorf("%d failed", n)
	}
}

// A worker killed (SIGKILL) mid-sweep, holding the sweep's lease, leaves
// the next sweep to the other replica once the lease has expired.
func TestKilledSweeperLeavesTheNextSweepToTheOther(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.env["SWEEP_INTERVAL"] = "1s"
	w.env["WORKER_LEASE_TTL"] = "2s"
	w.env["GRAPH_TIMEOUT"] = "30s"
	// The first listing hangs: its replica is mid-sweep when it is killed.
	w.graph.InjectFault(graph.OpListClientWABAs, emulator.Fault{Hang: true})
	a, b := startWorker(t, w.env), startWorker(t, w.env)
	kv := waitBucket(t, w.js, lease.DefaultBucket)
	var owner string
	resultstest.WaitFor(t, "a replica sweeping", 30*time.Second, func() bool {
		e, err := kv.Get(t.Context(), sweep.LeaseKey)
		if err != nil || w.graph.Count(graph.OpListClientWABAs) != 1 {
			return false
		}
		var v struct {
			Owner string `json:"owner"`
		}
		_ = json.Unmarshal(e.Value(), &v)
		owner = v.Owner
		return owner != ""
	})
	sweeper, other := a, b
	if !strings.Contains(owner, ":"+strconv.Itoa(a.cmd.Process.Pid)+":") {
		sweeper, other = b, a
	}
	if !strings.Contains(owner, ":"+strconv.Itoa(sweeper.cmd.Process.Pid)+":") {
		t.Fatalf("the sweep's lease is held by %q, neither worker", owner)
	}
	if err := sweeper.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sweeper.wait(t, 10*time.Second)
	killed := time.Now()
	resultstest.WaitFor(t, "the other replica to sweep", 60*time.Second, func() bool { return len(sweepsDone(t, other)) >= 1 })
	t.Logf("the other replica swept %s after the kill (lease TTL 2s)", time.Since(killed).Round(10*time.Millisecond))
	resultstest.WaitFor(t, "the shared WABAs onboarded", 60*time.Second, func() bool {
		return w.results.Count() >= len(emulator.DevWABAIDs())
	})
}

// A WABA shared later, with no event published for it, is onboarded by
// `worker run`'s sweep within one interval.
func TestSweepOnboardsAWABASharedLater(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const every = 2 * time.Second
	w.env["SWEEP_INTERVAL"] = every.String()
	p := startWorker(t, w.env)
	resultstest.WaitFor(t, "the first sweep", 30*time.Second, func() bool { return len(sweepsDone(t, p)) >= 1 })
	later := w.newWABAs(t, 300, 1)[0]
	added := time.Now()
	var s []string
	resultstest.WaitFor(t, "the later WABA onboarded", 30*time.Second, func() bool {
		s = nil
		for _, r := range w.results.SucceededFor(later) {
			s = append(s, r.EventID)
		}
		return len(s) == 1
	})
	took := time.Since(added)
	if !strings.HasPrefix(s[0], "sweep-"+later+"-") {
		t.Errorf("onboarded by event %s, not the sweep's", s[0])
	}
	t.Logf("onboarded %s after it was shared (SWEEP_INTERVAL %s)", took.Round(10*time.Millisecond), every)
	if took > every+10*time.Second { // one interval, and slack for a busy machine
		t.Errorf("onboarded %s after it was shared, beyond one interval (%s)", took, every)
	}
}
