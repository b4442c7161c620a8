package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

// The sweep rows: a first discovery sweep, `worker sweep --dry-run --json`
// as a child process (the real command: cli.Run, or -worker-bin), over a
// business the emulator lists listed WABAs for, onboarded of them already
// assigned in the ledger. The sweep lists every page and reads the ledger
// for every listed WABA, then walks the ledger for the assigned WABAs no
// longer listed; the dry run publishes nothing, because `worker sweep`
// paces its publishing at sweep.DefaultPublishRate (5 a second, no setting
// changes it), so the row reports what publishing the found WABAs would take
// at that pace instead of waiting for it. A row at a tenth of the listed
// beside it shows whether the sweep's memory grows with the number listed.

// sweepResult is one sweep row.
type sweepResult struct {
	listed, onboarded int // asked for
	sum               sweep.Summary
	lines             int           // would_emit lines printed
	listCalls         int           // GET client_whatsapp_business_accounts
	graphCalls        int           // every Graph request
	listing           time.Duration // first list request to the last page's answer
	process           time.Duration // the child's start to its exit
	cpu               time.Duration // the child's
	peakRSS           int64         // bytes
	published         uint64        // messages in the stream after: 0 for a dry run
	err               error
}

func (r sweepResult) name() string {
	if r.onboarded == 0 {
		return fmt.Sprintf("sweep, %s listed, empty ledger", count(r.listed))
	}
	return fmt.Sprintf("sweep, %s listed", count(r.listed))
}

// wantPages is the list calls a sweep of r.listed WABAs needs.
func (r sweepResult) wantPages() int {
	return max((r.listed+sweep.DefaultPageSize-1)/sweep.DefaultPageSize, 1)
}

// counted reports whether the row found what its setup implies: every
// listed WABA listed once, listed-onboarded to emit (a line each), one list
// call per page and no other Graph call, nothing published.
func (r sweepResult) counted() bool {
	want := r.listed - r.onboarded
	return r.err == nil && r.sum.Listed == r.listed && r.sum.Onboarded == r.onboarded && r.sum.WouldEmit == want &&
		r.lines == want && r.sum.Pages == r.wantPages() && r.listCalls == r.wantPages() && r.graphCalls == r.listCalls &&
		r.sum.NotListed == 0 && r.published == 0
}

// sweepRows sizes the rows: a tenth of the listed and onboarded (when that
// is at least one WABA), then the asked numbers; and when some are
// onboarded, the same two with an empty ledger, so that the walk for the
// WABAs no longer listed (it reads every ledger record) is set apart from
// the listing. Listed 0 skips them.
func (o Options) sweepRows() [][2]int {
	if o.SweepListed <= 0 || (len(o.Only) > 0 && !slices.Contains(o.Only, "sweep")) {
		return nil
	}
	var pair [][2]int
	if small := o.SweepListed / 10; small >= 1 {
		pair = append(pair, [2]int{small, o.SweepOnboarded / 10})
	}
	pair = append(pair, [2]int{o.SweepListed, o.SweepOnboarded})
	rows := slices.Clone(pair)
	if o.SweepOnboarded > 0 {
		for _, r := range pair {
			rows = append(rows, [2]int{r[0], 0})
		}
	}
	return rows
}

// runSweeps runs the sweep rows, each on a fresh server and emulator.
func runSweeps(ctx context.Context, o Options, logf func(string, ...any)) []sweepResult {
	var out []sweepResult
	for _, r := range o.sweepRows() {
		res := runSweepRow(ctx, o, r[0], r[1], logf)
		logf("sweep: %d listed, %d onboarded: %s, %s peak RSS (%v)", r[0], r[1], dur(res.sum.Duration), mib(res.peakRSS), res.err)
		out = append(out, res)
	}
	return out
}

// sweepMissing reports whether WABA i of listed is one of the listed-onboarded
// without a ledger record, spread evenly over the listing.
func sweepMissing(i, listed, onboarded int) bool {
	m := listed - onboarded
	return (i+1)*m/listed > i*m/listed
}

// runSweepRow runs one sweep row.
func runSweepRow(ctx context.Context, o Options, listed, onboarded int, logf func(string, ...any)) (res sweepResult) {
	res.listed, res.onboarded = listed, onboarded
	fail := func(err error) sweepResult { res.err = err; return res }
	ctx, cancel := context.WithTimeout(ctx, o.Stall)
	defer cancel()

	wd, err := startWorld(ctx, "waba-bench-sweep-*")
	if err != nil {
		return fail(err)
	}
	defer wd.close()
	dir, ns, js, topo := wd.dir, wd.ns, wd.js, wd.topo
	kv, err := js.CreateKeyValue(ctx, ledger.BucketConfig(ledger.DefaultBucket, 1))
	if err != nil {
		return fail(err)
	}
	logf("sweep: seeding %d WABAs, %d of them in the ledger", listed, onboarded)
	if err := seedLedger(ctx, ledger.New(kv), listed, onboarded); err != nil {
		return fail(fmt.Errorf("seed the ledger: %w", err))
	}

	seed := emulator.DefaultSeed()
	seed.Businesses[0].WABAs = make([]emulator.WABA, listed)
	for i := range listed {
		seed.Businesses[0].WABAs[i] = emulator.WABA{ID: wabaID(i), Name: "Customer " + strconv.Itoa(i)}
	}
	em, err := emulator.New(seed, emulator.WithRecordLimit(1000))
	if err != nil {
		return fail(err)
	}
	span := &listSpan{}
	graphURL, stop, err := serveEmulator(em, &http.Server{Handler: span.wrap(em), ReadHeaderTimeout: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	defer stop()

	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	argv := []string{self, "child", "worker", "sweep", "--dry-run", "--json"}
	if o.WorkerBin != "" {
		argv = []string{o.WorkerBin, "sweep", "--dry-run", "--json"}
	}
	outPath, logPath := filepath.Join(dir, "sweep.jsonl"), filepath.Join(dir, "sweep.log")
	outFile, err := os.Create(outPath)
	if err != nil {
		return fail(err)
	}
	defer outFile.Close()
	logFile, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(),
		"NATS_URL="+ns.ClientURL(),
		"GRAPH_BASE_URL="+graphURL,
		"GRAPH_ACCESS_TOKEN="+emulator.DevReadToken, // the sweep lists with the read token
		"BUSINESS_ID="+emulator.DevBusinessID,
		"SYSTEM_USER_ID="+emulator.DevSystemUserID,
		"LOG_FORMAT=json",
	)
	cmd.Stdout, cmd.Stderr = outFile, logFile
	calls0, list0 := em.Count("*"), em.Count(graph.OpListClientWABAs)

	logf("sweep: running %s", strings.Join(argv[min(len(argv), 1):], " "))
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start the sweep: %w", err))
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); res.process = time.Since(began); close(exited) }()
	// A sweep of 1,000 WABAs lasts about 100 ms: sample often.
	peak := watchPeakRSS(cmd.Process.Pid, exited, time.Millisecond)
	select {
	case <-exited:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		<-peak
		return fail(fmt.Errorf("the sweep did not end within %s\n%s", o.Stall, tail(logPath, 20)))
	}
	res.peakRSS = <-peak
	// Not the rusage's maxrss: a child forked with CLONE_VM, as Go forks,
	// starts its count with this process's memory, emulator and NATS
	// included.
	if cpu, maxRSS, ok := childUsage(cmd.ProcessState); ok {
		res.cpu = cpu
		logf("sweep: rusage maxrss %s, sampled VmHWM %s", mib(maxRSS), mib(res.peakRSS))
	}
	if waitErr != nil {
		return fail(fmt.Errorf("worker sweep: %w\n%s", waitErr, tail(logPath, 20)))
	}
	res.graphCalls, res.listCalls = em.Count("*")-calls0, em.Count(graph.OpListClientWABAs)-list0
	res.listing = span.duration()

	if res.sum, res.lines, err = readSweepOutput(outPath); err != nil {
		return fail(err)
	}
	st, err := js.Stream(ctx, topo.Stream)
	if err != nil {
		return fail(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fail(err)
	}
	res.published = info.State.Msgs
	return res
}

// seedLedger puts an assigned record (MANAGE, the dev system user) for each
// of the first listed WABAs that sweepMissing does not leave out.
func seedLedger(ctx context.Context, store *ledger.Store, listed, onboarded int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	put := 0
	for i := range listed {
		if sweepMissing(i, listed, onboarded) {
			continue
		}
		put++
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := ledger.Record{WABAID: wabaID(i), State: ledger.StateAssigned, SystemUserID: emulator.DevSystemUserID,
				HeldTasks: []string{"MANAGE"}, EventID: "bench-seed-" + wabaID(i), UpdatedAt: time.Now()}
			if err := store.Put(ctx, r); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if put != onboarded {
		return fmt.Errorf("seeded %d records, want %d", put, onboarded)
	}
	return nil
}

// readSweepOutput reads `worker sweep --json`'s output: its summary, and how
// many would_emit lines it printed.
func readSweepOutput(path string) (sum sweep.Summary, wouldEmit int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Action  sweep.Action   `json:"action"`
			Summary *sweep.Summary `json:"summary"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return sum, 0, fmt.Errorf("worker sweep --json printed %q: %w", clip(sc.Text()), err)
		}
		switch {
		case line.Summary != nil:
			sum, found = *line.Summary, true
		case line.Action == sweep.ActionWouldEmit:
			wouldEmit++
		}
	}
	if err := sc.Err(); err != nil {
		return sum, 0, err
	}
	if !found {
		return sum, 0, errors.New("worker sweep --json printed no summary")
	}
	return sum, wouldEmit, nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// listSpan times the listing as Graph sees it: from the first list request's
// arrival to the last one's answer.
type listSpan struct {
	mu          sync.Mutex
	first, last time.Time
}

func (s *listSpan) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/client_whatsapp_business_accounts") {
			h.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = time.Now()
		}
		s.mu.Unlock()
		h.ServeHTTP(w, r)
		s.mu.Lock()
		s.last = time.Now()
		s.mu.Unlock()
	})
}

func (s *listSpan) duration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first.IsZero() {
		return -1
	}
	return s.last.Sub(s.first)
}

// pacedPublish is how long publishing n events takes at the sweep's pace.
func pacedPublish(n int) time.Duration {
	return time.Duration(float64(n) / sweep.DefaultPublishRate * float64(time.Second))
}

var sweepColumns = []column{
	{"sweep scenario", 34}, {"listed", 7}, {"onboarded", 9}, {"to emit", 7}, {"list calls", 10}, {"Graph calls", 11},
	{"listing", 7}, {"sweep", 7}, {"process", 7}, {"CPU", 7}, {"peak RSS", 9}, {"publish at 5/s", 14},
}

// printSweeps prints the sweep rows' table.
func printSweeps(w io.Writer, md bool, rs []sweepResult) {
	if len(rs) == 0 {
		return
	}
	t := &table{w: w, md: md, cols: sweepColumns}
	fmt.Fprintf(w, "\ndiscovery sweep: `worker sweep --dry-run --json` as a child process, a first sweep of a business whose listed WABAs\n"+
		"are onboarded in the ledger but for the rest; listing: the first list request to the last page's answer (deciding each page\n"+
		"happens in between); sweep: the summary's duration (listing, the ledger reads, the walk for WABAs no longer listed);\n"+
		"process: start to exit; publish at 5/s: what publishing the events to emit would take at the sweep's pace (not run)\n\n")
	t.header()
	for _, r := range rs {
		cells := []string{r.name(), count(r.listed), count(r.onboarded)}
		if r.err != nil {
			cells = append(cells, "failed")
			for len(cells) < len(sweepColumns) {
				cells = append(cells, "")
			}
			t.line(cells)
			continue
		}
		cells = append(cells, count(r.sum.WouldEmit), count(r.listCalls), count(r.graphCalls),
			dur(r.listing), dur(r.sum.Duration), dur(r.process), dur(r.cpu), mib(r.peakRSS), dur(pacedPublish(r.sum.WouldEmit)))
		t.line(cells)
	}
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(w, "\n%s failed: %v\n", r.name(), r.err)
		}
	}
}

// sweepRSSSlack is how much more peak RSS the sweep of all the listed may
// have than the sweep of a tenth, both with an empty ledger: the listed-id
// set (about 30 bytes a WABA: 0.3 MiB for 10,000, twice that in the heap
// goal) and, most likely (not profiled), the heap's warm-up: a 1,000-WABA
// sweep ends within about 60 ms, before its garbage has filled the GC's
// 4 MiB minimum heap goal, which a longer sweep fills. Measured: +1.3 to
// +2.8 MiB for 1,000 to 10,000 in five runs; the gap does not grow with the
// listing: 5,000 to 50,000 listed measured 24.5 and 25.9 MiB, +1.4 MiB for
// 45,000 more ids.
const sweepRSSSlack = 4 << 20

// sweepTargets prints the sweep rows' targets: the counts, and peak RSS of
// the large row against the small one.
func sweepTargets(line func(state, what, got string), verdict func(bool) string, rs []sweepResult) {
	if len(rs) == 0 {
		line("not measured", "sweep: to emit = listed - onboarded, a list call per 100 listed", "")
		line("not measured", "sweep: peak RSS does not grow with the number listed", "")
		return
	}
	for _, r := range rs {
		what := fmt.Sprintf("%s: to emit = listed - onboarded, %d list calls", r.name(), r.wantPages())
		if r.err != nil {
			line("missed", what, "the row failed")
			continue
		}
		line(verdict(r.counted()), what,
			fmt.Sprintf("%s of %s listed (%s onboarded), %s list calls, %s Graph calls, %s not listed, %s published (dry run)",
				count(r.sum.WouldEmit), count(r.sum.Listed), count(r.sum.Onboarded), count(r.listCalls), count(r.graphCalls),
				count(r.sum.NotListed), count(int(r.published))))
	}
	// The pairs: a tenth of the listed, then all, with the ledger, then
	// with an empty ledger.
	var with, empty []sweepResult
	for _, r := range rs {
		if r.onboarded > 0 {
			with = append(with, r)
		} else {
			empty = append(empty, r)
		}
	}
	growth := func(pair []sweepResult) (small, large sweepResult, d int64, ok bool) {
		if len(pair) != 2 || pair[0].err != nil || pair[1].err != nil || pair[0].peakRSS <= 0 || pair[1].peakRSS <= 0 {
			return small, large, 0, false
		}
		return pair[0], pair[1], pair[1].peakRSS - pair[0].peakRSS, true
	}
	what := fmt.Sprintf("sweep, listing: peak RSS of %s listed within %d MiB of a tenth (empty ledger)", count(rs[len(with)/2].listed), sweepRSSSlack>>20)
	if small, large, d, ok := growth(empty); ok {
		what = fmt.Sprintf("sweep, listing: peak RSS of %s listed within %d MiB of %s listed (empty ledger)", count(large.listed), sweepRSSSlack>>20, count(small.listed))
		line(verdict(d <= sweepRSSSlack), what,
			fmt.Sprintf("%s vs %s (%+.1f MiB; the listed-id set of %s is about %.1f MiB)", mib(large.peakRSS), mib(small.peakRSS),
				float64(d)/(1<<20), count(large.listed), float64(large.listed*30)/(1<<20)))
	} else {
		line("not measured", what, "")
	}
	if small, large, d, ok := growth(with); ok {
		line("info", fmt.Sprintf("sweep, with the ledger: peak RSS of %s listed (%s onboarded) against %s (%s)",
			count(large.listed), count(large.onboarded), count(small.listed), count(small.onboarded)),
			fmt.Sprintf("%s vs %s (%+.1f MiB): the listing as above, and the ledger's records read (looked up a page at a time, then all walked for the WABAs no longer listed)",
				mib(large.peakRSS), mib(small.peakRSS), float64(d)/(1<<20)))
	}
	large := rs[len(rs)-1]
	if len(with) > 0 {
		large = with[len(with)-1]
	}
	if large.err == nil {
		line("info", "sweep: publishing is paced, not run here (dry run)",
			fmt.Sprintf("%s events at %.0f/s take %s; listing and deciding %s WABAs took %s",
				count(large.sum.WouldEmit), sweep.DefaultPublishRate, dur(pacedPublish(large.sum.WouldEmit)), count(large.listed), dur(large.sum.Duration)))
	}
}
