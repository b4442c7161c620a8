package dev

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// syncBuffer is shared by dev's goroutines and the test.
type syncBuffer = resultstest.SyncBuffer

// devBundle is one `worker dev` running in the test, on free ports.
type devBundle struct {
	t      *testing.T
	env    Env
	banner *syncBuffer
	log    *syncBuffer // dev's lines, JSON
	js     jetstream.JetStream
}

// startDev runs Run with o (on free ports, JSON logs) until the test ends,
// and returns once everything runs.
func startDev(t *testing.T, o Options) *devBundle {
	t.Helper()
	b := &devBundle{t: t, banner: &syncBuffer{}, log: &syncBuffer{}}
	o.NATSPort, o.GraphAddr, o.WebhookAddr = 0, "127.0.0.1:0", "127.0.0.1:0"
	if o.HTTPAddr != "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	o.Out = b.banner
	o.Log = slog.New(slog.NewJSONHandler(b.log, nil))
	o.WorkerLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
	ready := make(chan Env, 1)
	o.OnReady = func(e Env) { ready <- e }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30s")
		}
	})
	select {
	case b.env = <-ready:
	case err := <-done:
		t.Fatalf("dev.Run returned before it was ready: %v\n%s", err, b.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("dev not ready within 60s:\n%s", b.log.String())
	}
	nc, err := nats.Connect(b.env.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if b.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return b
}

// lines are dev's log lines so far.
func (b *devBundle) lines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.log.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after within.
func (b *devBundle) waitFor(what string, within time.Duration, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for %s; dev's lines:\n%s", within, what, b.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastSweep is the mark of the last successful sweep, when there is one.
func (b *devBundle) lastSweep() (sweep.Mark, bool) {
	kv, err := b.js.KeyValue(b.t.Context(), ledger.DefaultBucket)
	if err != nil {
		return sweep.Mark{}, false
	}
	m, ok, err := sweep.LastSweep(b.t.Context(), kv)
	return m, ok && err == nil
}

// published returns every waba.shared on the stream so far.
func (b *devBundle) published() []events.Shared {
	b.t.Helper()
	ctx := b.t.Context()
	cons, err := b.js.OrderedConsumer(ctx, wabatype.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{wabatype.DefaultSubject}})
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	var out []events.Shared
	for left := int(info.NumPending); left > 0; {
		batch, err := cons.Fetch(left, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.t.Fatal(err)
		}
		for msg := range batch.Messages() {
			ev, _ := events.Decode(msg.Data())
			out = append(out, ev)
			left--
		}
		if err := batch.Error(); err != nil {
			b.t.Fatalf("fetch the inputs: %v (%d left)", err, left)
		}
	}
	return out
}

// The demo shares SweepWABAID "while the webhook was down": no webhook, no
// event. The first sweep (2s after the demo's other results) finds it; the worker assigns it;
// dev's result line says source=sweep, and the demo's count waits for it.
func TestDemoSweepFindsTheWABASharedWhileTheWebhookWasDown(t *testing.T) {
	t.Parallel()
	b := startDev(t, Options{Demo: 3})
	start := time.Now()
	var done map[string]any
	b.waitFor("demo: done", 60*time.Second, func() bool {
		for _, l := range b.lines() {
			if l["msg"] == "demo: done; the worker keeps running (Ctrl-C stops it)" {
				done = l
			}
		}
		return done != nil
	})
	var swept []map[string]any
	for _, l := range b.lines() {
		if l["waba_id"] == SweepWABAID && (l["outcome"] == "succeeded" || l["outcome"] == "failed") {
			swept = append(swept, l)
		}
	}
	if len(swept) != 1 || swept[0]["outcome"] != "succeeded" || swept[0]["source"] != sweep.Source ||
		swept[0]["system_user_id"] != emulator.DevSystemUserID || swept[0]["already_assigned"] != false ||
		!strings.HasPrefix(swept[0]["event_id"].(string), "sweep-"+SweepWABAID+"-") {
		t.Fatalf("result lines of %s: %v\n%s", SweepWABAID, swept, b.log.String())
	}
	// Counted: 2 demo events that succeed, the signup, the sweep's; the
	// demo's last event fails.
	if done["succeeded"] != float64(4) || done["failed"] != float64(1) {
		t.Errorf("demo's count %v, want 4 succeeded and 1 failed", done)
	}
	if d := time.Since(start); d < SweepFirstDelay {
		t.Errorf("the demo was done %v after start, before the first sweep could run", d)
	}
	// Nothing but the sweep announced it: no webhook, no demo event.
	var inputs []string
	for _, ev := range b.published() {
		if ev.WabaID == SweepWABAID {
			inputs = append(inputs, ev.Source)
		}
	}
	if !slices.Equal(inputs, []string{sweep.Source}) {
		t.Errorf("waba.shared events of %s by source %v, want only [sweep]", SweepWABAID, inputs)
	}
	// The first sweep came after the demo's own results (app.Options.
	// SweepAfter): it emitted none of the WABAs the demo's events onboarded.
	for _, ev := range b.published() {
		if ev.Source == sweep.Source && ev.WabaID != SweepWABAID {
			t.Errorf("the sweep emitted %s, a WABA of the demo's own events", ev.WabaID)
		}
	}
	if got := b.env.Graph.Assignments(SweepWABAID)[emulator.DevSystemUserID]; !slices.Equal(got, []string{"MANAGE"}) {
		t.Errorf("the emulator's assignment of %s: %v", SweepWABAID, got)
	}
	// dev said what the sweep published, and the banner says it sweeps.
	found := false
	for _, l := range b.lines() {
		found = found || (strings.HasPrefix(l["msg"].(string), "sweep: ") && l["waba_id"] == SweepWABAID)
	}
	if !found {
		t.Errorf("no line for the sweep's waba.shared:\n%s", b.log.String())
	}
	if !strings.Contains(b.banner.String(), "discovery sweep every 1m, the first 2s after the demo's own results") {
		t.Errorf("banner:\n%s", b.banner.String())
	}
	// Every result line names its source.
	for _, l := range b.lines() {
		if (l["outcome"] == "succeeded" || l["outcome"] == "failed") && l["source"] == nil {
			t.Errorf("result line without a source: %v", l)
		}
	}
}

// The seeded WABAs the demo does not use start onboarded (in the emulator
// and in the ledger), so the first sweep lists them all and emits none.
func TestPreOnboardedSeededWABAsAreNotEmittedByTheFirstSweep(t *testing.T) {
	t.Parallel()
	b := startDev(t, Options{})
	b.waitFor("the first sweep's mark", 30*time.Second, func() bool { _, ok := b.lastSweep(); return ok })
	if n := b.env.Graph.Count(graph.OpListClientWABAs); n < 1 {
		t.Errorf("%d list calls, want the sweep's", n)
	}
	for _, ev := range b.published() {
		t.Errorf("the first sweep published %+v, want nothing (every seeded WABA is onboarded)", ev)
	}
	kv, err := b.js.KeyValue(t.Context(), ledger.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.New(kv)
	for _, id := range emulator.DevWABAIDs() {
		r, ok, err := store.Get(t.Context(), id)
		if err != nil || !ok || r.State != ledger.StateAssigned || r.EventID != PreOnboardEventID ||
			r.SystemUserID != emulator.DevSystemUserID || !slices.Equal(r.HeldTasks, []string{"MANAGE"}) {
			t.Errorf("ledger record of %s: %+v, %v, %v", id, r, ok, err)
		}
		if got := b.env.Graph.Assignments(id)[emulator.DevSystemUserID]; !slices.Equal(got, []string{"MANAGE"}) {
			t.Errorf("the emulator's assignment of %s: %v", id, got)
		}
	}
	// Without a demo nothing is shared while the webhook was down.
	if b.env.Graph.Assignments(SweepWABAID) != nil {
		t.Errorf("%s exists without a demo", SweepWABAID)
	}
}

// The demo's WABAs are left to the demo: only the others start onboarded.
func TestDemoWABAsAreNotPreOnboarded(t *testing.T) {
	t.Parallel()
	ids := emulator.DevWABAIDs()
	if got := demoWABAs(3); !slices.Equal(got, []string{ids[0], ids[1], UnknownWABAID}) {
		t.Errorf("demoWABAs(3) = %v", got)
	}
	if got := demoWABAs(1); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("demoWABAs(1) = %v", got)
	}
	b := startDev(t, Options{Demo: 3, SweepInterval: NoSweep})
	b.waitFor("demo: done", 60*time.Second, func() bool { return strings.Contains(b.log.String(), "demo: done") })
	kv, err := b.js.KeyValue(t.Context(), ledger.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.New(kv)
	for i, id := range ids {
		r, _, err := store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if pre := r.EventID == PreOnboardEventID; pre != (i >= 2) {
			t.Errorf("ledger record of %s (demo's: %v): %+v", id, i < 2, r)
		}
	}
}

// SWEEP_INTERVAL=0 (NoSweep): the worker runs no sweep, the demo shares no
// WABA while the webhook was down and does not wait for one, and the banner
// says the sweep is off.
func TestSweepIntervalZeroDisablesDevSweep(t *testing.T) {
	t.Parallel()
	b := startDev(t, Options{Demo: 2, SweepInterval: NoSweep, HTTPAddr: DefaultHTTPAddr})
	var done map[string]any
	b.waitFor("demo: done", 60*time.Second, func() bool {
		for _, l := range b.lines() {
			if l["msg"] == "demo: done; the worker keeps running (Ctrl-C stops it)" {
				done = l
			}
		}
		return done != nil
	})
	if done["succeeded"] != float64(2) || done["failed"] != float64(1) {
		t.Errorf("demo's count %v, want 2 succeeded (a demo event, the signup) and 1 failed", done)
	}
	if !strings.Contains(b.banner.String(), "discovery sweep off (SWEEP_INTERVAL=0)") {
		t.Errorf("banner:\n%s", b.banner.String())
	}
	if b.env.Graph.Assignments(SweepWABAID) != nil {
		t.Errorf("%s was shared with the sweep off", SweepWABAID)
	}
	// The worker was told: its interval gauge is 0 (app.Run starts no sweep
	// then), and no sweep left a mark or listed the WABAs.
	resp, err := http.Get("http://" + b.env.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nwaba_sweep_interval_seconds 0\n") {
		t.Errorf("/metrics lacks waba_sweep_interval_seconds 0:\n%s", grepLines(string(body), "waba_sweep"))
	}
	if m, ok := b.lastSweep(); ok {
		t.Errorf("a sweep ran: %+v", m)
	}
	if n := b.env.Graph.Count(graph.OpListClientWABAs); n != 0 {
		t.Errorf("%d list calls with the sweep off", n)
	}
	for _, l := range b.lines() {
		if l["source"] == sweep.Source {
			t.Errorf("a sweep line with the sweep off: %v", l)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
