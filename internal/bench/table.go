package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// column is one column of the table: its title and the width of the text
// form.
type column struct {
	title string
	width int
}

var columns = []column{
	{"scenario", 18}, {"Graph L", 7}, {"in flight", 9}, {"events", 12},
	{"events/s", 8}, {"ideal", 8}, {"ratio", 5}, {"of floor", 8},
	{"e2e p50", 7}, {"e2e p99", 7}, {"worker p50", 10}, {"worker p99", 10},
	{"calls/ev", 8}, {"msgs/pull", 9}, {"worker CPU/ev", 13}, {"÷floor", 6}, {"NATS+emu CPU/ev", 15},
	{"peak RSS", 9}, {"errors", 6}, {"others' CPU", 11},
}

type table struct {
	w    io.Writer
	md   bool
	cols []column
}

func newTable(w io.Writer, md bool) *table { return &table{w: w, md: md, cols: columns} }

func (t *table) header() {
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = c.title
	}
	t.line(cells)
	if t.md {
		seps := make([]string, len(t.cols))
		for i := range seps {
			seps[i] = "---:"
		}
		seps[0] = "---"
		t.line(seps)
		return
	}
	seps := make([]string, len(t.cols))
	for i, c := range t.cols {
		seps[i] = strings.Repeat("-", c.width)
	}
	t.line(seps)
}

func (t *table) line(cells []string) {
	if t.md {
		fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
		return
	}
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString("  ")
		}
		if i == 0 {
			fmt.Fprintf(&b, "%-*s", t.cols[i].width, c)
		} else {
			fmt.Fprintf(&b, "%*s", t.cols[i].width, c)
		}
	}
	fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
}

// row prints r; soFar holds every row up to r (for the ceiling).
func (t *table) row(r result, soFar []result) {
	events := count(r.events)
	if r.work < r.events {
		events = count(r.work) + " of " + count(r.events)
	}
	cells := []string{r.name(), latencyName(r.latency), strconv.Itoa(r.inFlight), events}
	if r.procs() > 1 {
		cells[2] = fmt.Sprintf("%d×%d", r.procs(), r.inFlight)
	}
	if r.kind == kindCeiling {
		cells[1] = "none"
	}
	if r.err != nil {
		cells = append(cells, "failed")
		for len(cells) < len(columns) {
			cells = append(cells, "")
		}
		t.line(cells)
		return
	}
	ideal, ratio := "", ""
	if lim, src := limit(r, soFar); lim > 0 {
		ideal = src + fmt.Sprintf("%.0f", lim)
		ratio = fmt.Sprintf("%.2f", r.rate/lim)
	}
	calls := ""
	if r.kind != kindCeiling && r.results > 0 {
		calls = fmt.Sprintf("%.2f", float64(r.graphCalls)/float64(r.results))
	}
	perPull := ""
	if r.pulls > 0 {
		perPull = fmt.Sprintf("%.1f", float64(r.pulled)/float64(r.pulls))
	}
	ofFloor, cpuFloor := "", ""
	if f, ok := floorOf(r, soFar); ok {
		ofFloor = fmt.Sprintf("%.2f", r.rate/f.rate)
		if r.workerCPU > 0 && f.workerCPU > 0 {
			cpuFloor = fmt.Sprintf("%.2f", (r.workerCPU.Seconds()/float64(r.work))/(f.workerCPU.Seconds()/float64(f.work)))
		}
	}
	cells = append(cells,
		fmt.Sprintf("%.0f", r.rate), ideal, ratio, ofFloor,
		dur(r.e2e[0]), dur(r.e2e[1]), dur(r.inWorker[0]), dur(r.inWorker[1]),
		calls, perPull, perEvent(r.workerCPU, r.work), cpuFloor, perEvent(r.benchCPU, r.work),
		mib(r.peakRSS), strconv.Itoa(r.errors()), cores(r.others),
	)
	t.line(cells)
}

// floorOf is the floor row of worker row r in the same run: the last one
// before it with the same latency, in-flight and backlog (with -repeat,
// each worker row has its own).
func floorOf(r result, soFar []result) (result, bool) {
	if r.kind != kindWorker {
		return result{}, false
	}
	var found result
	ok := false
	for _, f := range soFar {
		if f.kind == kindFloor && f.seq < r.seq && f.err == nil && f.latency == r.latency && f.inFlight == r.inFlight &&
			f.work == r.work && f.rate > 0 && (!ok || f.seq > found.seq) {
			found, ok = f, true
		}
	}
	return found, ok
}

// limit is what r is measured against: C/(3·L) with latency, the ceiling
// at the same in-flight without (src "JS "), nothing for a ceiling row.
func limit(r result, soFar []result) (lim float64, src string) {
	switch {
	case r.kind == kindCeiling:
		return 0, ""
	case r.latency > 0:
		// C/(3·L), or for many events per WABA C/(k·L) with k the mean
		// Graph calls an event needs.
		k := float64(r.wantCalls()) / float64(max(r.events, 1))
		// With several processes, C is the slots of all of them.
		return float64(r.slots()) / (k * r.latency.Seconds()), ""
	}
	for _, c := range soFar {
		if c.kind == kindCeiling && c.inFlight == r.slots() && c.err == nil && c.rate > 0 {
			return c.rate, "JS "
		}
	}
	return 0, ""
}

// straddles notes when some of the pairs' ratios are over limit and some
// are not: then the median's verdict is no firmer than the machine's noise.
func straddles(ratios []float64, limit float64) string {
	over := 0
	for _, x := range ratios {
		if x > limit {
			over++
		}
	}
	if over == 0 || over == len(ratios) {
		return ""
	}
	return fmt.Sprintf("; %d of %d pairs over %.2fx: within the noise", over, len(ratios), limit)
}

// targets prints the targets beside what this run measured.
func targets(w io.Writer, o Options, rs []result, sweeps []sweepResult, ceilings []graphCeiling) {
	fmt.Fprintln(w, "Targets (reported, not enforced):")
	line := func(state, what, got string) {
		fmt.Fprintf(w, "  %-14s %-62s %s\n", "["+state+"]", what, got)
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "missed"
	}
	find := func(k kind, l time.Duration, c int) (result, bool) {
		for _, r := range rs {
			if r.kind == k && r.latency == l && r.inFlight == c && r.err == nil {
				return r, true
			}
		}
		return result{}, false
	}

	stats := medians(rs)
	if r, ok := find(kindWorker, 10*time.Millisecond, 64); ok {
		lim, _ := limit(r, rs)
		ratio := r.rate / lim
		got := fmt.Sprintf("%.2f (%.0f of %.0f events/s)", ratio, r.rate, lim)
		if p, ok := statsAt(stats, r.latency, r.inFlight); ok && p.n > 1 {
			ratio = p.ratio
			got = fmt.Sprintf("%.2f (median of %d runs: %.0f of %.0f events/s)", ratio, p.n, p.rate, lim)
		}
		if g, ok := ceilingAt(ceilings, r.latency, r.inFlight); ok && g.err == nil {
			got += fmt.Sprintf("; the Graph-only ceiling here: %.2f", g.ratio())
		}
		line(verdict(ratio >= 0.95), "10 ms, 64 in flight: events/s >= 0.95 of C/(3·L)", got)
		calls := float64(r.graphCalls) / float64(max(r.results, 1))
		line(verdict(math.Abs(calls-3) < 0.005), "10 ms, 64 in flight: 3.00 Graph calls per new WABA",
			fmt.Sprintf("%.2f (%d calls, %d events)", calls, r.graphCalls, r.results))
	} else {
		line("not measured", "10 ms, 64 in flight: >= 0.95 of ideal, 3.00 Graph calls per WABA", "")
	}
	for _, l := range []time.Duration{10 * time.Millisecond, 0} {
		what := fmt.Sprintf("%d ms, 64 in flight: worker CPU/event <= 1.25x the floor program's", l.Milliseconds())
		r, ok := find(kindWorker, l, 64)
		f, fok := floorOf(r, rs)
		if !ok || !fok || r.workerCPU <= 0 || f.workerCPU <= 0 {
			line("not measured", what, "")
			continue
		}
		x := (r.workerCPU.Seconds() / float64(r.work)) / (f.workerCPU.Seconds() / float64(f.work))
		got := fmt.Sprintf("%.2fx (%s of %s)", x, perEvent(r.workerCPU, r.work), perEvent(f.workerCPU, f.work))
		if p, ok := statsAt(stats, l, 64); ok && len(p.cpuRatios) > 1 {
			x = p.cpuRatio
			got = fmt.Sprintf("%.2fx (median of %d pairs: %s%s)", x, len(p.cpuRatios), joinRatios(p.cpuRatios), straddles(p.cpuRatios, 1.25))
		}
		line(verdict(x <= 1.25), what, got)
	}

	var got []string
	ok, seen := true, false
	for _, c := range o.InFlight {
		r, found := find(kindWorker, 0, c)
		if !found {
			continue
		}
		lim, _ := limit(r, rs)
		if lim == 0 {
			continue
		}
		seen = true
		ok = ok && r.rate/lim >= 0.3
		got = append(got, fmt.Sprintf("%d: %.2f", c, r.rate/lim))
	}
	if seen {
		line(verdict(ok), "0 ms: events/s >= 0.30 of the JetStream ceiling (per in-flight)", strings.Join(got, ", "))
	} else {
		line("not measured", "0 ms: events/s >= 0.30 of the JetStream ceiling", "")
	}

	leaseTargets(line, verdict, rs)
	sweepTargets(line, verdict, sweeps)

	measured := false
	for _, r := range rs {
		if r.kind == kindMemory && r.err == nil {
			measured = true
			if r.events < 100_000 {
				// A smaller backlog (-quick) says nothing about 100,000.
				line("not measured", "peak RSS < 100 MiB with 100,000 events waiting",
					fmt.Sprintf("ran %s waiting: %s after working %s (the full run measures it)", count(r.events), mib(r.peakRSS), count(r.work)))
				continue
			}
			line(verdict(r.peakRSS < 100<<20),
				fmt.Sprintf("peak RSS < 100 MiB with 100,000 events waiting (ran: %s)", count(r.events)),
				fmt.Sprintf("%s after working %s at %d in flight", mib(r.peakRSS), count(r.work), r.inFlight))
		}
	}
	if !measured {
		line("not measured", "peak RSS < 100 MiB with 100,000 events waiting", "")
	}

	cs := slices.Sorted(slices.Values(o.InFlight))
	for _, l := range o.Latencies {
		var rates []string
		grows, clean, n := true, true, 0
		prev := -1.0
		for _, c := range cs {
			r, found := find(kindWorker, l, c)
			if !found {
				clean = false
				continue
			}
			n++
			rates = append(rates, fmt.Sprintf("%.0f", r.rate))
			if r.rate <= prev {
				grows = false
			}
			prev = r.rate
			clean = clean && r.errors() == 0
		}
		if n < 2 {
			continue
		}
		line(verdict(grows && clean), fmt.Sprintf("%s: events/s grows with in-flight (%s), no errors", latencyName(l), joinInts(cs)),
			strings.Join(rates, " < ")+map[bool]string{true: "", false: " (errors or failed rows)"}[clean])
	}
	scaleTargets(line, verdict, rs)
	replicasTargets(line, verdict, rs)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func latencyName(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.String()
}

// count writes n as 20,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// dur writes d with three significant digits; a negative d is unknown.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "n/a"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func perEvent(d time.Duration, n int) string {
	if n <= 0 || d <= 0 {
		return "n/a"
	}
	return dur(d / time.Duration(n))
}

func cores(c float64) string {
	if c < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f cores", c)
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
