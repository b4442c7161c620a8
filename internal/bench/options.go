package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configure a run of the benchmark. They come from the flags
// (parseFlags): the defaults named here are the flags' defaults.
type Options struct {
	// Latencies are the Graph latencies of the worker rows. Defaults to 0,
	// 10ms, 100ms.
	Latencies []time.Duration
	// InFlight are the concurrencies (WORKER_CONCURRENCY). Defaults to 16,
	// 64, 256.
	InFlight []int
	// Events is the backlog of a row. Defaults to 20,000.
	Events int
	// SlowEvents is the backlog of a row whose latency is SlowLatency or
	// more. Defaults to 2,000.
	SlowEvents int
	// SlowLatency defaults to 100ms.
	SlowLatency time.Duration
	// Ceiling adds the JetStream-only rows. Defaults to true.
	Ceiling bool
	// Floor runs the floor program (floor.go) before each worker row, at its
	// latency and in-flight, so that the worker row shows its ratios to it.
	// Defaults to true.
	Floor bool
	// Repeat runs each floor/worker pair this many times, one pair after
	// the other, and the targets read the medians over them: one run's
	// floor ratio moves by a fifth or more on a shared 2-core machine.
	// Defaults to 1.
	Repeat int
	// GraphCeiling measures the Graph-only ceiling (graphonly.go) at the
	// latency and in-flight of each worker row with a latency. Defaults to
	// true.
	GraphCeiling bool
	// Big is the backlog of the memory row (0 skips it). Defaults to
	// 100,000.
	Big int
	// BigWork is how many of Big the worker works before it is stopped.
	// Defaults to 10,000.
	BigWork int
	// BigLatency and BigInFlight shape the memory row. Default to 10ms and
	// the largest of InFlight.
	BigLatency  time.Duration
	BigInFlight int

	// WorkerBin, when set, is a worker binary run as `WorkerBin run`;
	// otherwise this binary is re-executed as `bench child worker`.
	WorkerBin string
	// LogLevel of the worker. Defaults to info (its default), JSON, into a
	// file that is shown when a row fails.
	LogLevel string
	// MarkdownFile, when set, also gets the report with the table in
	// Markdown (for the README).
	MarkdownFile string
	// Command is the command line, printed with the report.
	Command string
	// ProfileDir, when set, gets a CPU profile of each row's worker and of
	// the bench process (NATS and the emulator), and each worker's
	// allocation profile (the CPU profile's name plus ".allocs").
	ProfileDir string
	// Stall fails a row when no result arrives for this long. Defaults to
	// 60s.
	Stall time.Duration
	// Deliveries watches the messages the server sends the worker, for the
	// time an event spends in the worker and the breakdown. It costs the
	// bench process some CPU per event. Defaults to true.
	Deliveries bool
	// Gateway adds the webhook gateway rows (gateway.go). Defaults to true.
	Gateway bool
	// LeaseEvents over LeaseWABAs make the lease rows: many events per WABA,
	// each WABA's events adjacent in the stream (the worst case for the
	// one-writer lease), beside a plain row of as many events, one WABA
	// each, at LeaseLatency and LeaseInFlight. LeaseEvents 0 skips them.
	// Default to 2,000 over 200 at 10ms and 64 in flight.
	LeaseEvents, LeaseWABAs int
	LeaseLatency            time.Duration
	LeaseInFlight           int
	// SweepListed and SweepOnboarded make the sweep rows (sweep.go): a first
	// `worker sweep --dry-run` over SweepListed WABAs listed by the
	// emulator, SweepOnboarded of them assigned in the ledger, beside a row
	// of a tenth of each. SweepListed 0 skips them. Default to 10,000 and
	// 9,000.
	SweepListed, SweepOnboarded int
	// ScaleInFlight, when not 0, adds the scale row: the worker at
	// ScaleLatency with this many in flight, over ScaleEvents, beside the
	// InFlight rows at that latency. Default to 1,024 at 100ms over 8,000
	// events: about as many rounds of the in-flight as 2,000 events are at
	// 256 (7.8), so that filling the slots at the start and the last
	// round's tail weigh as much as in the 256 row.
	ScaleInFlight int
	ScaleLatency  time.Duration
	ScaleEvents   int
	// Replicas, when not 0, adds the replicas row: that many worker
	// processes against the same NATS, stream and durable consumer, each
	// with WORKER_CONCURRENCY ReplicasInFlight, draining one backlog of
	// Events (SlowEvents at SlowLatency or more) at ReplicasLatency.
	// Default to 2 at 10ms and 64 in flight each.
	Replicas         int
	ReplicasLatency  time.Duration
	ReplicasInFlight int
	// Only, when not empty, runs only these kinds of row: ceiling, floor
	// (also run with worker), worker, scale, replicas, lease, memory,
	// sweep, gateway.
	Only []string
	// Verbose logs progress on stderr.
	Verbose bool
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bench [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs an in-process NATS JetStream server, the Graph emulator and the worker (as a")
		fmt.Fprintln(stderr, "child process) on this machine, drains a backlog of waba.shared events per row")
		fmt.Fprintln(stderr, "and prints throughput, latency, Graph calls, CPU and memory against the limit")
		fmt.Fprintln(stderr, "C/(3·L). It reports; it does not fail on a missed target.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "CI-sized run: backlogs of 2,000 (200 at 100ms, 800 for the scale row), memory row of 20,000 with 1,000 worked, sweep of 2,000 listed")
	lat := fs.String("latency", "0,10ms,100ms", "comma list of Graph latencies")
	inflight := fs.String("inflight", "16,64,256", "comma list of events in flight (WORKER_CONCURRENCY)")
	events := fs.Int("events", 20000, "backlog per row")
	slow := fs.Int("slow-events", 2000, "backlog per row at -slow-latency or more")
	slowLat := fs.Duration("slow-latency", 100*time.Millisecond, "latency from which -slow-events applies")
	ceiling := fs.Bool("ceiling", true, "measure the JetStream ceiling (no Graph work) at each in-flight")
	floor := fs.Bool("floor", true, "run the floor program (the worker's I/O and nothing else) before each worker row")
	repeat := fs.Int("repeat", 1, "run each floor/worker pair this many times, one pair after the other; the targets read the medians")
	graphCeiling := fs.Bool("graph-ceiling", true, "measure the Graph-only ceiling (the three round trips alone, no NATS) at each worker row's latency and in-flight")
	big := fs.Int("big", 100000, "backlog of the memory row; 0 skips it")
	bigWork := fs.Int("big-work", 10000, "events the memory row works before stopping the worker")
	bigLat := fs.Duration("big-latency", 10*time.Millisecond, "Graph latency of the memory row")
	bigC := fs.Int("big-inflight", 0, "in flight of the memory row (default: the largest -inflight)")
	workerBin := fs.String("worker-bin", "", "a worker `binary` to run as 'binary run' (default: this binary re-executed, the same code)")
	logLevel := fs.String("log-level", "info", "the worker's LOG_LEVEL (logs go to a file)")
	md := fs.String("markdown", "", "also write the report, its table in Markdown, to this file")
	prof := fs.String("profile", "", "directory for CPU profiles of each row's worker and of the bench process, and of the worker's allocations (.allocs)")
	stall := fs.Duration("stall", 60*time.Second, "fail a row when no result arrives for this long")
	deliveries := fs.Bool("deliveries", true, "watch deliveries to the worker's inboxes (time in the worker, breakdown)")
	gw := fs.Bool("gateway", true, "measure the webhook gateway: signed POSTs/s with 1 and 100 changes against a JetStream async-publish ceiling")
	leaseEvents := fs.Int("lease-events", 2000, "events of the lease rows (many per WABA, and a plain row of as many); 0 skips them")
	leaseWABAs := fs.Int("lease-wabas", 200, "WABAs the lease row's events are spread over (adjacent in the stream)")
	leaseLat := fs.Duration("lease-latency", 10*time.Millisecond, "Graph latency of the lease rows")
	leaseC := fs.Int("lease-inflight", 64, "in flight of the lease rows")
	sweepListed := fs.Int("sweep-listed", 10000, "WABAs the emulator lists for the sweep rows (and a tenth of them for the smaller row); 0 skips them")
	sweepOnboarded := fs.Int("sweep-onboarded", 9000, "of -sweep-listed, the WABAs already assigned in the ledger (the rest are to emit)")
	scaleC := fs.Int("scale-inflight", 1024, "in flight of the scale row: the worker at -scale-latency beside the -inflight rows; 0 skips it")
	scaleLat := fs.Duration("scale-latency", 100*time.Millisecond, "Graph latency of the scale row")
	scaleEvents := fs.Int("scale-events", 8000, "backlog of the scale row (8,000 at 1,024 in flight: as many rounds of the slots as 2,000 at 256)")
	replicas := fs.Int("replicas", 2, "worker processes of the replicas row, sharing one stream, durable consumer and backlog; 0 skips it")
	replicasLat := fs.Duration("replicas-latency", 10*time.Millisecond, "Graph latency of the replicas row")
	replicasC := fs.Int("replicas-inflight", 64, "in flight of each process of the replicas row (its WORKER_CONCURRENCY)")
	only := fs.String("only", "", "comma list of the kinds of row to run: ceiling, floor, worker, scale, replicas, lease, memory, sweep, gateway (default: all); worker brings its floor rows, scale and replicas the worker row they are compared with")
	verbose := fs.Bool("v", false, "log progress on stderr")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := Options{
		Events: *events, SlowEvents: *slow, SlowLatency: *slowLat, Ceiling: *ceiling, Floor: *floor, GraphCeiling: *graphCeiling, Repeat: *repeat,
		Big: *big, BigWork: *bigWork, BigLatency: *bigLat, BigInFlight: *bigC,
		WorkerBin: *workerBin, LogLevel: *logLevel, MarkdownFile: *md, ProfileDir: *prof,
		Stall: *stall, Verbose: *verbose, Deliveries: *deliveries, Gateway: *gw,
		LeaseEvents: *leaseEvents, LeaseWABAs: *leaseWABAs, LeaseLatency: *leaseLat, LeaseInFlight: *leaseC,
		SweepListed: *sweepListed, SweepOnboarded: *sweepOnboarded,
		ScaleInFlight: *scaleC, ScaleLatency: *scaleLat, ScaleEvents: *scaleEvents,
		Replicas: *replicas, ReplicasLatency: *replicasLat, ReplicasInFlight: *replicasC,
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("events", &o.Events, 2000)
		def("slow-events", &o.SlowEvents, 200)
		def("big", &o.Big, 20000)
		def("big-work", &o.BigWork, 1000)
		def("sweep-listed", &o.SweepListed, 2000)
		def("sweep-onboarded", &o.SweepOnboarded, 1800)
		def("scale-events", &o.ScaleEvents, 800)
	}
	var err error
	if *only != "" {
		if o.Only, err = parseList(*only, parseKind); err != nil {
			return Options{}, fmt.Errorf("-only: %w", err)
		}
	}
	if o.Latencies, err = parseList(*lat, parseLatency); err != nil {
		return Options{}, fmt.Errorf("-latency: %w", err)
	}
	if o.InFlight, err = parseList(*inflight, parseInFlight); err != nil {
		return Options{}, fmt.Errorf("-inflight: %w", err)
	}
	if o.BigInFlight == 0 {
		o.BigInFlight = slices.Max(o.InFlight)
	}
	switch {
	case o.Events < 1 || o.SlowEvents < 1:
		return Options{}, errors.New("-events and -slow-events must be at least 1")
	case o.Big < 0 || (o.Big > 0 && (o.BigWork < 1 || o.BigWork > o.Big)):
		return Options{}, errors.New("-big-work must be from 1 to -big")
	case o.BigInFlight < 1 || o.BigInFlight > 4096:
		return Options{}, errors.New("-big-inflight must be from 1 to 4096")
	case o.Repeat < 1 || o.Repeat > 20:
		return Options{}, errors.New("-repeat must be from 1 to 20")
	case o.Stall <= 0:
		return Options{}, errors.New("-stall must be positive")
	case o.LeaseEvents < 0 || (o.LeaseEvents > 0 && (o.LeaseWABAs < 1 || o.LeaseWABAs > o.LeaseEvents)):
		return Options{}, errors.New("-lease-wabas must be from 1 to -lease-events")
	case o.LeaseInFlight < 1 || o.LeaseInFlight > 4096:
		return Options{}, errors.New("-lease-inflight must be from 1 to 4096")
	case o.SweepListed < 0 || (o.SweepListed > 0 && (o.SweepOnboarded < 0 || o.SweepOnboarded > o.SweepListed)):
		return Options{}, errors.New("-sweep-onboarded must be from 0 to -sweep-listed")
	case o.ScaleInFlight < 0 || o.ScaleInFlight > 4096:
		return Options{}, errors.New("-scale-inflight must be from 0 to 4096")
	case o.ScaleInFlight > 0 && o.ScaleEvents < 1:
		return Options{}, errors.New("-scale-events must be at least 1")
	case o.Replicas < 0 || o.Replicas == 1 || o.Replicas > 16:
		return Options{}, errors.New("-replicas must be 0 or from 2 to 16")
	case o.ReplicasInFlight < 1 || o.ReplicasInFlight > 4096:
		return Options{}, errors.New("-replicas-inflight must be from 1 to 4096")
	}
	return o, nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

func parseKind(s string) (string, error) {
	switch s {
	case "ceiling", "floor", "worker", "scale", "replicas", "lease", "memory", "sweep", "gateway":
		return s, nil
	}
	return "", fmt.Errorf("%q is not ceiling, floor, worker, scale, replicas, lease, memory, sweep or gateway", s)
}

func parseLatency(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 10ms", s)
	}
	return d, nil
}

func parseInFlight(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 4096 {
		return 0, fmt.Errorf("%q is not a whole number from 1 to 4096", s)
	}
	return n, nil
}

// kind is what a row runs.
type kind int

const (
	kindCeiling  kind = iota + 1 // the JetStream-only loop
	kindWorker                   // the worker draining a backlog
	kindLease                    // the worker draining a backlog of many events per WABA
	kindFloor                    // the least program doing the worker's I/O (floor.go)
	kindMemory                   // the worker working part of a big backlog
	kindScale                    // the worker at a larger in-flight than the worker rows'
	kindReplicas                 // several worker processes draining one backlog
)

// scenario is one row of the table.
type scenario struct {
	kind     kind
	latency  time.Duration
	inFlight int
	events   int // published before the worker starts
	work     int // results waited for
	wabas    int // distinct WABAs the events are for; 0: one per event
	replicas int // worker processes, each with inFlight slots; 0: one
}

// procs is the number of worker processes of the row.
func (s scenario) procs() int { return max(s.replicas, 1) }

// slots is the events in flight over all the row's processes.
func (s scenario) slots() int { return s.inFlight * s.procs() }

// waba is the number of event n's WABA: n itself, or with wabas, events/wabas
// adjacent events share one.
func (s scenario) waba(n int) int {
	if s.wabas <= 0 {
		return n
	}
	return n / ((s.events + s.wabas - 1) / s.wabas)
}

// newWABAs is how many WABAs the scenario's events are for.
func (s scenario) newWABAs() int {
	if s.wabas <= 0 {
		return s.events
	}
	return s.waba(s.events-1) + 1
}

// wantCalls is the Graph calls the events need: three for a WABA's first
// event (read, POST, verify), one for each later one (a read: already
// assigned). The lease itself makes none.
func (s scenario) wantCalls() int { return 3*s.newWABAs() + (s.events - s.newWABAs()) }

func (s scenario) name() string {
	switch s.kind {
	case kindCeiling:
		return "JetStream ceiling"
	case kindMemory:
		return fmt.Sprintf("%s waiting", count(s.events))
	case kindFloor:
		return "floor program"
	case kindLease:
		if s.wabas <= 0 {
			return "lease, 1 per WABA"
		}
		return fmt.Sprintf("lease, %d per WABA", (s.events+s.wabas-1)/s.wabas)
	case kindScale:
		return "worker, scale"
	case kindReplicas:
		return fmt.Sprintf("%d replicas", s.procs())
	}
	return "worker"
}

// baseOf is the worker row of scs that row s is measured against: for the
// scale row, the one at its latency with the most in flight below its own;
// for the replicas row, the one process at its latency and in-flight.
func baseOf(s scenario, scs []scenario) (base scenario, ok bool) {
	for _, w := range scs {
		if w.kind != kindWorker || w.latency != s.latency {
			continue
		}
		switch {
		case s.kind == kindScale && w.inFlight < s.inFlight && (!ok || w.inFlight > base.inFlight),
			s.kind == kindReplicas && w.inFlight == s.inFlight:
			base, ok = w, true
		}
	}
	return base, ok
}

// scenarios lists the rows in table order: the ceilings, the worker by
// latency then in-flight (each after its floor row), the scale row, the
// replicas row, the lease rows, the memory row.
func (o Options) scenarios() (out []scenario) {
	defer func() {
		if len(o.Only) > 0 {
			// A scale or replicas row brings the worker row it is compared
			// with (baseOf), without its floor row.
			var bases []scenario
			for _, s := range out {
				if slices.Contains(o.Only, kindName(s.kind)) {
					if b, ok := baseOf(s, out); ok {
						bases = append(bases, b)
					}
				}
			}
			out = slices.DeleteFunc(out, func(s scenario) bool {
				// A worker row brings its floor row (-floor=false drops it).
				return !slices.Contains(o.Only, kindName(s.kind)) && (s.kind != kindFloor || !slices.Contains(o.Only, "worker")) &&
					!slices.Contains(bases, s)
			})
		}
	}()
	if o.Ceiling {
		for _, c := range o.InFlight {
			out = append(out, scenario{kind: kindCeiling, inFlight: c, events: o.Events, work: o.Events})
		}
	}
	for _, l := range o.Latencies {
		n := o.Events
		if l >= o.SlowLatency {
			n = o.SlowEvents
		}
		for _, c := range o.InFlight {
			for range max(o.Repeat, 1) {
				if o.Floor {
					out = append(out, scenario{kind: kindFloor, latency: l, inFlight: c, events: n, work: n})
				}
				out = append(out, scenario{kind: kindWorker, latency: l, inFlight: c, events: n, work: n})
			}
		}
	}
	if o.ScaleInFlight > 0 {
		// No floor row: it would double the row's time, and the scale row
		// asks whether more slots still buy events/s, not what the worker
		// costs over the floor (the -inflight rows say that).
		out = append(out, scenario{kind: kindScale, latency: o.ScaleLatency, inFlight: o.ScaleInFlight, events: o.ScaleEvents, work: o.ScaleEvents})
	}
	if o.Replicas > 0 {
		n := o.Events
		if o.ReplicasLatency >= o.SlowLatency {
			n = o.SlowEvents
		}
		out = append(out, scenario{kind: kindReplicas, latency: o.ReplicasLatency, inFlight: o.ReplicasInFlight,
			events: n, work: n, replicas: o.Replicas})
	}
	if o.LeaseEvents > 0 {
		for _, w := range []int{0, o.LeaseWABAs} {
			out = append(out, scenario{kind: kindLease, latency: o.LeaseLatency, inFlight: o.LeaseInFlight,
				events: o.LeaseEvents, work: o.LeaseEvents, wabas: w})
		}
	}
	if o.Big > 0 {
		out = append(out, scenario{kind: kindMemory, latency: o.BigLatency, inFlight: o.BigInFlight, events: o.Big, work: o.BigWork})
	}
	return out
}
