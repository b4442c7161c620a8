package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// leaseStats is what the worker's waba_lease_wait_seconds histogram says
// about a row: the leases taken, and those that waited for another holder,
// with the time they waited; and waba_event_parked_seconds: the deliveries
// that waited in the worker behind another of their WABA.
type leaseStats struct {
	taken, contended int
	contendedWait    time.Duration // summed over the contended
	uncontendedWait  time.Duration // summed over the others: the lease's own cost
	parked           int           // deliveries that waited in the worker behind their WABA's others
	parkedWait       time.Duration // summed over them
}

// freeAddr is a loopback address with a port free just now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrapeLeases reads the lease histogram from the worker's /metrics.
func scrapeLeases(ctx context.Context, addr string) (leaseStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var st leaseStats
	err := scrapeMetrics(ctx, addr, func(name, labels string, v float64) {
		switch name {
		case "waba_event_parked_seconds_count":
			st.parked = int(v)
		case "waba_event_parked_seconds_sum":
			st.parkedWait = time.Duration(v * float64(time.Second))
		}
		contended := strings.Contains(labels, `contended="true"`)
		switch name {
		case "waba_lease_wait_seconds_count":
			st.taken += int(v)
			if contended {
				st.contended += int(v)
			}
		case "waba_lease_wait_seconds_sum":
			d := time.Duration(v * float64(time.Second))
			if contended {
				st.contendedWait += d
			} else {
				st.uncontendedWait += d
			}
		}
	})
	return st, err
}

// scrapeMetrics reads the worker's /metrics at addr and calls each with
// every sample.
func scrapeMetrics(ctx context.Context, addr string, each func(name, labels string, v float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("scrape the worker's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape the worker's metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if name, labels, v, ok := sample(sc.Text()); ok {
			each(name, labels, v)
		}
	}
	return sc.Err()
}

// sample splits a line of Prometheus' text format: name{labels} value.
func sample(line string) (name, labels string, v float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", "", 0, false
	}
	head, val, found := strings.Cut(line, " ")
	if !found {
		return "", "", 0, false
	}
	name = head
	if i := strings.IndexByte(head, '{'); i >= 0 {
		name, labels = head[:i], head[i:]
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	return name, labels, v, err == nil
}

// leaseTargets prints, for the lease rows, that the lease made no Graph
// call (3 per WABA's first event, 1 per later one) and what it cost each
// event against the plain row of the same run.
func leaseTargets(line func(state, what, got string), verdict func(bool) string, rs []result) {
	var plain, many *result
	for i := range rs {
		if r := &rs[i]; r.kind == kindLease && r.err == nil {
			if r.wabas == 0 {
				plain = r
			} else {
				many = r
			}
		}
	}
	if plain == nil && many == nil {
		line("not measured", "lease rows: 3 Graph calls per new WABA + 1 per later event", "")
		return
	}
	for _, r := range []*result{plain, many} {
		if r == nil {
			continue
		}
		want := r.wantCalls()
		line(verdict(r.graphCalls == want && r.errors() == 0),
			fmt.Sprintf("%s: Graph calls = 3 per WABA + 1 per later event, no errors", r.name()),
			fmt.Sprintf("%s calls of %s (%s WABAs, %s events), %d errors", count(r.graphCalls), count(want), count(r.newWABAs()), count(r.events), r.errors()))
	}
	for _, r := range []*result{plain, many} {
		if r == nil || r.leases.taken == 0 {
			continue
		}
		l := r.leases
		mean := func(d time.Duration, n int) string {
			if n == 0 {
				return "n/a"
			}
			return dur(d / time.Duration(n))
		}
		line("info", fmt.Sprintf("%s: leases and waits", r.name()),
			fmt.Sprintf("%s leases, mean take %s, %s contended; %s parked behind their WABA, mean wait %s",
				count(l.taken), mean(l.uncontendedWait, l.taken-l.contended), count(l.contended), count(l.parked), mean(l.parkedWait, l.parked)))
	}
	if plain != nil && many != nil && plain.rate > 0 && plain.work > 0 && many.work > 0 {
		pc, mc := plain.workerCPU/time.Duration(plain.work), many.workerCPU/time.Duration(many.work)
		line("info", "lease cost: many per WABA against one per WABA, same run",
			fmt.Sprintf("events/s %.0f vs %.0f (%.2f of its ideal vs %.2f); worker CPU/ev %s vs %s",
				many.rate, plain.rate, ratioOf(*many, rs), ratioOf(*plain, rs), dur(mc), dur(pc)))
	}
}

func ratioOf(r result, rs []result) float64 {
	lim, _ := limit(r, rs)
	if lim == 0 {
		return 0
	}
	return r.rate / lim
}
