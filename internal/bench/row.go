package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/natsserver"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// result is what one row measured.
type result struct {
	scenario
	seq int // the row's place in the run
	err error

	results     int // events with a result, by the end
	failed      int // failed results
	duplicates  int // second results for one event
	strays      int // results for no event of the backlog
	naks, terms int
	stopNaks    int // given back by the stop, after the target: not errors
	redelivered int
	pulls       int // pull requests
	pulled      int // messages they asked for

	window     time.Duration // first pull to the work-th result
	rate       float64       // work / window
	e2e        [2]time.Duration
	inWorker   [2]time.Duration
	graphCalls int
	workerCPU  time.Duration // during the window (whole life when /proc is missing)
	benchCPU   time.Duration // the bench process (NATS, emulator, watching) during the window
	peakRSS    int64         // bytes
	others     float64       // cores used by other processes during the window; -1 unknown
	breakdown  breakdown
	leases     leaseStats // lease rows: from the worker's /metrics at the target
	procStats  []procStat // replicas rows: each process's share
}

func (r result) errors() int {
	return r.failed + r.duplicates + r.strays + r.naks + r.terms + r.redelivered + max(r.work-r.results, 0)
}

// cpuMark is CPU time used so far by the worker processes (ok false when
// unknown) and by this process.
type cpuMark struct {
	at          time.Time
	worker      time.Duration   // summed over the processes
	workers     []time.Duration // each process's
	workerOK    bool
	self        time.Duration
	busy, total time.Duration // the machine's, over all CPUs
	machineOK   bool
}

func markCPU(pids ...int) cpuMark {
	m := cpuMark{at: time.Now(), self: selfCPU(), workerOK: len(pids) > 0}
	for _, pid := range pids {
		c, ok := procCPU(pid)
		m.worker += c
		m.workers = append(m.workers, c)
		m.workerOK = m.workerOK && ok
	}
	m.busy, m.total, m.machineOK = machineCPU()
	return m
}

// othersCPU is the CPU, in cores, that other processes of the machine used
// between two marks; -1 when unknown.
func othersCPU(start, end cpuMark) float64 {
	if !start.machineOK || !end.machineOK || !start.workerOK || !end.workerOK || end.total <= start.total {
		return -1
	}
	cores := float64(runtime.NumCPU())
	wall := end.at.Sub(start.at).Seconds()
	busy := float64(end.busy-start.busy) / float64(end.total-start.total) * cores
	ours := (end.worker - start.worker + end.self - start.self).Seconds() / wall
	return max(busy-ours, 0)
}

// world is a row's fresh NATS: a temporary directory holding the server's
// file store, a connection, its JetStream and the WABA stream.
type world struct {
	dir  string
	ns   *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	topo wabatype.Topology
}

// startWorld starts a world in a new temporary directory named by pattern;
// close stops it and removes the directory.
func startWorld(ctx context.Context, pattern string, opts ...jetstream.JetStreamOpt) (w *world, err error) {
	w = &world{topo: wabatype.Topology{}.WithDefaults()}
	if w.dir, err = os.MkdirTemp("", pattern); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.ns, err = natsserver.Start(natsserver.Options{StoreDir: filepath.Join(w.dir, "jetstream")}); err != nil {
		return nil, err
	}
	if w.nc, err = nats.Connect(w.ns.ClientURL(), nats.Name("bench")); err != nil {
		return nil, err
	}
	if w.js, err = jetstream.New(w.nc, opts...); err != nil {
		return nil, err
	}
	if _, err = worker.EnsureStream(ctx, w.js, w.topo); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *world) close() {
	if w.nc != nil {
		w.nc.Close()
	}
	if w.ns != nil {
		w.ns.Shutdown()
		w.ns.WaitForShutdown()
	}
	os.RemoveAll(w.dir)
}

// runRow runs one scenario on a fresh NATS server and emulator.
func runRow(ctx context.Context, o Options, sc scenario, label string, logf func(string, ...any)) (res result) {
	res.scenario = sc
	fail := func(err error) result { res.err = err; return res }

	wd, err := startWorld(ctx, "waba-bench-*", jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return fail(err)
	}
	defer wd.close()
	dir, ns, nc, js, topo := wd.dir, wd.ns, wd.nc, wd.js, wd.topo

	var em *emulator.Server
	var trace *callTrace
	graphURL := ""
	if sc.kind != kindCeiling {
		if em, err = newEmulator(sc.latency, sc.newWABAs()); err != nil {
			return fail(err)
		}
		trace = newCallTrace(sc.events)
		hs := &http.Server{Handler: trace.wrap(em), ReadHeaderTimeout: 10 * time.Second,
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					trace.conns.Add(1)
				}
			}}
		var stop func()
		if graphURL, stop, err = serveEmulator(em, hs); err != nil {
			return fail(err)
		}
		defer stop()
	}

	logf("%s: publishing %d events", label, sc.events)
	rec := newRecorder(sc.events, sc.work)
	if err := publish(ctx, js, topo.Subject, sc, rec); err != nil {
		return fail(fmt.Errorf("publish the backlog: %w", err))
	}
	if err := rec.watch(nc, topo, o.Deliveries); err != nil {
		return fail(err)
	}
	defer rec.stop()

	argv, env, err := childCommand(o, sc, ns.ClientURL(), graphURL)
	if err != nil {
		return fail(err)
	}
	procs := make([]*proc, sc.procs())
	for i := range procs {
		p := &proc{exited: make(chan struct{})}
		procs[i] = p
		penv := slices.Clone(env)
		if sc.kind == kindLease || sc.kind == kindReplicas {
			if p.metricsAddr, err = freeAddr(); err != nil {
				return fail(err)
			}
			penv = append(penv, "HTTP_ADDR="+p.metricsAddr) // the later one wins
		}
		name := "worker"
		if len(procs) > 1 {
			name = fmt.Sprintf("worker%d", i+1)
		}
		if o.ProfileDir != "" && o.WorkerBin == "" {
			penv = append(penv, envCPUProfile+"="+filepath.Join(o.ProfileDir, label+"."+name+".pprof"))
		}
		p.logPath = filepath.Join(dir, name+".log")
		logFile, err := os.Create(p.logPath)
		if err != nil {
			return fail(err)
		}
		defer logFile.Close()
		p.cmd = exec.Command(argv[0], argv[1:]...)
		p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = penv, logFile, logFile
	}
	logTails := func() string {
		var b strings.Builder
		for i, p := range procs {
			if len(procs) > 1 {
				fmt.Fprintf(&b, "\nprocess %d of %d, ", i+1, len(procs))
			} else {
				b.WriteString("\n")
			}
			b.WriteString(tail(p.logPath, 20))
		}
		return b.String()
	}

	if o.ProfileDir != "" {
		if f, err := os.Create(filepath.Join(o.ProfileDir, label+".bench.pprof")); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	calls0 := 0
	if em != nil {
		calls0 = em.Count("*")
	}

	logf("%s: running the %s", label, sc.name())
	// Every process is started before the hook can run (it reads their
	// pids): the first pull, of any of them, starts the window.
	anyExited := make(chan struct{})
	var exitOnce sync.Once
	rec.mu.Lock()
	pids := make([]int, 0, len(procs))
	rec.mark = func() cpuMark { return markCPU(pids...) }
	for _, p := range procs {
		if err := p.cmd.Start(); err != nil {
			rec.mark = nil
			rec.mu.Unlock()
			stopProcs(procs)
			return fail(fmt.Errorf("start the worker: %w", err))
		}
		pids = append(pids, p.cmd.Process.Pid)
		go func() {
			p.waitErr = p.cmd.Wait()
			close(p.exited)
			exitOnce.Do(func() { close(anyExited) })
		}()
		p.peak = watchPeakRSS(p.cmd.Process.Pid, p.exited, 100*time.Millisecond)
	}
	rec.mu.Unlock()

	runErr := awaitTarget(ctx, rec, anyExited, o.Stall)
	if runErr == nil && sc.kind == kindLease {
		res.leases, runErr = scrapeLeases(ctx, procs[0].metricsAddr)
	}
	if runErr == nil && sc.kind == kindReplicas {
		res.procStats, runErr = scrapeProcs(ctx, procs, sc.work)
	}
	if err := stopProcs(procs); runErr == nil {
		runErr = err
	}
	for _, p := range procs {
		if runErr == nil && p.waitErr != nil {
			runErr = fmt.Errorf("the worker exited: %w", p.waitErr)
		}
	}
	_ = nc.Flush() // the last results and acks
	if runErr != nil {
		return fail(fmt.Errorf("%w%s", runErr, logTails()))
	}

	if em != nil {
		res.graphCalls = em.Count("*") - calls0
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	start, end := rec.start, rec.end
	whole := start.workerOK && end.workerOK
	for i, p := range procs {
		wholeCPU, maxRSS, ok := childUsage(p.cmd.ProcessState)
		peak := <-p.peak
		if peak == 0 {
			peak = maxRSS
		}
		cpu := wholeCPU
		if whole {
			cpu = end.workers[i] - start.workers[i]
		} else if !ok {
			cpu = 0
		}
		res.workerCPU += cpu
		res.peakRSS = max(res.peakRSS, peak)
		if i < len(res.procStats) {
			res.procStats[i].cpu, res.procStats[i].peakRSS = cpu, peak
		}
	}
	res.benchCPU = end.self - start.self
	res.others = othersCPU(start, end)
	res.results, res.failed, res.duplicates, res.strays = rec.results, rec.failed, rec.duplicates, rec.strays
	res.naks, res.terms, res.redelivered, res.stopNaks = rec.naks, rec.terms, rec.redelivered, rec.stopNaks
	res.pulls, res.pulled = rec.pulls, rec.pulled
	res.window = rec.targetAt.Sub(rec.firstPull)
	if res.window > 0 {
		res.rate = float64(sc.work) / res.window.Seconds()
	}
	var e2e, in []time.Duration
	for n := range rec.n {
		if rec.resulted[n].IsZero() {
			continue
		}
		e2e = append(e2e, rec.resulted[n].Sub(rec.published[n]))
		if !rec.delivered[n].IsZero() {
			in = append(in, rec.resulted[n].Sub(rec.delivered[n]))
		}
	}
	res.e2e = percentiles(e2e)
	res.inWorker = percentiles(in)
	if trace != nil && sc.wabas == 0 { // the trace knows an event by its WABA
		res.breakdown = trace.breakdown(rec)
	}
	return res
}

// newEmulator is a row's Graph: the dev seed, latency l, and the WABAs
// wabaID(0) to wabaID(wabas-1) shared with the dev business.
func newEmulator(l time.Duration, wabas int) (*emulator.Server, error) {
	em, err := emulator.New(emulator.DefaultSeed(), emulator.WithRecordLimit(1000))
	if err != nil {
		return nil, err
	}
	em.SetLatency(l)
	for n := range wabas {
		if err := em.AddWABA(emulator.DevBusinessID, wabaID(n)); err != nil {
			return nil, err
		}
	}
	return em, nil
}

// serveEmulator serves em through hs (its Handler em or a wrapper of it) on
// a loopback port and returns the base URL; stop shuts it down, waiting at
// most 5s.
func serveEmulator(em *emulator.Server, hs *http.Server) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	served := emulator.ServeListener(em, ln, hs)
	return "http://" + ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = served.Stop(sctx)
	}, nil
}

// proc is one of a row's worker processes.
type proc struct {
	cmd         *exec.Cmd
	logPath     string
	metricsAddr string // lease and replicas rows: its HTTP_ADDR
	exited      chan struct{}
	waitErr     error // set before exited is closed
	peak        <-chan int64
}

// stopProcs sends SIGTERM to each started process that is still running and
// waits for all of them to exit, killing those still running 45s later.
func stopProcs(procs []*proc) error {
	var err error
	for _, p := range procs {
		if p.cmd.Process == nil {
			continue
		}
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(45 * time.Second)
	defer deadline.Stop()
	late := false
	for _, p := range procs {
		if p.cmd.Process == nil {
			continue
		}
		if !late {
			select {
			case <-p.exited:
				continue
			case <-deadline.C:
				late = true
			}
		}
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
			err = errors.New("the worker did not stop within 45s of SIGTERM")
		}
	}
	return err
}

// watchPeakRSS samples the peak RSS of process pid every so often until
// exited is closed, then sends the largest value seen (0 when /proc could not
// tell). The last sample before the exit is as late as it gets: an exited
// process has no memory left to read.
func watchPeakRSS(pid int, exited <-chan struct{}, every time.Duration) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if v, ok := procPeakRSS(pid); ok {
				peak = max(peak, v)
			}
			select {
			case <-exited:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// awaitTarget waits until the recorder saw its target, the worker exited,
// no result came for stall, or ctx ended.
func awaitTarget(ctx context.Context, rec *recorder, exited <-chan struct{}, stall time.Duration) error {
	began := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-rec.reached:
			return nil
		case <-exited:
			return errors.New("the worker exited before the backlog was worked")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			last := rec.lastProgress()
			if last.IsZero() {
				last = began
			}
			if time.Since(last) > stall {
				rec.mu.Lock()
				n := rec.results
				rec.mu.Unlock()
				return fmt.Errorf("stalled: no result for %s after %d of %d", stall, n, rec.target)
			}
		}
	}
}

// publish publishes the backlog in order (event n for WABA sc.waba(n)), with Nats-Msg-Id set to the
// event's id and the publish time in occurred_at, and checks that event n
// got stream sequence n+1.
func publish(ctx context.Context, js jetstream.JetStream, subject string, sc scenario, rec *recorder) error {
	const window = 4096
	type pending struct {
		n int
		f jetstream.PubAckFuture
	}
	var inflight []pending
	settle := func() error {
		for _, p := range inflight {
			select {
			case ack := <-p.f.Ok():
				if ack.Sequence != uint64(p.n)+1 {
					return fmt.Errorf("event %d got stream sequence %d: the stream was not empty", p.n, ack.Sequence)
				}
			case err := <-p.f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		inflight = inflight[:0]
		return nil
	}
	for n := range rec.n {
		now := time.Now()
		id := eventID(n)
		data := fmt.Appendf(nil, `{"id":%q,"waba_id":%q,"business_id":%q,"tasks":["MANAGE"],"source":"bench","occurred_at":%q}`,
			id, wabaID(sc.waba(n)), emulator.DevBusinessID, now.UTC().Format(time.RFC3339Nano))
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(id))
		if err != nil {
			return err
		}
		rec.published[n] = now
		inflight = append(inflight, pending{n, f})
		if len(inflight) == window {
			if err := settle(); err != nil {
				return err
			}
		}
	}
	return settle()
}

// wabaID is the id of WABA number n, new to the emulator: its first event
// takes the full path (read, POST, verify).
func wabaID(n int) string { return strconv.Itoa(wabaBase + n) }

const wabaBase = 500_000_000_000_000

// childCommand is the command line and environment of a row's process.
func childCommand(o Options, sc scenario, natsURL, graphURL string) (argv, env []string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	env = cleanEnv()
	switch sc.kind {
	case kindCeiling:
		return []string{self, "child", "ceiling", "-nats", natsURL, "-inflight", strconv.Itoa(sc.inFlight)}, env, nil
	case kindFloor:
		return append([]string{self, "child", "floor", "-nats", natsURL}, graphArgs(graphURL, sc.inFlight)...), env, nil
	}
	env = append(env,
		"NATS_URL="+natsURL,
		"GRAPH_BASE_URL="+graphURL,
		"GRAPH_ACCESS_TOKEN="+emulator.DevAdminToken,
		"BUSINESS_ID="+emulator.DevBusinessID,
		"SYSTEM_USER_ID="+emulator.DevSystemUserID,
		"WORKER_CONCURRENCY="+strconv.Itoa(sc.inFlight),
		"HTTP_ADDR=127.0.0.1:0",
		"SWEEP_INTERVAL=0", // a row measures its own backlog
		"LOG_LEVEL="+o.LogLevel,
		"LOG_FORMAT=json",
	)
	if o.WorkerBin != "" {
		return []string{o.WorkerBin, "run"}, env, nil
	}
	return []string{self, "child", "worker", "run"}, env, nil
}

// cleanEnv is this process's environment without the worker's settings
// (and OpenTelemetry's, so that no trace is exported), so that a variable
// set in the shell does not skew a row.
func cleanEnv() []string {
	drop := map[string]bool{envCPUProfile: true}
	for _, v := range config.Variables() {
		drop[v[0]] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] && !strings.HasPrefix(k, "OTEL_") {
			out = append(out, kv)
		}
	}
	return out
}

// percentiles returns p50 and p99 of ds (sorted in place).
func percentiles(ds []time.Duration) [2]time.Duration {
	if len(ds) == 0 {
		return [2]time.Duration{-1, -1}
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(int(p*float64(len(ds))), len(ds)-1)] }
	return [2]time.Duration{at(0.50), at(0.99)}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "worker log (last lines):\n  " + strings.Join(lines, "\n  ")
}
