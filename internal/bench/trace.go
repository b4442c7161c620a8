package bench

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// callTrace times the Graph calls of each event at the emulator, so that a
// row's time in the worker can be split: delivery to the first call, each
// call as the emulator served it (latency included), the gaps between
// calls (the worker's side of a round trip), and the last call to the
// result (publish and PubAck).
type callTrace struct {
	conns atomic.Int64 // TCP connections the worker opened to Graph
	n     int
	mu    sync.Mutex
	calls [][]span // per event, in order
}

type span struct{ start, end time.Time }

func newCallTrace(n int) *callTrace { return &callTrace{n: n, calls: make([][]span, n)} }

// wrap times each request for a WABA of the backlog.
func (c *callTrace) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		end := time.Now()
		n := wabaIndex(r.URL.Path)
		if n < 0 || n >= c.n {
			return
		}
		c.mu.Lock()
		c.calls[n] = append(c.calls[n], span{start, end})
		c.mu.Unlock()
	})
}

// wabaIndex is the event number of a /{version}/{waba-id}/... path, or -1.
func wabaIndex(path string) int {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) < 2 {
		return -1
	}
	id, err := strconv.Atoi(parts[1])
	if err != nil {
		return -1
	}
	return id - wabaBase
}

// breakdown is where an event's time in the worker went, in medians over
// the events that took the plain path (three calls).
type breakdown struct {
	events                   int
	toFirst                  time.Duration // delivery to the first call's arrival
	call                     [3]time.Duration
	gap                      [2]time.Duration // a call's answer to the next call's arrival
	toResult                 time.Duration    // the last answer to the result
	total                    time.Duration
	graphP50, graphP99       time.Duration // any call, as served
	overheadP50, overheadP99 time.Duration // total minus the three calls as served
	meanInWorker             time.Duration // over every event with a result
	conns                    int64
}

func (c *callTrace) breakdown(rec *recorder) breakdown {
	c.mu.Lock()
	defer c.mu.Unlock()
	var toFirst, toResult, total, over []time.Duration
	var calls [3][]time.Duration
	var gaps [2][]time.Duration
	var all []time.Duration
	for n := range c.n {
		cs := c.calls[n]
		for _, s := range cs {
			all = append(all, s.end.Sub(s.start))
		}
		d, res := rec.delivered[n], rec.resulted[n]
		if len(cs) != 3 || d.IsZero() || res.IsZero() {
			continue
		}
		toFirst = append(toFirst, cs[0].start.Sub(d))
		var served time.Duration
		for i, s := range cs {
			calls[i] = append(calls[i], s.end.Sub(s.start))
			served += s.end.Sub(s.start)
			if i > 0 {
				gaps[i-1] = append(gaps[i-1], s.start.Sub(cs[i-1].end))
			}
		}
		toResult = append(toResult, res.Sub(cs[2].end))
		total = append(total, res.Sub(d))
		over = append(over, res.Sub(d)-served)
	}
	b := breakdown{events: len(total), conns: c.conns.Load()}
	var sum time.Duration
	var k int
	for n := range c.n {
		if d, res := rec.delivered[n], rec.resulted[n]; !d.IsZero() && !res.IsZero() {
			sum += res.Sub(d)
			k++
		}
	}
	if k > 0 {
		b.meanInWorker = sum / time.Duration(k)
	}
	if b.events == 0 {
		return b
	}
	p50 := func(ds []time.Duration) time.Duration { return percentiles(ds)[0] }
	b.toFirst, b.toResult, b.total = p50(toFirst), p50(toResult), p50(total)
	for i := range calls {
		b.call[i] = p50(calls[i])
	}
	for i := range gaps {
		b.gap[i] = p50(gaps[i])
	}
	g := percentiles(all)
	b.graphP50, b.graphP99 = g[0], g[1]
	o := percentiles(over)
	b.overheadP50, b.overheadP99 = o[0], o[1]
	return b
}

// printBreakdowns prints, per worker row, where an event's time went.
func printBreakdowns(w io.Writer, rs []result) {
	header := false
	for _, r := range rs {
		b := r.breakdown
		if r.err != nil || b.events == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "Where an event's time in the worker goes (medians; delivery = the server sent it to the worker):")
			fmt.Fprintln(w, "(slots busy: events/s × mean time in the worker ÷ in flight; the rest is slots waiting for a pull)")
			fmt.Fprintln(w, "  row                deliv→GET  GET     gap     POST    gap     GET     →result  total   Graph as served p50/p99  worker's own p50/p99  slots busy  Graph conns")
			header = true
		}
		busy := r.rate * b.meanInWorker.Seconds() / float64(r.slots())
		fmt.Fprintf(w, "  %-18s %-10s %-7s %-7s %-7s %-7s %-7s %-8s %-7s %-24s %-21s %-11s %d\n",
			fmt.Sprintf("%s %s c%d", kindName(r.kind), latencyName(r.latency), r.slots()),
			dur(b.toFirst), dur(b.call[0]), dur(b.gap[0]), dur(b.call[1]), dur(b.gap[1]), dur(b.call[2]),
			dur(b.toResult), dur(b.total), dur(b.graphP50)+" / "+dur(b.graphP99),
			dur(b.overheadP50)+" / "+dur(b.overheadP99), fmt.Sprintf("%.2f", busy), b.conns)
	}
}
