package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// procStat is one process's share of a replicas row: from its /metrics at
// the target, the events it worked and its Graph calls; from the bench,
// its CPU during the window and its peak RSS.
type procStat struct {
	events     int // waba_events_total, succeeded and failed
	graphCalls int // waba_graph_requests_total
	contended  int // leases it took after waiting for another holder
	cpu        time.Duration
	peakRSS    int64
}

// scrapeProcs reads each process's counters until they add up to work
// events (a process counts an event when it has worked it, about when it
// publishes the result the bench saw), or 10s passed: then it returns what
// it read, and the table shows the difference.
func scrapeProcs(ctx context.Context, procs []*proc, work int) ([]procStat, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out := make([]procStat, len(procs))
		sum := 0
		for i, p := range procs {
			st, err := scrapeProc(ctx, p.metricsAddr)
			if err != nil {
				return nil, fmt.Errorf("process %d of %d: %w", i+1, len(procs), err)
			}
			out[i] = st
			sum += st.events
		}
		if sum >= work {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, nil
		case <-tick.C:
		}
	}
}

func scrapeProc(ctx context.Context, addr string) (procStat, error) {
	var st procStat
	err := scrapeMetrics(ctx, addr, func(name, labels string, v float64) {
		switch {
		case name == "waba_events_total" && (strings.Contains(labels, `outcome="succeeded"`) || strings.Contains(labels, `outcome="failed"`)):
			st.events += int(v)
		case name == "waba_graph_requests_total":
			st.graphCalls += int(v)
		case name == "waba_lease_wait_seconds_count" && strings.Contains(labels, `contended="true"`):
			st.contended += int(v)
		}
	})
	return st, err
}

// baseResult is the row of rs, without error, that r is measured against
// (baseOf); nil when there is none.
func baseResult(r result, rs []result) *result {
	var scs []scenario
	for _, x := range rs {
		if x.err == nil {
			scs = append(scs, x.scenario)
		}
	}
	b, ok := baseOf(r.scenario, scs)
	for i := range rs {
		if ok && rs[i].err == nil && rs[i].scenario == b {
			return &rs[i]
		}
	}
	return nil
}

// lastOf is the last row of kind k without error; nil when there is none.
func lastOf(k kind, rs []result) *result {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].kind == k && rs[i].err == nil {
			return &rs[i]
		}
	}
	return nil
}

// scaleTargets prints whether the scale row's events/s is above that of the
// worker row with the most in flight below it at its latency.
func scaleTargets(line func(state, what, got string), verdict func(bool) string, rs []result) {
	scale := lastOf(kindScale, rs)
	if scale == nil {
		line("not measured", "scale row: events/s keeps growing with in-flight", "")
		return
	}
	base := baseResult(*scale, rs)
	if base == nil {
		line("not measured", fmt.Sprintf("%s: events/s grows up to %s in flight", latencyName(scale.latency), count(scale.inFlight)),
			fmt.Sprintf("%.0f events/s, %.2f of C/(3·L) (no worker row below it at %s)", scale.rate, ratioOf(*scale, rs), latencyName(scale.latency)))
		return
	}
	line(verdict(scale.rate > base.rate && scale.errors() == 0 && base.errors() == 0),
		fmt.Sprintf("%s: events/s grows from %s to %s in flight, no errors", latencyName(scale.latency), count(base.inFlight), count(scale.inFlight)),
		fmt.Sprintf("%.0f < %.0f (%.2fx for %.0fx the slots; %.2f then %.2f of C/(3·L)), %d errors",
			base.rate, scale.rate, scale.rate/base.rate, float64(scale.inFlight)/float64(base.inFlight),
			ratioOf(*base, rs), ratioOf(*scale, rs), base.errors()+scale.errors()))
}

// replicasTargets prints, for the replicas row, that the lease kept the
// Graph calls at 3 per new WABA, that every process worked events, what
// each used, and its events/s against one process's at the same latency
// and in-flight.
func replicasTargets(line func(state, what, got string), verdict func(bool) string, rs []result) {
	rep := lastOf(kindReplicas, rs)
	if rep == nil {
		line("not measured", "replicas: 3.00 Graph calls per new WABA, every process works", "")
		return
	}
	n := rep.procs()
	calls := float64(rep.graphCalls) / float64(max(rep.results, 1))
	line(verdict(rep.graphCalls == rep.wantCalls() && rep.errors() == 0), fmt.Sprintf("%s: 3.00 Graph calls per new WABA, no errors", rep.name()),
		fmt.Sprintf("%.2f (%s calls, %s events), %d errors", calls, count(rep.graphCalls), count(rep.results), rep.errors()))

	var shares, cpus, rss []string
	all, summed, contended := len(rep.procStats) == n, 0, 0
	for _, p := range rep.procStats {
		all = all && p.events > 0
		summed += p.events
		contended += p.contended
		shares = append(shares, count(p.events))
		cpus = append(cpus, perEvent(p.cpu, p.events))
		rss = append(rss, mib(p.peakRSS))
	}
	line(verdict(all && summed == rep.work), fmt.Sprintf("%s: every process works events, one result each", rep.name()),
		fmt.Sprintf("%s events (%s of %s), %s Graph calls, %d leases contended", strings.Join(shares, " + "), count(summed), count(rep.work),
			strings.Join(counts(rep.procStats), " + "), contended))
	line("info", fmt.Sprintf("%s: each process's CPU per event it worked, peak RSS", rep.name()),
		fmt.Sprintf("%s; %s (CPU/ev over all: %s)", strings.Join(cpus, ", "), strings.Join(rss, ", "), perEvent(rep.workerCPU, rep.work)))

	want := 0.8 * float64(n)
	what := fmt.Sprintf("%s: events/s >= %.1fx one process's (%s, %d in flight)", rep.name(), want, latencyName(rep.latency), rep.inFlight)
	one := baseResult(*rep, rs)
	if one == nil || one.rate <= 0 {
		line("not measured", what, fmt.Sprintf("%.0f events/s, %.2f of %d·C/(3·L) (no worker row at %s, %d in flight)",
			rep.rate, ratioOf(*rep, rs), n, latencyName(rep.latency), rep.inFlight))
		return
	}
	cpuX := ""
	if rep.workerCPU > 0 && one.workerCPU > 0 {
		cpuX = fmt.Sprintf("; CPU/ev %s vs %s", perEvent(rep.workerCPU, rep.work), perEvent(one.workerCPU, one.work))
	}
	line(verdict(rep.rate >= want*one.rate), what,
		fmt.Sprintf("%.2fx (%.0f vs %.0f events/s; %.2f of %d·C/(3·L) vs %.2f of C/(3·L)%s)",
			rep.rate/one.rate, rep.rate, one.rate, ratioOf(*rep, rs), n, ratioOf(*one, rs), cpuX))
}

func counts(ps []procStat) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = count(p.graphCalls)
	}
	return out
}
