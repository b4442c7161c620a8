package sweep_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

// twelve is the world: 12 WABAs listed, the first 4 onboarded.
func twelve(t *testing.T) (*testBundle, []string) {
	b := setup(t, 12)
	for i := range 4 {
		b.onboard(wabaID(i))
	}
	var rest []string
	for i := 4; i < 12; i++ {
		rest = append(rest, wabaID(i))
	}
	return b, rest
}

func TestDryRunNamesTheOthersAndPublishesNothing(t *testing.T) {
	t.Parallel()
	b, rest := twelve(t)
	sum, lines := b.mustSweep(dryRun)

	got := byAction(lines)
	if !slices.Equal(got[sweep.ActionWouldEmit], rest) {
		t.Errorf("would emit %v, want %v", got[sweep.ActionWouldEmit], rest)
	}
	if len(got[sweep.ActionSkipped]) != 4 || len(lines) != 12 {
		t.Errorf("lines %+v", lines)
	}
	for _, l := range lines {
		if l.Action == sweep.ActionWouldEmit && (l.Reason != sweep.ReasonMissing || !strings.HasPrefix(l.EventID, "sweep-"+l.WABAID+"-") || l.Name == "") {
			t.Errorf("line %+v", l)
		}
		if l.Action == sweep.ActionSkipped && (l.Reason != sweep.ReasonOnboarded || l.State != ledger.StateAssigned) {
			t.Errorf("line %+v", l)
		}
	}
	if sum.Listed != 12 || sum.Onboarded != 4 || sum.WouldEmit != 8 || sum.Emitted != 0 || !sum.DryRun ||
		sum.EmitReasons[sweep.ReasonMissing] != 8 || sum.Skipped[sweep.ReasonOnboarded] != 4 || sum.Pages != 1 {
		t.Errorf("summary %+v", sum)
	}
	if p := b.published(); len(p) != 0 {
		t.Errorf("a dry run published %d events", len(p))
	}
}

// A sweep publishes the 8; a second one over the same ledger publishes
// nothing new: the same ids, which JetStream drops as duplicates.
func TestSweepPublishesOnce(t *testing.T) {
	t.Parallel()
	b, rest := twelve(t)
	sum, lines := b.mustSweep()
	if sum.Emitted != 8 || sum.AlreadyEmitted != 0 || sum.Onboarded != 4 {
		t.Fatalf("first sweep: %+v", sum)
	}
	pub := b.published()
	if len(pub) != 8 {
		t.Fatalf("%d events in the stream, want 8", len(pub))
	}
	emitted := map[string]sweep.Line{}
	for _, l := range lines {
		if l.Action == sweep.ActionEmitted {
			emitted[l.WABAID] = l
		}
	}
	for i, p := range pub {
		l := emitted[p.ev.WabaID]
		if p.ev.WabaID != rest[i] || p.ev.ID != p.msgID || p.msgID != l.EventID || p.seq != l.Seq ||
			p.ev.Source != sweep.Source || p.ev.BusinessID != bizID || !slices.Equal(p.ev.Tasks, []string{"MANAGE"}) ||
			p.ev.OccurredAt != "2026-11-24T12:00:00Z" {
			t.Errorf("event %d: %+v (msg id %s, seq %d), line %+v", i, p.ev, p.msgID, p.seq, l)
		}
	}

	sum, lines = b.mustSweep()
	if sum.Emitted != 0 || sum.AlreadyEmitted != 8 || len(byAction(lines)[sweep.ActionAlreadyEmitted]) != 8 {
		t.Fatalf("second sweep: %+v", sum)
	}
	for _, l := range lines {
		if l.Action == sweep.ActionAlreadyEmitted && emitted[l.WABAID].EventID != l.EventID {
			t.Errorf("second sweep's id %s for %s, first %s", l.EventID, l.WABAID, emitted[l.WABAID].EventID)
		}
	}
	if n := len(b.published()); n != 8 {
		t.Errorf("%d events after the second sweep, want 8", n)
	}
}

// A permanent failure is emitted again only once a day has passed since it
// was written, and with the day in its id.
func TestPermanentFailureOnceADay(t *testing.T) {
	t.Parallel()
	b := setup(t, 2)
	b.onboard(wabaID(0))
	b.fail(wabaID(1), events.KindPermanent) // at 2026-11-24T12:00Z

	b.clock.Advance(time.Hour)
	sum, lines := b.mustSweep()
	if sum.Emitted != 0 || sum.Skipped[sweep.ReasonFailedPermanentRecently] != 1 || lines[1].State != ledger.StateFailed {
		t.Fatalf("an hour later: %+v %+v", sum, lines)
	}
	b.clock.Advance(22*time.Hour + 59*time.Minute)
	if sum, _ := b.mustSweep(); sum.Emitted != 0 {
		t.Fatalf("a minute short of a day: %+v", sum)
	}
	b.clock.Advance(time.Minute)
	sum, lines = b.mustSweep()
	if sum.Emitted != 1 || sum.EmitReasons[sweep.ReasonFailedPermanent] != 1 {
		t.Fatalf("a day later: %+v", sum)
	}
	if id := lines[1].EventID; !strings.HasPrefix(id, "sweep-"+wabaID(1)+"-20261125-") {
		t.Errorf("id %q does not carry the day", id)
	}
	// The rest of the day (and any replica): the same id.
	b.clock.Advance(5 * time.Hour)
	if sum, _ := b.mustSweep(); sum.Emitted != 0 || sum.AlreadyEmitted != 1 {
		t.Fatalf("later that day: %+v", sum)
	}
	// The worker tried again and failed again: a day from that attempt.
	b.fail(wabaID(1), events.KindInvalidEvent)
	b.clock.Advance(23 * time.Hour)
	if sum, _ := b.mustSweep(); sum.Emitted != 0 || sum.Skipped[sweep.ReasonFailedPermanentRecently] != 1 {
		t.Fatalf("after a new invalid_event: %+v", sum)
	}
	b.clock.Advance(time.Hour)
	if sum, _ := b.mustSweep(); sum.Emitted != 1 {
		t.Fatalf("a day after the new failure: %+v", sum)
	}
	if n := len(b.published()); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// A retryable failure is emitted at every sweep after the worker wrote it
// again: a new record, a new id.
func TestTransientFailureEmittedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, 1)
	b.fail(wabaID(0), events.KindRetriesExhausted)
	sum, first := b.mustSweep()
	if sum.Emitted != 1 || first[0].Reason != sweep.ReasonFailed {
		t.Fatalf("first sweep: %+v %+v", sum, first)
	}
	if sum, _ := b.mustSweep(); sum.AlreadyEmitted != 1 {
		t.Fatalf("unchanged ledger: %+v", sum)
	}
	b.clock.Advance(time.Minute)
	b.fail(wabaID(0), events.KindVerificationFailed)
	sum, second := b.mustSweep()
	if sum.Emitted != 1 || second[0].EventID == first[0].EventID {
		t.Fatalf("after a new failure: %+v, ids %s %s", sum, first[0].EventID, second[0].EventID)
	}
	if n := len(b.published()); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// An assigned WABA lacking a wanted task, and an unshared one listed again,
// are emitted; the event carries the wanted tasks.
func TestMissingTasksAndReshared(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	b.onboard(wabaID(0), "MANAGE", "DEVELOP")
	b.onboard(wabaID(1), "MANAGE")
	b.put(ledger.Record{WABAID: wabaID(2), State: ledger.StateUnshared})
	want := func(c *sweep.Config) { c.Tasks = []string{"MANAGE", "DEVELOP"} }
	sum, lines := b.mustSweep(want)
	if sum.Onboarded != 1 || sum.EmitReasons[sweep.ReasonMissingTasks] != 1 || sum.EmitReasons[sweep.ReasonReshared] != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if lines[1].Reason != sweep.ReasonMissingTasks || lines[2].Reason != sweep.ReasonReshared || lines[2].State != ledger.StateUnshared {
		t.Errorf("lines %+v", lines)
	}
	for _, p := range b.published() {
		if !slices.Equal(p.ev.Tasks, []string{"MANAGE", "DEVELOP"}) {
			t.Errorf("event %+v lacks the wanted tasks", p.ev)
		}
	}
}

// A WABA the ledger shows as assigned that Graph no longer lists is
// reported, and left alone; failed or unshared ones that are not listed are
// not reported.
func TestNotListedAnyMore(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	for i := range 3 {
		b.onboard(wabaID(i))
	}
	if err := b.graph.Unshare(bizID, wabaID(1)); err != nil {
		t.Fatal(err)
	}
	b.onboard("999") // never shared
	b.fail("998", events.KindPermanent)
	b.put(ledger.Record{WABAID: "997", State: ledger.StateUnshared})

	sum, lines := b.mustSweep()
	got := byAction(lines)[sweep.ActionNotListed]
	slices.Sort(got)
	if !slices.Equal(got, []string{wabaID(1), "999"}) || sum.NotListed != 2 || sum.Listed != 2 || sum.Onboarded != 2 {
		t.Fatalf("not listed %v, summary %+v", got, sum)
	}
	if n := len(b.published()); n != 0 {
		t.Errorf("%d events published", n)
	}
	if r, ok, _ := b.ledger.Get(context.Background(), "999"); !ok || r.State != ledger.StateAssigned {
		t.Errorf("the record of 999 was touched: %+v", r)
	}
}

// More than 100 WABAs: every page is listed (100 at a time) and each WABA
// decided once.
func TestPagingOverManyWABAs(t *testing.T) {
	t.Parallel()
	b := setup(t, 250)
	for i := 0; i < 250; i += 5 {
		b.onboard(wabaID(i))
	}
	b.graph.SetEmptyPages(1)
	sum, lines := b.mustSweep()
	if sum.Listed != 250 || sum.Onboarded != 50 || sum.Emitted != 200 || len(lines) != 250 {
		t.Fatalf("summary %+v, %d lines", sum, len(lines))
	}
	// 3 pages of data, each after an empty page, and the empty page before
	// the end of the listing.
	if n := b.graph.CountFor(graph.OpListClientWABAs, bizID); n != 6 {
		t.Errorf("%d list calls, want 6", n)
	}
	for _, r := range b.graph.RequestsFor(graph.OpListClientWABAs) {
		if r.Query.Get("limit") != "100" || r.Query.Get("fields") != "id,name" {
			t.Errorf("query %v", r.Query)
		}
	}
	if n := len(b.published()); n != 200 {
		t.Errorf("%d events, want 200", n)
	}
}

// A rejected token fails the sweep with an error the caller can class as
// credentials; nothing is published.
func TestCredentialsError(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	b.graph.RevokeToken(emulator.DevReadToken)
	_, _, err := b.sweep()
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.Code != 190 || graph.Classify(err) != graph.ClassCredentials {
		t.Fatalf("err %v, want a credentials *graph.Error", err)
	}
	if !strings.Contains(err.Error(), "list the WABAs shared with business "+bizID) {
		t.Errorf("err %q does not say what failed", err)
	}
	if n := len(b.published()); n != 0 {
		t.Errorf("%d events published", n)
	}
}

// A Graph failure part way: the pages before were worked, the error is
// transient for Classify, and the next sweep does the rest.
func TestGraphFailsMidListing(t *testing.T) {
	t.Parallel()
	b := setup(t, 150)
	pages := 0
	lister := listerFunc(func(ctx context.Context, biz string, limit int, fn func([]graph.ClientWABA) error) error {
		return b.client.ListClientWABAs(ctx, biz, limit, func(p []graph.ClientWABA) error {
			if pages++; pages == 1 { // the next page's request fails
				b.graph.InjectFault(graph.OpListClientWABAs, emulator.Fault{Status: 500, Code: 2})
			}
			return fn(p)
		})
	})
	sum, _, err := b.sweep(func(c *sweep.Config) { c.Lister = lister })
	if graph.Classify(err) != graph.ClassTransient || sum.Emitted != 100 || sum.Listed != 100 {
		t.Fatalf("%+v, err %v, want transient after the first page", sum, err)
	}
	if sum, _ := b.mustSweep(); sum.Emitted != 50 || sum.AlreadyEmitted != 100 {
		t.Fatalf("after the fault: %+v", sum)
	}
}

// listerFunc adapts a function to sweep.Lister, as a caller's wrapper would.
type listerFunc func(ctx context.Context, businessID string, limit int, fn func([]graph.ClientWABA) error) error

func (f listerFunc) ListClientWABAs(ctx context.Context, businessID string, limit int, fn func([]graph.ClientWABA) error) error {
	return f(ctx, businessID, limit, fn)
}

// NATS refuses the publish (here: the events would land in another stream
// than the one expected): the sweep fails with the cause, not a Graph class.
func TestPublishFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, 2)
	sum, _, err := b.sweep(func(c *sweep.Config) { c.Stream = "OTHER" })
	if err == nil || sum.Emitted != 0 {
		t.Fatalf("sweep into a wrong stream: %+v, %v", sum, err)
	}
	var ge *graph.Error
	if errors.As(err, &ge) || !strings.Contains(err.Error(), "publish") {
		t.Errorf("err %v", err)
	}
	// The context ending stops the sweep too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := sweep.New(b.config())
	if _, err := s.Sweep(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled sweep: %v", err)
	}
}

// An unreadable ledger record is emitted (the worker rewrites it), and does
// not stop the not-listed walk.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, 1)
	if _, err := b.kv.Put(context.Background(), wabaID(0), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	sum, lines := b.mustSweep()
	if sum.Emitted != 1 || lines[0].Reason != sweep.ReasonCorrupt {
		t.Fatalf("%+v %+v", sum, lines)
	}
}

// The mark of the last sweep lives in the ledger bucket without being taken
// for a WABA.
func TestMarkIsNotAWABA(t *testing.T) {
	t.Parallel()
	b := setup(t, 1)
	if _, err := b.kv.Put(context.Background(), sweep.MarkKey, []byte(`{"started_at":"2026-11-24T12:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	counts, err := b.ledger.Counts(context.Background())
	if err != nil || counts[ledger.StateAssigned]+counts[ledger.StateFailed]+counts[ledger.StateUnshared] != 0 {
		t.Fatalf("counts %v, %v", counts, err)
	}
	if sum, _ := b.mustSweep(); sum.Emitted != 1 || sum.NotListed != 0 {
		t.Fatalf("%+v", sum)
	}
}

// Publishing is paced: 10 events at 20 a second take at least 9/20 s.
func TestPublishIsPaced(t *testing.T) {
	t.Parallel()
	b := setup(t, 10)
	start := time.Now()
	sum, _ := b.mustSweep(func(c *sweep.Config) { c.PublishRate = 20 })
	if d := time.Since(start); sum.Emitted != 10 || d < 430*time.Millisecond {
		t.Fatalf("%d events in %v, want at least 450ms", sum.Emitted, d)
	}
	// Duplicates give their token back: nothing is paced the second time.
	start = time.Now()
	sum, _ = b.mustSweep(func(c *sweep.Config) { c.PublishRate = 2 })
	if d := time.Since(start); sum.AlreadyEmitted != 10 || d > 3*time.Second {
		t.Fatalf("%d duplicates in %v: paced like new events", sum.AlreadyEmitted, d)
	}
}

// The observer sees every line and every sweep.
func TestObserver(t *testing.T) {
	t.Parallel()
	b, _ := twelve(t)
	var o recorder
	sum, _ := b.mustSweep(func(c *sweep.Config) { c.Observer = &o })
	if len(o.lines) != 12 || len(o.sweeps) != 1 || o.sweeps[0].Emitted != sum.Emitted || o.errs[0] != nil {
		t.Fatalf("observer %d lines, sweeps %+v", len(o.lines), o.sweeps)
	}
	if !maps.Equal(o.sweeps[0].EmitReasons, map[sweep.Reason]int{sweep.ReasonMissing: 8}) {
		t.Errorf("reasons %v", o.sweeps[0].EmitReasons)
	}
}

type recorder struct {
	lines  []sweep.Line
	sweeps []sweep.Summary
	errs   []error
}

func (r *recorder) Line(l sweep.Line) { r.lines = append(r.lines, l) }
func (r *recorder) Swept(s sweep.Summary, err error) {
	r.sweeps = append(r.sweeps, s)
	r.errs = append(r.errs, err)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	for name, edit := range map[string]func(*sweep.Config){
		"no lister":   func(c *sweep.Config) { c.Lister = nil },
		"no ledger":   func(c *sweep.Config) { c.Ledger = nil },
		"no nats":     func(c *sweep.Config) { c.JetStream = nil },
		"business":    func(c *sweep.Config) { c.BusinessID = "x" },
		"task":        func(c *sweep.Config) { c.Tasks = []string{"OWN"} },
		"page size":   func(c *sweep.Config) { c.PageSize = 101 },
		"concurrency": func(c *sweep.Config) { c.LookupConcurrency = -1 },
	} {
		if _, err := sweep.New(b.config(edit)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sweep.New(b.config(func(c *sweep.Config) { c.JetStream, c.DryRun = nil, true })); err != nil {
		t.Errorf("a dry run without NATS: %v", err)
	}
}
