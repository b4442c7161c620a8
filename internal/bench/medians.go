package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// pairStats are the medians over the floor/worker pairs (-repeat) of one
// latency, in-flight and backlog.
type pairStats struct {
	latency   time.Duration
	inFlight  int
	work      int
	n         int           // worker rows
	rate      float64       // the worker's events/s
	ratio     float64       // the worker's events/s over C/(3·L); 0 without a latency
	cpu       time.Duration // the worker's CPU per event
	floorRate float64
	floorCPU  time.Duration // the floor's CPU per event
	cpuRatio  float64       // the median of cpuRatios
	cpuRatios []float64     // each pair's worker CPU/ev ÷ floor CPU/ev, in run order
}

// medians groups the worker rows that ran without error by latency,
// in-flight and backlog, in the order they first ran.
func medians(rs []result) []pairStats {
	type group struct {
		pairStats
		rates, ratios, floorRates []float64
		cpus, floorCPUs           []time.Duration
	}
	var gs []*group
	for _, r := range rs {
		if r.kind != kindWorker || r.err != nil || r.rate <= 0 {
			continue
		}
		i := slices.IndexFunc(gs, func(g *group) bool {
			return g.latency == r.latency && g.inFlight == r.inFlight && g.work == r.work
		})
		if i < 0 {
			gs = append(gs, &group{pairStats: pairStats{latency: r.latency, inFlight: r.inFlight, work: r.work}})
			i = len(gs) - 1
		}
		g := gs[i]
		g.n++
		g.rates = append(g.rates, r.rate)
		if lim, src := limit(r, rs); lim > 0 && src == "" {
			g.ratios = append(g.ratios, r.rate/lim)
		}
		if r.workerCPU > 0 {
			g.cpus = append(g.cpus, r.workerCPU/time.Duration(r.work))
		}
		f, ok := floorOf(r, rs)
		if !ok {
			continue
		}
		g.floorRates = append(g.floorRates, f.rate)
		if f.workerCPU > 0 {
			g.floorCPUs = append(g.floorCPUs, f.workerCPU/time.Duration(f.work))
			if r.workerCPU > 0 {
				g.cpuRatios = append(g.cpuRatios, (r.workerCPU.Seconds()/float64(r.work))/(f.workerCPU.Seconds()/float64(f.work)))
			}
		}
	}
	out := make([]pairStats, len(gs))
	for i, g := range gs {
		out[i] = g.pairStats
		out[i].rate, out[i].ratio, out[i].floorRate = median(g.rates), median(g.ratios), median(g.floorRates)
		out[i].cpu, out[i].floorCPU = medianDur(g.cpus), medianDur(g.floorCPUs)
		out[i].cpuRatio = median(g.cpuRatios)
	}
	return out
}

// statsAt finds the medians at latency l and c in flight.
func statsAt(ps []pairStats, l time.Duration, c int) (pairStats, bool) {
	for _, p := range ps {
		if p.latency == l && p.inFlight == c {
			return p, true
		}
	}
	return pairStats{}, false
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// printMedians prints, when some worker row ran more than once (-repeat),
// the medians of its runs. It reports whether it wrote anything.
func printMedians(w io.Writer, rs []result) bool {
	var ps []pairStats
	for _, p := range medians(rs) {
		if p.n > 1 {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return false
	}
	fmt.Fprintln(w, "Medians over the repeated floor/worker pairs (-repeat; the targets read these):")
	for _, p := range ps {
		line := fmt.Sprintf("  %-5s %4d in flight, %d runs: worker %.0f events/s", latencyName(p.latency), p.inFlight, p.n, p.rate)
		if p.ratio > 0 {
			line += fmt.Sprintf(" (%.2f of C/(3·L))", p.ratio)
		}
		line += ", CPU/ev " + dur(p.cpu)
		if len(p.cpuRatios) > 0 {
			line += fmt.Sprintf("; floor %.0f events/s, CPU/ev %s; worker ÷ floor CPU/ev %.2fx (each pair: %s)",
				p.floorRate, dur(p.floorCPU), p.cpuRatio, joinRatios(p.cpuRatios))
		}
		fmt.Fprintln(w, line)
	}
	return true
}

func joinRatios(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.2f", x)
	}
	return s
}
