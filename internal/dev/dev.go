// Package dev runs the whole system on one machine, as `worker dev` does:
// an embedded NATS JetStream server, the Graph emulator seeded with
// emulator.DefaultSeed on a real TCP port, the webhook gateway, and the
// worker (app.Run) wired to them, sweeping every minute. It prints where
// each part listens and one line per result (with its event's source), and
// with Demo > 0 emits that many events itself, shares one WABA through
// Embedded Signup (the webhook path) and one "while the webhook was down"
// (the sweep's path). Nothing outside the process is needed: no service, no
// network, no configuration.
package dev

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emit"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/natsserver"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/util/textutil"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// The addresses `worker dev` tries first. When one of them is taken, a free
// port is used instead (and printed); an address given explicitly must be
// free.
const (
	DefaultNATSPort  = 4222 // so that `worker emit` works with its default NATS_URL
	DefaultGraphAddr = "127.0.0.1:8090"
	DefaultHTTPAddr  = "127.0.0.1:8080"
)

// UnknownWABAID is the WABA of the demo's failing event: it is not shared
// with the dev business, so Graph answers code 100, subcode 33.
const UnknownWABAID = "999000000000001"

// Options configure Run.
type Options struct {
	// Demo is how many events to emit at start, one of them (when there are
	// two or more) for a WABA the business does not have, so that the demo
	// shows a failure too. With Demo > 0 the demo also shares SignupWABAID
	// through Embedded Signup (a webhook) and, when the sweep runs,
	// SweepWABAID "while the webhook was down" (no webhook, no event: the
	// sweep finds it). Defaults to 0: none.
	Demo int
	// SweepInterval is the discovery sweep's period (SWEEP_INTERVAL); the
	// first sweep comes SweepFirstDelay after the worker starts (with a
	// demo, after the demo's own events have their results). NoSweep
	// disables it. Defaults to DefaultSweepInterval (1m).
	SweepInterval time.Duration
	// StoreDir is the JetStream store. Defaults to a temporary directory,
	// removed at exit.
	StoreDir string
	// NATSPort is the NATS client port; 0 picks a free one. DefaultNATSPort
	// falls back to a free port when taken.
	NATSPort int
	// GraphAddr is the emulator's listen address; "host:0" picks a free
	// port. DefaultGraphAddr falls back to a free port when taken.
	GraphAddr string
	// HTTPAddr is the worker's /healthz, /readyz, /metrics address; empty
	// disables them. DefaultHTTPAddr falls back to a free port when taken.
	HTTPAddr string
	// WebhookAddr is the webhook gateway's listen address (the emulator's
	// callback URL points at it); "host:0" picks a free port.
	// DefaultWebhookAddr falls back to a free port when taken. Defaults to
	// DefaultWebhookAddr.
	WebhookAddr string

	// Out receives the banner: where each part listens and how to use it.
	Out io.Writer
	// Command is how the banner's commands name this binary, e.g.
	// bin/worker. Defaults to worker.
	Command string
	// Log receives dev's own lines: one per result, the demo's progress.
	Log *slog.Logger
	// WorkerLog is the worker's logger. Defaults to Log.
	WorkerLog *slog.Logger
	// GraphLog, if set, logs one line per Graph request to the emulator.
	GraphLog *slog.Logger
	// OnReady, if set, is called once everything runs (tests use it).
	OnReady func(Env)
}

// Env is the running system.
type Env struct {
	NATSURL  string
	GraphURL string
	HTTPAddr string // "" when disabled
	StoreDir string
	Graph    *emulator.Server
	// WebhookURL is the gateway's callback URL, where the emulator delivers.
	WebhookURL string
}

// Run runs everything until ctx ends, then stops the worker (gracefully),
// the emulator and NATS, and removes a temporary store. It returns nil after
// a clean stop.
func Run(ctx context.Context, o Options) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = nil // Ctrl-C while starting is a clean stop too
		}
	}()
	if o.Log == nil || o.Out == nil {
		return errors.New("dev: Log and Out are required")
	}
	if o.Demo < 0 {
		return errors.New("dev: Demo must not be negative")
	}
	switch {
	case o.SweepInterval == 0:
		o.SweepInterval = DefaultSweepInterval
	case o.SweepInterval == NoSweep:
	case o.SweepInterval < time.Second:
		return errors.New("dev: SweepInterval must be at least 1s, or NoSweep")
	}
	log := o.Log
	wlog := slog.New(resultLinesOnce{cmp.Or(o.WorkerLog, log).Handler()})
	var env Env

	// JetStream.
	env.StoreDir = o.StoreDir
	temp := env.StoreDir == ""
	if temp {
		if env.StoreDir, err = os.MkdirTemp("", "waba-dev-"); err != nil {
			return fmt.Errorf("dev: JetStream store: %w", err)
		}
		defer os.RemoveAll(env.StoreDir)
	}
	port, err := natsPort(o.NATSPort, log)
	if err != nil {
		return err
	}
	ns, err := natsserver.Start(natsserver.Options{Port: port, StoreDir: env.StoreDir})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	env.NATSURL = ns.ClientURL()

	// The Graph emulator, on a real port so another terminal can use it.
	var gopts []emulator.Option
	if o.GraphLog != nil {
		gopts = append(gopts, emulator.WithLogger(o.GraphLog))
	}
	emu, err := emulator.New(emulator.DefaultSeed(), gopts...)
	if err != nil {
		return fmt.Errorf("dev: graph emulator: %w", err)
	}
	ln, err := listen(cmp.Or(o.GraphAddr, DefaultGraphAddr), "graph emulator", o.GraphAddr == DefaultGraphAddr, log)
	if err != nil {
		return err
	}
	served := emulator.ServeListener(emu, ln, nil)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = served.Stop(sctx)
	}()
	env.GraphURL = "http://" + ln.Addr().String()
	env.Graph = emu

	if env.HTTPAddr, err = httpAddr(o.HTTPAddr, log); err != nil {
		return err
	}

	// The stream exists before the worker starts, as the result watcher reads it.
	nc, err := nats.Connect(env.NATSURL, nats.Name("waba-worker dev"))
	if err != nil {
		return fmt.Errorf("dev: connect to the embedded NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	topo := wabatype.Topology{}.WithDefaults()
	if _, err := worker.EnsureStream(ctx, js, topo); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	results := make(chan result, 64)
	watchCtx, cancelWatch := context.WithCancel(ctx)
	stopWatch, err := watch(watchCtx, js, topo, log, results)
	if err != nil {
		cancelWatch()
		return err
	}
	defer stopWatch()
	defer cancelWatch() // first: unblocks a result nobody reads any more

	cfg, err := WorkerConfig(env)
	if err != nil {
		return err
	}
	cfg.SweepInterval = max(o.SweepInterval, 0)
	// Before the worker starts, so that its first sweep sees them: the WABA
	// shared while the webhook was down, and the seeded WABAs the demo does
	// not use as onboarded already (else the first sweep would emit them all).
	sweepWABA := ""
	if o.Demo > 0 && cfg.SweepInterval > 0 {
		if err := emu.AddWABA(emulator.DevBusinessID, SweepWABAID); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		sweepWABA = SweepWABAID
	}
	if _, err := preOnboard(ctx, js, cfg, emu, demoWABAs(o.Demo)); err != nil {
		return err
	}
	stopGateway, err := startGateway(ctx, js, &env, cmp.Or(o.WebhookAddr, DefaultWebhookAddr),
		slog.New(gatewayLog{log.With("component", "webhook").Handler()}))
	if err != nil {
		return err
	}
	defer func() {
		if err := stopGateway(); err != nil {
			log.Warn("webhook gateway", "error", err.Error())
		}
	}()
	printBanner(o.Out, cmp.Or(o.Command, "worker"), env, topo, temp, cfg.SweepInterval, o.Demo > 0)

	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	started := make(chan struct{})
	done := make(chan error, 1)
	// With a demo, the first sweep waits for the demo's own events to have
	// their results (runDemo closes demoSettled): else, on a slow machine,
	// it would find their WABAs not yet in the ledger and emit them again.
	var sweepAfter chan struct{}
	if o.Demo > 0 {
		sweepAfter = make(chan struct{})
	}
	go func() {
		done <- app.Run(wctx, cfg, app.Options{Logger: wlog, ProbeInterval: time.Second,
			SweepFirstDelay: SweepFirstDelay, SweepAfter: sweepAfter,
			OnStart: func(*worker.Worker) { close(started) }})
	}()
	select {
	case <-started:
	case err := <-done:
		if err == nil { // stopped before it started
			return nil
		}
		return fmt.Errorf("dev: worker: %w", err)
	}

	var demo sync.WaitGroup
	demoCtx, stopDemo := context.WithCancel(ctx)
	defer func() { stopDemo(); demo.Wait() }()
	if o.Demo > 0 {
		demo.Go(func() { runDemo(demoCtx, js, topo, emu, o.Demo, sweepWABA, sweepAfter, log, results) })
	} else {
		demo.Go(func() { drain(demoCtx, results) })
	}
	if o.OnReady != nil {
		o.OnReady(env)
	}

	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("dev: worker: %w", err)
		}
		return errors.New("dev: the worker stopped by itself")
	case <-ctx.Done():
	}
	log.Info("stopping: the worker finishes what it holds, then NATS and the emulator stop")
	stopDemo()
	demo.Wait()
	if err := <-done; err != nil {
		return fmt.Errorf("dev: worker: %w", err)
	}
	log.Info("stopped")
	return nil
}

// WorkerConfig is the worker's configuration in env: the emulator's
// business and system user (looked up by name, as most BSPs configure it),
// retry settings short enough for a demo, and a sweep every
// DefaultSweepInterval (Options.SweepInterval overrides it).
func WorkerConfig(env Env) (config.Config, error) {
	vars := map[string]string{
		"NATS_URL":                    env.NATSURL,
		"GRAPH_BASE_URL":              env.GraphURL,
		"GRAPH_ACCESS_TOKEN":          emulator.DevAdminToken,
		"BUSINESS_ID":                 emulator.DevBusinessID,
		"SYSTEM_USER_NAME":            emulator.DevSystemUserName,
		"WORKER_CONCURRENCY":          "4",
		"WORKER_MAX_DELIVER":          "5",
		"WORKER_ACK_WAIT":             "30s",
		"WORKER_RETRY_INITIAL":        "200ms",
		"WORKER_RETRY_MAX":            "2s",
		"WORKER_RETRY_MAX_ELAPSED":    "10s",
		"WORKER_BREAKER_OPEN_TIMEOUT": "5s",
		"WORKER_SHUTDOWN_TIMEOUT":     "5s",
		"GRAPH_TIMEOUT":               "5s",
		"SWEEP_INTERVAL":              DefaultSweepInterval.String(),
	}
	cfg, err := config.Load(nil, config.MapEnv(vars), io.Discard)
	if err != nil {
		return config.Config{}, fmt.Errorf("dev: worker configuration: %w", err)
	}
	cfg.HTTPAddr = env.HTTPAddr // set here: config.Load reads "" as unset, not as disabled
	return cfg, nil
}

// natsPort checks that the NATS port is free, falling back from the default.
func natsPort(port int, log *slog.Logger) (int, error) {
	if port <= 0 {
		return -1, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if port == DefaultNATSPort {
			log.Warn("port 4222 is taken (a NATS server already running?): the embedded NATS takes a free port")
			return -1, nil
		}
		return 0, fmt.Errorf("dev: NATS port %d: %w (pass --nats-port 0 for a free one)", port, err)
	}
	_ = ln.Close()
	return port, nil
}

// listen listens on addr, falling back to a free port when addr is the
// default and taken.
func listen(addr, what string, isDefault bool, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !isDefault {
		return nil, fmt.Errorf("dev: %s address %s: %w", what, addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	log.Warn(what+" address taken: using a free port", "address", addr)
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("dev: %s: %w", what, err)
	}
	return ln, nil
}

// httpAddr resolves the worker's HTTP address: a port 0 or a taken default
// becomes a free port (found by listening once, so it can be printed).
func httpAddr(addr string, log *slog.Logger) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := listen(addr, "worker HTTP", addr == DefaultHTTPAddr, log)
	if err != nil {
		return "", err
	}
	a := ln.Addr().String()
	_ = ln.Close()
	return a, nil
}

// result is a result with the source of its event ("" when unknown).
type result struct {
	wabatype.Result
	Source string
}

func (r result) wabaID() string {
	if r.Succeeded != nil {
		return r.Succeeded.WabaID
	}
	return r.Failed.WabaID
}

func (r result) eventID() string {
	if r.Succeeded != nil {
		return r.Succeeded.EventID
	}
	return r.Failed.EventID
}

// maxSources bounds the events whose source watch remembers while their
// result is pending.
const maxSources = 100_000

// watch logs one line per result published from now on, with the source of
// its event, and hands each to results (dropping when nobody reads). It
// follows the inputs too, in the stream's order, to learn each event's
// source (a result does not carry it), and logs a line for each event the
// sweep publishes. stop ends it.
func watch(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, log *slog.Logger, results chan<- result) (stop func(), err error) {
	cons, err := js.OrderedConsumer(ctx, topo.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.Subject, topo.SucceededSubject, topo.FailedSubject},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("dev: follow results: %w", err)
	}
	sources := map[string]string{} // event id -> source; Consume calls one at a time
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var seq uint64
		if meta, err := msg.Metadata(); err == nil {
			seq = meta.Sequence.Stream
		}
		if msg.Subject() == topo.Subject {
			ev, _ := events.Decode(msg.Data()) // an invalid event still names what it could read
			id := events.EventID(ev.ID, msg.Headers().Get(jetstream.MsgIDHeader), seq)
			if len(sources) >= maxSources {
				clear(sources)
			}
			sources[id] = ev.Source
			if ev.Source == sweep.Source {
				log.Info("sweep: a listed WABA the ledger does not show onboarded: waba.shared published",
					"source", ev.Source, "event_id", id, "waba_id", ev.WabaID)
			}
			return
		}
		r, err := wabatype.DecodeResult(topo, msg.Subject(), seq, msg.Data())
		if err != nil {
			log.Warn("unreadable result", "error", err.Error())
			return
		}
		res := result{Result: r}
		res.Source = sources[res.eventID()]
		delete(sources, res.eventID())
		if res.Source == "" && r.Failed != nil {
			ev, _ := events.Decode(r.Failed.Event) // published before dev followed the stream
			res.Source = ev.Source
		}
		LogResult(log, r, res.Source)
		select {
		case results <- res:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return nil, fmt.Errorf("dev: follow results: %w", err)
	}
	return cc.Stop, nil
}

// LogResult writes one line for a result: the source of its event (sweep,
// webhook, worker-dev-demo, ...; "unknown" when not known), then what was
// assigned, or the failure's kind, Graph code and subcode, message and
// trace id.
func LogResult(log *slog.Logger, r wabatype.Result, source string) {
	source = cmp.Or(source, "unknown")
	if s := r.Succeeded; s != nil {
		log.Info("succeeded", "outcome", "succeeded", "source", source, "event_id", s.EventID, "waba_id", s.WabaID,
			"system_user_id", s.SystemUserID, "tasks", s.Tasks, "already_assigned", s.AlreadyAssigned,
			"attempts", s.Attempts)
		return
	}
	f := r.Failed
	attrs := []any{"outcome", "failed", "source", source, "event_id", f.EventID, "waba_id", f.WabaID, "kind", f.Error.Kind}
	if f.Error.GraphCode != nil {
		attrs = append(attrs, "graph_code", *f.Error.GraphCode)
	}
	if f.Error.GraphSubcode != nil {
		attrs = append(attrs, "graph_subcode", *f.Error.GraphSubcode)
	}
	attrs = append(attrs, "message", textutil.Clip(f.Error.Message, maxMessage))
	if f.Error.FBTraceID != "" {
		attrs = append(attrs, "fbtrace_id", f.Error.FBTraceID)
	}
	log.Warn("failed", attrs...)
}

// maxMessage is how much of a failure's message a result line shows; the
// failed event on the stream keeps all of it.
const maxMessage = 80

// resultLinesOnce is the worker's log handler in dev: it moves the
// handler's own "assignment failed" line to debug, since dev prints one line
// per result (LogResult) and the failure would otherwise show twice.
type resultLinesOnce struct{ slog.Handler }

func (h resultLinesOnce) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "assignment failed" && r.Level > slog.LevelDebug {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h resultLinesOnce) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, l)
}

func (h resultLinesOnce) WithAttrs(attrs []slog.Attr) slog.Handler {
	return resultLinesOnce{h.Handler.WithAttrs(attrs)}
}

func (h resultLinesOnce) WithGroup(name string) slog.Handler {
	return resultLinesOnce{h.Handler.WithGroup(name)}
}

// drain reads results nobody waits for.
func drain(ctx context.Context, results <-chan result) {
	for {
		select {
		case <-results:
		case <-ctx.Done():
			return
		}
	}
}

// runDemo emits n events, the last of them (when n >= 2) for a WABA the
// business does not have; with n >= 3 the second WABA is assigned
// beforehand, to show an already-assigned success. It also shares
// SignupWABAID through Embedded Signup (the webhook path) and, when
// sweepWABA is set, counts on the sweep to find that WABA, which was shared
// before the worker started, with no webhook and no event. It waits for the
// results, then says so. Once every result but the sweep's is in (or
// settleWait passed) it closes settled, which lets the first sweep run; it
// waits for the sweep's result at most sweepWait from then.
func runDemo(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, emu *emulator.Server, n int, sweepWABA string, settled chan<- struct{}, log *slog.Logger, results <-chan result) {
	var deadline <-chan time.Time
	settle := func() {
		if settled == nil {
			return
		}
		close(settled)
		settled = nil
		if sweepWABA != "" {
			deadline = time.After(sweepWait)
		}
	}
	defer func() {
		if settled != nil {
			close(settled)
		}
	}()
	wabas := demoWABAs(n)
	// Results counted by WABA, the first one of each: the webhook's path
	// (webhook.go) and the sweep's.
	byWABA := map[string]bool{}
	if signup := demoSignup(ctx, emu, log); signup != "" {
		byWABA[signup] = true
	}
	if sweepWABA != "" {
		log.Info("demo: a WABA was shared while the webhook was down: no webhook, no event; the discovery sweep finds it",
			"waba_id", sweepWABA, "first_sweep", SweepFirstDelay.String()+" after the demo's other results")
		byWABA[sweepWABA] = true
	}
	if n >= 3 {
		_ = emu.Assign(wabas[1], emulator.DevSystemUserID, "MANAGE")
	}
	var run [3]byte
	_, _ = rand.Read(run[:])
	prefix := "demo-" + hex.EncodeToString(run[:]) + "-"
	want := map[string]bool{}
	now := time.Now().UTC().Format(time.RFC3339)
	for i, waba := range wabas {
		ev := events.Shared{ID: prefix + strconv.Itoa(i+1), WabaID: waba, BusinessID: emulator.DevBusinessID,
			Source: "worker-dev-demo", OccurredAt: now}
		_, payload, err := emit.Encode(ev)
		if err == nil {
			_, err = emit.Publish(ctx, js, topo, ev.ID, payload)
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Error("demo: cannot emit", "event_id", ev.ID, "error", err.Error())
			}
			return
		}
		want[ev.ID] = true
	}
	log.Info("demo: events emitted, waiting for their results", "events", n)
	var ok, failed int
	hold := time.NewTimer(settleWait)
	defer hold.Stop()
	for len(want)+len(byWABA) > 0 {
		if len(want) == 0 && (len(byWABA) == 0 || len(byWABA) == 1 && byWABA[sweepWABA]) {
			settle()
		}
		select {
		case <-hold.C:
			settle() // a result that never comes must not hold the sweep forever
		case r := <-results:
			switch {
			case want[r.eventID()]:
				delete(want, r.eventID())
			case byWABA[r.wabaID()]:
				delete(byWABA, r.wabaID())
			default:
				continue
			}
			if r.OK() {
				ok++
			} else {
				failed++
			}
		case <-deadline:
			if byWABA[sweepWABA] {
				delete(byWABA, sweepWABA)
				log.Warn("demo: the sweep has not onboarded the WABA shared while the webhook was down; not waiting any more "+
					"(with --store, an earlier run's ledger or sweep may hold it back)", "waba_id", sweepWABA, "waited", sweepWait.String())
			}
		case <-ctx.Done():
			return
		}
	}
	log.Info("demo: done; the worker keeps running (Ctrl-C stops it)", "succeeded", ok, "failed", failed)
	drain(ctx, results)
}

func printBanner(w io.Writer, self string, env Env, topo wabatype.Topology, temp bool, sweepEvery time.Duration, demo bool) {
	ids := emulator.DevWABAIDs()
	store := env.StoreDir
	if temp {
		store += ", removed at exit"
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("waba-worker dev: NATS JetStream, the Graph emulator and the worker, all in this process.")
	p("")
	p("  NATS JetStream  %s  (stream %s; store %s)", env.NATSURL, topo.Stream, store)
	p("  Graph emulator  %s  (business %s, system user %q %s, token %s,", env.GraphURL,
		emulator.DevBusinessID, emulator.DevSystemUserName, emulator.DevSystemUserID, emulator.DevAdminToken)
	p("                  WABAs %s ... %s)", ids[0], ids[len(ids)-1])
	if env.HTTPAddr != "" {
		p("  worker HTTP     http://%s/healthz  /readyz  /metrics", env.HTTPAddr)
	}
	p("  webhook gateway %s  (Meta's callback URL; verify token %s, app secret %s;", env.WebhookURL, DevVerifyToken, DevAppSecret)
	p("                  the emulator delivers account_update here, the gateway publishes waba.shared)")
	if sweepEvery > 0 {
		first := "start"
		if demo {
			first = "the demo's own results"
		}
		p("  discovery sweep every %s, the first %s after %s (SWEEP_INTERVAL; 0 disables): publishes waba.shared", shortDuration(sweepEvery), SweepFirstDelay, first)
		p("                  for each listed WABA the ledger lacks (the seeded WABAs the demo does not use start onboarded)")
	} else {
		p("  discovery sweep off (SWEEP_INTERVAL=0)")
	}
	p("")
	p("From another terminal:")
	p("  %s emit --nats-url %s --waba-id %s --wait 30s   # already assigned: dev starts with it onboarded", self, env.NATSURL, ids[len(ids)-1])
	p("  %s emit --nats-url %s --waba-id %s --wait 30s   # fails: not shared with the business", self, env.NATSURL, UnknownWABAID)
	p("  %s replay --nats-url %s --since 1h --dry-run", self, env.NATSURL)
	p("  %s graph-emulator share --url %s --waba-id 102290129340501 --wait 30s   # Embedded Signup: webhook -> waba.shared", self, env.GraphURL)
	p("  curl -H 'Authorization: Bearer %s' '%s/%s/%s/assigned_users?business=%s'", emulator.DevAdminToken,
		env.GraphURL, graph.DefaultVersion, ids[len(ids)-1], emulator.DevBusinessID)
	p("")
	p("One line per result follows. Ctrl-C stops everything.")
}

// shortDuration is d as SWEEP_INTERVAL would say it: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}
