package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

// sharedCount is how many waba.shared events the stream holds.
func (b *bundle) sharedCount() uint64 {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), "WABA")
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context(), jetstream.WithSubjectFilter("waba.shared"))
	if err != nil {
		b.t.Fatal(err)
	}
	return info.State.Subjects["waba.shared"]
}

// The world: 12 WABAs shared with the business, 4 onboarded through
// events. `worker sweep --dry-run` names the other 8 and publishes nothing;
// `worker sweep` publishes 8, which the worker onboards; a second sweep
// publishes nothing.
func TestSweepCommand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed := emulator.DefaultSeed()
	seed.Businesses[0].WABAs = seed.Businesses[0].WABAs[:12]
	b.graph = graphtest.NewTestServer(t, seed)
	results := resultstest.Collect(t, b.js, "WABA")
	b.startWorker()
	ids := emulator.DevWABAIDs()[:12]
	for _, w := range ids[:4] {
		if r := runCLI(t.Context(), b.env, "emit", "--waba-id", w, "--wait", "30s"); r.code != 0 {
			t.Fatalf("emit %s: %d %s", w, r.code, r.stderr)
		}
	}
	env := map[string]string{
		"NATS_URL":           b.nats.URL(),
		"GRAPH_BASE_URL":     b.graph.URL(),
		"GRAPH_ACCESS_TOKEN": emulator.DevAdminToken,
		"BUSINESS_ID":        emulator.DevBusinessID,
		"SYSTEM_USER_ID":     emulator.DevSystemUserID,
		"LOG_LEVEL":          "warn",
	}
	// A result is published before its ledger record is written (README
	// "The WABA ledger"): wait for the four records, not only the results.
	resultstest.WaitFor(t, "the ledger to hold the 4 onboarded WABAs", 10*time.Second, func() bool {
		r := runCLI(t.Context(), map[string]string{"NATS_URL": b.nats.URL()}, "status", "--state", "assigned", "--json")
		return strings.Count(r.stdout, `"state":"assigned"`) == 4
	})
	before := b.sharedCount()
	dry := runCLI(t.Context(), env, "sweep", "--dry-run")
	if dry.code != 0 {
		t.Fatalf("sweep --dry-run: exit %d: %s", dry.code, dry.stderr)
	}
	for i, w := range ids {
		named := strings.Contains(dry.stdout, "would_emit       "+w+" ")
		if named != (i >= 4) {
			t.Errorf("dry run names %s: %v, want %v:\n%s", w, named, i >= 4, dry.stdout)
		}
	}
	if !strings.Contains(dry.stdout, "12 listed") || !strings.Contains(dry.stdout, "4 onboarded") || !strings.Contains(dry.stdout, "8 would be emitted") {
		t.Errorf("dry run summary:\n%s", dry.stdout)
	}
	if n := b.sharedCount(); n != before {
		t.Fatalf("the dry run published %d events", n-before)
	}

	real := runCLI(t.Context(), env, "sweep", "--json")
	if real.code != 0 {
		t.Fatalf("sweep: exit %d: %s", real.code, real.stderr)
	}
	emitted := 0
	for line := range strings.Lines(real.stdout) {
		var l sweep.Line
		if json.Unmarshal([]byte(line), &l) == nil && l.Action == sweep.ActionEmitted {
			emitted++
		}
	}
	if emitted != 8 || b.sharedCount() != before+8 {
		t.Fatalf("sweep emitted %d lines, %d events stored, want 8:\n%s", emitted, b.sharedCount()-before, real.stdout)
	}
	results.Wait(12, 60*time.Second)
	if n := results.FailedCount(); n != 0 {
		t.Errorf("%d failed", n)
	}
	for _, w := range ids {
		if got := b.graph.Assignments(w)[emulator.DevSystemUserID]; len(got) == 0 {
			t.Errorf("WABA %s not assigned after the sweep", w)
		}
	}
	// The worker writes the ledger after each result; once all 12 are in,
	// a second sweep finds nothing to do.
	resultstest.WaitFor(t, "a sweep with nothing to emit", 20*time.Second, func() bool {
		again := runCLI(t.Context(), env, "sweep")
		return again.code == 0 && strings.Contains(again.stdout, "12 onboarded, 0 emitted")
	})
	if n := b.sharedCount(); n != before+8 {
		t.Errorf("the second sweep published %d more events", n-before-8)
	}
	if r := runCLI(t.Context(), env, "sweep", "--bogus"); r.code != 2 {
		t.Errorf("sweep --bogus: exit %d, want 2", r.code)
	}
	bad := map[string]string{"NATS_URL": b.nats.URL()}
	if r := runCLI(t.Context(), bad, "sweep"); r.code != 2 || !strings.Contains(r.stderr, "BUSINESS_ID") {
		t.Errorf("sweep without settings: exit %d %s", r.code, r.stderr)
	}
	b.graph.SetOutage(emulator.OutageHTML)
	if r := runCLI(t.Context(), env, "sweep"); r.code != 1 {
		t.Errorf("sweep with Graph down: exit %d, want 1: %s", r.code, r.stderr)
	}
}
