package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The Graph-only ceiling answers what the machine lets the Graph phase
// itself reach: the floor program's three round trips per event (GET, POST,
// GET assigned_users, bare net/http, keep-alive), C at a time, against the
// same emulator at the same latency, in a child process of its own, with no
// NATS, no lease, no result and no logic. Its events/s over C/(3·L) bounds
// what any program can reach here: what it misses of 1.00 is the machine
// (timers waking late, the loopback round trip, two cores shared by the
// client, the emulator and, in the rows, NATS), not the program.

// graphCeiling is one measurement of it.
type graphCeiling struct {
	latency  time.Duration
	inFlight int
	events   int
	rate     float64       // events/s
	rtMean   time.Duration // a round trip's mean, as the client saw it
	cpu      time.Duration // the child's CPU, its whole life
	err      error
}

// ratio is rate over C/(3·L).
func (g graphCeiling) ratio() float64 {
	return g.rate / (float64(g.inFlight) / (3 * g.latency.Seconds()))
}

// graphOnlyReport is what `bench child graph` prints on stdout.
type graphOnlyReport struct {
	Events      int     `json:"events"`
	Seconds     float64 `json:"seconds"`
	RoundTripUS float64 `json:"round_trip_mean_us"`
}

// runGraphOnly is `bench child graph`: -events events, -inflight at a time,
// each the three round trips for WABA wabaID(n); it prints a graphOnlyReport.
func runGraphOnly(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gf := addGraphFlags(fs)
	events := fs.Int("events", 1000, "events, each three round trips")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *events < 1 {
		return errors.New("-events must be at least 1")
	}
	calls, err := gf.calls()
	if err != nil {
		return err
	}
	inFlight := gf.inFlight
	var next atomic.Int64
	var rt atomic.Int64 // summed round trips, ns
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range min(*inFlight, *events) {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(next.Add(1) - 1)
				if n >= *events {
					return
				}
				t := time.Now()
				if err := calls.event(ctx, wabaID(n)); err != nil {
					once.Do(func() { first = err })
					return
				}
				rt.Add(int64(time.Since(t)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(graphOnlyReport{
		Events:      *events,
		Seconds:     elapsed.Seconds(),
		RoundTripUS: float64(rt.Load()) / float64(3**events) / 1e3,
	})
}

// measureGraphCeiling runs the Graph-only ceiling at latency l and c in
// flight over events events, against a fresh emulator like a row's.
func measureGraphCeiling(ctx context.Context, l time.Duration, c, events int) (g graphCeiling) {
	g = graphCeiling{latency: l, inFlight: c, events: events}
	fail := func(err error) graphCeiling { g.err = err; return g }
	em, err := newEmulator(l, events)
	if err != nil {
		return fail(err)
	}
	graphURL, stop, err := serveEmulator(em, &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	cmd := exec.CommandContext(ctx, self, append(append([]string{"child", "graph"}, graphArgs(graphURL, c)...),
		"-events", strconv.Itoa(events))...)
	cmd.Env = cleanEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("bench child graph: %w: %s", err, bytes.TrimSpace(errOut.Bytes())))
	}
	var rep graphOnlyReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Seconds <= 0 {
		return fail(fmt.Errorf("bench child graph printed %q", out.Bytes()))
	}
	if got := em.Count("*"); got != 3*events {
		return fail(fmt.Errorf("the emulator served %d calls, want %d", got, 3*events))
	}
	g.rate = float64(rep.Events) / rep.Seconds
	g.rtMean = time.Duration(rep.RoundTripUS * 1e3)
	if cpu, _, ok := childUsage(cmd.ProcessState); ok {
		g.cpu = cpu
	}
	return g
}

// graphCeilingRows are the (latency, in-flight) pairs of the worker rows
// with a latency, once each, with the row's backlog.
func graphCeilingRows(scs []scenario) (out []scenario) {
	for _, sc := range scs {
		if sc.kind == kindWorker && sc.latency > 0 && !slices.ContainsFunc(out, func(o scenario) bool {
			return o.latency == sc.latency && o.inFlight == sc.inFlight
		}) {
			out = append(out, sc)
		}
	}
	return out
}

// ceilingAt finds the measurement at latency l and c in flight, failed or
// not: a caller that reads its ratio checks err.
func ceilingAt(gs []graphCeiling, l time.Duration, c int) (graphCeiling, bool) {
	for _, g := range gs {
		if g.latency == l && g.inFlight == c {
			return g, true
		}
	}
	return graphCeiling{}, false
}

// printGraphCeilings prints the Graph-only ceilings beside the worker and
// floor rows at the same latency and in-flight. It reports whether it
// wrote anything.
func printGraphCeilings(w io.Writer, gs []graphCeiling, rs []result) bool {
	if len(gs) == 0 {
		return false
	}
	fmt.Fprintln(w, "The Graph-only ceiling: the three round trips per event alone (bare net/http, no NATS, no logic),")
	fmt.Fprintln(w, "in a child process against a fresh emulator; what it misses of C/(3·L) is this machine's, not a program's:")
	for _, g := range gs {
		head := fmt.Sprintf("  %-5s %4d in flight: ", latencyName(g.latency), g.inFlight)
		if g.err != nil {
			fmt.Fprintf(w, "%sfailed: %v\n", head, g.err)
			continue
		}
		line := fmt.Sprintf("%s%.0f events/s, %.2f of C/(3·L); a round trip %s on average for %s of latency; CPU/ev %s",
			head, g.rate, g.ratio(), dur(g.rtMean), latencyName(g.latency), perEvent(g.cpu, g.events))
		for _, k := range []kind{kindFloor, kindWorker} {
			var rates []float64
			name := ""
			for _, r := range rs {
				if r.kind == k && r.err == nil && r.latency == g.latency && r.inFlight == g.inFlight && r.rate > 0 {
					rates = append(rates, r.rate)
					name = r.name()
				}
			}
			switch {
			case len(rates) == 1:
				line += fmt.Sprintf("; %s %.2f of it", name, rates[0]/g.rate)
			case len(rates) > 1:
				line += fmt.Sprintf("; %s %.2f of it (median of %d)", name, median(rates)/g.rate, len(rates))
			}
		}
		fmt.Fprintln(w, line)
	}
	return true
}
