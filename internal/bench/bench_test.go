package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play a row's process: the benchmark
// re-executes its own binary as `<binary> child ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := child(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	scs := o.scenarios()
	// 3 ceilings, 3 latencies x 3 in-flights (a floor row before each
	// worker row), the scale row, the replicas row, 2 lease rows, the
	// memory row.
	if len(scs) != 26 {
		t.Fatalf("%d rows, want 26", len(scs))
	}
	for i := 3; i < 21; i += 2 {
		if f, w := scs[i], scs[i+1]; f.kind != kindFloor || w.kind != kindWorker || f.latency != w.latency || f.inFlight != w.inFlight || f.events != w.events {
			t.Errorf("rows %d, %d: %+v then %+v, want a floor row then its worker row", i, i+1, f, w)
		}
	}
	if sc := scs[21]; sc.kind != kindScale || sc.latency != 100*time.Millisecond || sc.inFlight != 1024 || sc.events != 8000 || sc.slots() != 1024 {
		t.Errorf("scale row %+v", sc)
	}
	if r := scs[22]; r.kind != kindReplicas || r.latency != 10*time.Millisecond || r.inFlight != 64 || r.replicas != 2 || r.events != 20000 ||
		r.slots() != 128 || r.wantCalls() != 60000 || r.name() != "2 replicas" {
		t.Errorf("replicas row %+v", r)
	}
	if l := scs[24]; l.kind != kindLease || l.events != 2000 || l.wabas != 200 || l.newWABAs() != 200 || l.wantCalls() != 2400 || l.waba(19) != 1 {
		t.Errorf("lease row %+v", l)
	}
	if l := scs[23]; l.kind != kindLease || l.wabas != 0 || l.newWABAs() != 2000 || l.wantCalls() != 6000 || l.waba(19) != 19 {
		t.Errorf("plain lease row %+v", l)
	}
	if m := scs[25]; m.kind != kindMemory || m.events != 100000 || m.work != 10000 || m.inFlight != 256 {
		t.Errorf("memory row %+v", m)
	}
	for _, s := range scs {
		if s.kind == kindWorker && s.latency == 100*time.Millisecond && s.events != 2000 {
			t.Errorf("100ms row with %d events, want 2000", s.events)
		}
	}

	q, err := parseFlags([]string{"-quick", "-events", "500", "-only", "worker,memory", "-latency", "10ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	scs = q.scenarios()
	// -only worker keeps the floor rows: 3 floor + 3 worker + memory.
	if len(scs) != 7 || scs[0].kind != kindFloor || scs[0].events != 500 || scs[6].events != 20000 || scs[6].work != 1000 {
		t.Errorf("quick rows %+v", scs)
	}
	// The sweep rows are not scenarios: a tenth and all of -sweep-listed,
	// with the ledger, then with an empty one.
	if got, want := o.sweepRows(), [][2]int{{1000, 900}, {10000, 9000}, {1000, 0}, {10000, 0}}; !slices.Equal(got, want) {
		t.Errorf("sweep rows %v, want %v", got, want)
	}
	if got, want := q.sweepRows(), [][2]int(nil); !slices.Equal(got, want) {
		t.Errorf("-only worker,memory: sweep rows %v", got)
	}
	for _, tc := range []struct {
		args []string
		want [][2]int
	}{
		{[]string{"-quick"}, [][2]int{{200, 180}, {2000, 1800}, {200, 0}, {2000, 0}}},
		{[]string{"-quick", "-only", "sweep", "-sweep-listed", "300", "-sweep-onboarded", "250"}, [][2]int{{30, 25}, {300, 250}, {30, 0}, {300, 0}}},
		{[]string{"-sweep-listed", "5", "-sweep-onboarded", "0"}, [][2]int{{5, 0}}},
		{[]string{"-sweep-listed", "0"}, nil},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.sweepRows(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: sweep rows %v, want %v", tc.args, got, tc.want)
		}
		if tc.args[0] == "-quick" && len(o.Only) > 0 && len(o.scenarios()) != 0 {
			t.Errorf("%q: runs %d other rows", tc.args, len(o.scenarios()))
		}
	}

	// -only scale,replicas brings the worker rows they are compared with
	// (100ms at 256, 10ms at 64), without their floor rows; -quick shrinks
	// the scale row like the other 100ms rows.
	for _, tc := range []struct {
		args []string
		want []scenario
	}{
		{[]string{"-only", "scale,replicas"}, []scenario{
			{kind: kindWorker, latency: 10 * time.Millisecond, inFlight: 64, events: 20000, work: 20000},
			{kind: kindWorker, latency: 100 * time.Millisecond, inFlight: 256, events: 2000, work: 2000},
			{kind: kindScale, latency: 100 * time.Millisecond, inFlight: 1024, events: 8000, work: 8000},
			{kind: kindReplicas, latency: 10 * time.Millisecond, inFlight: 64, events: 20000, work: 20000, replicas: 2},
		}},
		{[]string{"-quick", "-only", "scale"}, []scenario{
			{kind: kindWorker, latency: 100 * time.Millisecond, inFlight: 256, events: 200, work: 200},
			{kind: kindScale, latency: 100 * time.Millisecond, inFlight: 1024, events: 800, work: 800},
		}},
		{[]string{"-quick", "-only", "replicas", "-replicas", "3", "-replicas-inflight", "16", "-replicas-latency", "1s", "-latency", "1s"}, []scenario{
			{kind: kindWorker, latency: time.Second, inFlight: 16, events: 200, work: 200},
			{kind: kindReplicas, latency: time.Second, inFlight: 16, events: 200, work: 200, replicas: 3},
		}},
		// Only a row of -latency x -inflight is brought.
		{[]string{"-only", "replicas", "-replicas-latency", "1s"}, []scenario{
			{kind: kindReplicas, latency: time.Second, inFlight: 64, events: 2000, work: 2000, replicas: 2},
		}},
		{[]string{"-only", "scale,replicas", "-inflight", "16", "-latency", "0"}, []scenario{
			{kind: kindScale, latency: 100 * time.Millisecond, inFlight: 1024, events: 8000, work: 8000},
			{kind: kindReplicas, latency: 10 * time.Millisecond, inFlight: 64, events: 20000, work: 20000, replicas: 2},
		}},
		{[]string{"-only", "scale,replicas", "-scale-inflight", "0", "-replicas", "0"}, nil},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.scenarios(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: rows\n%+v\nwant\n%+v", tc.args, got, tc.want)
		}
	}

	nf, err := parseFlags([]string{"-only", "worker", "-floor=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nf.scenarios() {
		if s.kind != kindWorker {
			t.Errorf("-only worker -floor=false runs %+v", s)
		}
	}

	for _, bad := range [][]string{
		{"-latency", "fast"}, {"-inflight", "0"}, {"-only", "all"}, {"-big", "10", "-big-work", "20"}, {"extra"},
		{"-lease-events", "10", "-lease-wabas", "11"}, {"-lease-inflight", "0"},
		{"-sweep-listed", "10", "-sweep-onboarded", "11"}, {"-sweep-listed", "-1"}, {"-sweep-onboarded", "-1"},
		{"-scale-inflight", "5000"}, {"-scale-inflight", "-1"}, {"-scale-events", "0"},
		{"-replicas", "1"}, {"-replicas", "-1"}, {"-replicas", "17"}, {"-replicas-inflight", "0"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestAckSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		subj    string
		dc, seq uint64
		ok      bool
	}{
		{"$JS.ACK.WABA.waba-assigner.1.42.40.1764100000000000000.17", 1, 42, true},
		{"$JS.ACK.hub.ACCHASH.WABA.waba-assigner.3.7.9.1764100000000000000.0.tok", 3, 7, true},
		{"_INBOX.abc.def", 0, 0, false},
		{"$JS.ACK.WABA.waba-assigner.x.1.1.1.1", 0, 0, false},
		{"$JS.ACK.WABA", 0, 0, false},
	}
	for _, c := range cases {
		dc, seq, ok := ackSubject(c.subj)
		if dc != c.dc || seq != c.seq || ok != c.ok {
			t.Errorf("ackSubject(%q) = %d, %d, %v; want %d, %d, %v", c.subj, dc, seq, ok, c.dc, c.seq, c.ok)
		}
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 7, 99999} {
		if got := parseEventID(eventID(n)); got != n {
			t.Errorf("parseEventID(eventID(%d)) = %d", n, got)
		}
		if got := wabaIndex("/v25.0/" + wabaID(n) + "/assigned_users"); got != n {
			t.Errorf("wabaIndex of WABA %d = %d", n, got)
		}
	}
	for _, s := range []string{"evt-1", "bench-", "bench-x"} {
		if got := parseEventID(s); got != -1 {
			t.Errorf("parseEventID(%q) = %d, want -1", s, got)
		}
	}
	if got := wabaIndex("/v25.0/100200300/system_users"); got >= 0 {
		t.Errorf("a business id maps to event %d", got)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-1: "n/a", 850 * time.Microsecond: "850µs", 1234 * time.Microsecond: "1.23ms",
		42 * time.Millisecond: "42ms", 1500 * time.Millisecond: "1.50s", 37 * time.Second: "37.0s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	p := percentiles([]time.Duration{5, 1, 4, 2, 3})
	if p[0] != 3 || p[1] != 5 {
		t.Errorf("percentiles = %v", p)
	}
}

// TestRun runs a tiny table end to end: the ceiling, the worker, the scale,
// the lease and the memory rows, each as a child process (the replicas row
// has its own test). It checks that every row
// completes with one result per event and the Graph calls it needs (3 per
// new WABA, 1 per later event of a WABA), not how fast.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, the emulator and child processes")
	}
	t.Parallel()
	prof := t.TempDir()
	o, err := parseFlags([]string{"-latency", "0,1ms", "-inflight", "4", "-events", "40", "-big", "200", "-big-work", "20", "-stall", "30s", "-gateway=false",
		"-lease-events", "40", "-lease-wabas", "4", "-lease-latency", "1ms", "-lease-inflight", "4",
		"-scale-inflight", "8", "-scale-latency", "1ms", "-scale-events", "40", "-replicas", "0", "-profile", prof}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(t.Context(), o, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "failed") {
		t.Fatalf("a row failed:\n%s", text)
	}
	rows := 0
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(line, " ") || (f[0] != "worker" && f[0] != "worker," && f[0] != "floor" && f[0] != "JetStream" && f[0] != "200" && f[0] != "lease,") {
			continue
		}
		rows++
		switch {
		case strings.HasPrefix(line, "lease, 10 per WABA"):
			if !strings.Contains(line, " 1.20 ") { // (3·4 + 36) / 40
				t.Errorf("not 1.20 Graph calls per event: %s", line)
			}
		case f[0] != "JetStream" && !strings.Contains(line, " 3.00 "):
			t.Errorf("not 3.00 Graph calls per event: %s", line)
		}
	}
	if rows != 9 {
		t.Errorf("%d rows, want 9:\n%s", rows, text)
	}
	for _, want := range []string{"Targets", "Where an event's time", "peak RSS < 100 MiB",
		"[met]          lease, 10 per WABA: Graph calls", "parked behind their WABA",
		"floor program", "worker CPU/event <= 1.25x the floor program's",
		"worker, scale           1ms          8", "1ms: events/s grows from 4 to 8 in flight, no errors",
		"The Graph-only ceiling", "1ms      4 in flight: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// -profile: each worker's CPU and allocation profiles, and the bench's.
	for _, name := range []string{"worker.pprof", "worker.pprof.allocs", "bench.pprof"} {
		if m, _ := filepath.Glob(filepath.Join(prof, "*-worker-1ms-c4."+name)); len(m) == 0 {
			ls, _ := os.ReadDir(prof)
			t.Errorf("-profile wrote no %s of the 1ms worker row; it holds %v", name, ls)
		}
	}
}

// -repeat runs each floor/worker pair that many times, pair after pair;
// each worker row is compared with its own floor row, and the targets read
// the medians.
func TestRepeatMedians(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-repeat", "3", "-only", "worker", "-latency", "10ms", "-inflight", "64"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	scs := o.scenarios()
	if len(scs) != 6 {
		t.Fatalf("%d rows, want 3 floor/worker pairs", len(scs))
	}
	for i := 0; i < 6; i += 2 {
		if scs[i].kind != kindFloor || scs[i+1].kind != kindWorker {
			t.Fatalf("rows %d, %d: %v then %v, want a floor row then its worker row", i, i+1, scs[i].kind, scs[i+1].kind)
		}
	}
	if _, err := parseFlags([]string{"-repeat", "0"}, io.Discard); err == nil {
		t.Error("-repeat 0 accepted")
	}

	// Three pairs whose CPU ratios are 1.10, 1.60 and 1.20: the median is
	// 1.20 (met), while the first pair's floor compared with the last
	// worker would say 2.00.
	sc := func(k kind) scenario {
		return scenario{kind: k, latency: 10 * time.Millisecond, inFlight: 64, events: 1000, work: 1000}
	}
	ms := time.Millisecond
	var rs []result
	for i, p := range []struct {
		floorCPU, workerCPU time.Duration
		rate                float64
	}{{100 * ms, 110 * ms, 1800}, {100 * ms, 160 * ms, 1500}, {110 * ms, 132 * ms, 1700}} {
		rs = append(rs, result{scenario: sc(kindFloor), seq: 2 * i, rate: 1600, workerCPU: p.floorCPU},
			result{scenario: sc(kindWorker), seq: 2*i + 1, rate: p.rate, workerCPU: p.workerCPU})
	}
	if f, ok := floorOf(rs[5], rs); !ok || f.seq != 4 {
		t.Errorf("floorOf the third worker row: seq %d, %v; want its own floor row, seq 4", f.seq, ok)
	}
	ps := medians(rs)
	if len(ps) != 1 || ps[0].n != 3 || ps[0].rate != 1700 || ps[0].cpuRatio < 1.199 || ps[0].cpuRatio > 1.201 {
		t.Fatalf("medians %+v, want 3 runs, 1700 events/s, CPU ratio 1.20", ps)
	}
	var out bytes.Buffer
	printMedians(&out, rs)
	targets(&out, Options{}, rs, nil, nil)
	printGraphCeilings(&out, []graphCeiling{{latency: 10 * time.Millisecond, inFlight: 64, events: 1000, rate: 2000}}, rs)
	text := out.String()
	for _, want := range []string{"Medians over the repeated floor/worker pairs",
		"floor program 0.80 of it (median of 3); worker 0.85 of it (median of 3)", "10ms    64 in flight, 3 runs: worker 1700 events/s (0.80 of C/(3·L))",
		"[met]          10 ms, 64 in flight: worker CPU/event <= 1.25x the floor program's 1.20x (median of 3 pairs: 1.10, 1.60, 1.20; 1 of 3 pairs over 1.25x: within the noise)",
		"[missed]       10 ms, 64 in flight: events/s >= 0.95 of C/(3·L)               0.80 (median of 3 runs: 1700 of 2133 events/s)"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// The Graph-only ceiling runs once per latency and in-flight of the worker
// rows with a latency; its ratio is over C/(3·L).
func TestGraphCeilingRows(t *testing.T) {
	t.Parallel()
	scs := []scenario{
		{kind: kindFloor, latency: 10 * time.Millisecond, inFlight: 64},
		{kind: kindWorker, latency: 0, inFlight: 64},
		{kind: kindWorker, latency: 10 * time.Millisecond, inFlight: 64, events: 100},
		{kind: kindScale, latency: 100 * time.Millisecond, inFlight: 1024},
		{kind: kindLease, latency: 10 * time.Millisecond, inFlight: 64},
		{kind: kindWorker, latency: 10 * time.Millisecond, inFlight: 16},
	}
	got := graphCeilingRows(scs)
	if len(got) != 2 || got[0].inFlight != 64 || got[0].events != 100 || got[1].inFlight != 16 {
		t.Fatalf("graphCeilingRows = %+v, want the two 10ms worker rows", got)
	}
	g := graphCeiling{latency: 10 * time.Millisecond, inFlight: 64, rate: 1600}
	if r := g.ratio(); r < 0.749 || r > 0.751 {
		t.Errorf("ratio %.3f, want 0.75 (1600 of 2133)", r)
	}
}

// The memory target is about 100,000 waiting events: a quick run's smaller
// backlog leaves it "not measured", not "missed".
func TestMemoryTargetNeedsTheFullBacklog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		events int
		rss    int64
		want   string
	}{
		{20_000, 40 << 20, "[not measured]"},
		{100_000, 47 << 20, "[met]"},
		{100_000, 120 << 20, "[missed]"},
	} {
		var out strings.Builder
		targets(&out, Options{}, []result{{scenario: scenario{kind: kindMemory, events: tc.events, work: 1000, inFlight: 256}, peakRSS: tc.rss}}, nil, nil)
		var got string
		for line := range strings.Lines(out.String()) {
			if strings.Contains(line, "100,000 events waiting") {
				got = line
			}
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%d events, %d MiB: %q, want %s", tc.events, tc.rss>>20, got, tc.want)
		}
	}
}

// TestGatewayRows runs tiny gateway rows: every signed POST is answered 200
// (no errors) and the table shows both batch sizes against the ceiling.
func TestGatewayRows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and the gateway")
	}
	t.Parallel()
	rs := []gatewayResult{runCeilingAsync(t.Context(), 50, 1), runGatewayRow(t.Context(), 50, 1),
		runCeilingAsync(t.Context(), 5, 100), runGatewayRow(t.Context(), 5, 100)}
	for _, r := range rs {
		if r.err != nil || r.errors != 0 || r.window <= 0 {
			t.Errorf("row %s, %d changes: %+v", r.name, r.changes, r)
		}
	}
	var out bytes.Buffer
	printGateway(&out, false, rs)
	for _, want := range []string{"JetStream async ceiling             1", "JetStream async ceiling           100", "gateway                             1", "gateway                           100", "answer p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSweepRows runs tiny sweep rows, `worker sweep --dry-run --json` as a
// child process: 300 listed of which 250 onboarded, and a tenth of each,
// then both with an empty ledger. It checks the counts (to emit, list
// calls, nothing published), not the times.
func TestSweepRows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, the emulator and child processes")
	}
	t.Parallel()
	o, err := parseFlags([]string{"-only", "sweep", "-sweep-listed", "300", "-sweep-onboarded", "250", "-stall", "60s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rs := runSweeps(t.Context(), o, t.Logf)
	want := []struct{ listed, onboarded, emit, pages int }{{30, 25, 5, 1}, {300, 250, 50, 3}, {30, 0, 30, 1}, {300, 0, 300, 3}}
	if len(rs) != len(want) {
		t.Fatalf("%d rows, want %d", len(rs), len(want))
	}
	for i, w := range want {
		r := rs[i]
		if r.err != nil {
			t.Fatalf("row %s: %v", r.name(), r.err)
		}
		if r.listed != w.listed || r.sum.Listed != w.listed || r.sum.Onboarded != w.onboarded || r.sum.WouldEmit != w.emit || r.lines != w.emit ||
			r.sum.Pages != w.pages || r.listCalls != w.pages || r.graphCalls != w.pages || r.published != 0 || !r.counted() {
			t.Errorf("row %s: %+v, want %+v", r.name(), r, w)
		}
		if r.peakRSS <= 1<<20 || r.process <= 0 || r.listing <= 0 {
			t.Errorf("row %s: peak RSS %d, process %s, listing %s", r.name(), r.peakRSS, r.process, r.listing)
		}
	}
	var out strings.Builder
	printSweeps(&out, false, rs)
	targets(&out, o, nil, rs, nil)
	for _, want := range []string{
		"sweep, 300 listed                       300        250       50           3            3",
		"sweep, 30 listed, empty ledger           30          0       30           1            1",
		"[met]          sweep, 300 listed: to emit = listed - onboarded, 3 list calls",
		"50 of 300 listed (250 onboarded), 3 list calls, 3 Graph calls, 0 not listed, 0 published (dry run)",
		"sweep, listing: peak RSS of 300 listed within 4 MiB of 30 listed (empty ledger)",
		"sweep: publishing is paced", "50 events at 5/s take 10.0s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReplicasRow runs a tiny replicas row, two worker processes with 16 in
// flight each draining 200 events, after the one-process row it is
// compared with. It checks that both processes worked events (their own
// /metrics), that their counts add up to one result per event, and that
// the lease kept Graph to 3 calls per new WABA; not how fast. 50ms per call
// makes one process alone take over a second, so the second one, started
// just after the first, gets its share.
func TestReplicasRow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, the emulator and child processes")
	}
	t.Parallel()
	o, err := parseFlags([]string{"-only", "replicas", "-replicas-inflight", "16", "-replicas-latency", "50ms", "-latency", "50ms", "-inflight", "16",
		"-events", "200", "-stall", "30s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	scs := o.scenarios()
	if len(scs) != 2 || scs[0].kind != kindWorker || scs[1].kind != kindReplicas || scs[1].procs() != 2 || scs[1].events != 200 {
		t.Fatalf("rows %+v, want the worker row at 50ms, 16 in flight, then 2 replicas", scs)
	}
	var rs []result
	for i, sc := range scs {
		r := runRow(t.Context(), o, sc, fmt.Sprintf("test-%d", i), t.Logf)
		if r.err != nil {
			t.Fatalf("row %s: %v", r.name(), r.err)
		}
		rs = append(rs, r)
	}
	rep := rs[1]
	if rep.results != 200 || rep.errors() != 0 || rep.graphCalls != 600 {
		t.Errorf("%d results, %d errors, %d Graph calls; want 200, 0, 600", rep.results, rep.errors(), rep.graphCalls)
	}
	if len(rep.procStats) != 2 {
		t.Fatalf("%d processes' stats, want 2", len(rep.procStats))
	}
	sum, calls := 0, 0
	for i, p := range rep.procStats {
		if p.events == 0 || p.graphCalls == 0 {
			t.Errorf("process %d worked %d events with %d Graph calls", i+1, p.events, p.graphCalls)
		}
		if p.peakRSS <= 1<<20 {
			t.Errorf("process %d: peak RSS %d", i+1, p.peakRSS)
		}
		sum += p.events
		calls += p.graphCalls
	}
	if sum != 200 || calls != 600 {
		t.Errorf("the processes worked %d events with %d Graph calls, want 200 and 600: %+v", sum, calls, rep.procStats)
	}

	var out strings.Builder
	tb := newTable(&out, false)
	tb.header()
	for i, r := range rs {
		tb.row(r, rs[:i+1])
	}
	targets(&out, o, rs, nil, nil)
	for _, want := range []string{
		"[met]          2 replicas: 3.00 Graph calls per new WABA, no errors",
		"[met]          2 replicas: every process works events, one result each",
		"2 replicas: events/s >= 1.6x one process's (50ms, 16 in flight)",
		"2 replicas: each process's CPU per event it worked, peak RSS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	rows := 0
	for line := range strings.Lines(out.String()) {
		if f := strings.Fields(line); len(f) > 13 && f[0] == "2" && f[1] == "replicas" {
			rows++
			// latency, in flight, events, ..., calls/ev
			if f[2] != "50ms" || f[3] != "2×16" || f[4] != "200" || !strings.Contains(line, " 3.00 ") {
				t.Errorf("replicas row: %s", line)
			}
		}
	}
	if rows != 1 {
		t.Errorf("%d replicas rows in the table, want 1:\n%s", rows, out.String())
	}
}

// The CPU target's line says when the pairs fall on both sides of 1.25x.
func TestStraddles(t *testing.T) {
	for _, c := range []struct {
		ratios []float64
		want   string
	}{
		{[]float64{1.10, 1.20, 1.25}, ""},
		{[]float64{1.30, 1.40}, ""},
		{[]float64{1.10, 1.60, 1.20}, "; 1 of 3 pairs over 1.25x: within the noise"},
		{[]float64{1.30}, ""},
	} {
		if got := straddles(c.ratios, 1.25); got != c.want {
			t.Errorf("straddles(%v) = %q, want %q", c.ratios, got, c.want)
		}
	}
}
