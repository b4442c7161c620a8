package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// Secrets every test configures; none may appear in logs or events.
const (
	appSecret = "test-app-secret-5f2b9c"
)

// bundle is one test's world: a real JetStream server, the Graph emulator,
// the worker (app.Run) and a collector of the results it publishes.
type bundle struct {
	t       *testing.T
	nats    *natstest.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	graph   *emulator.Server
	env     map[string]string
	logs    *resultstest.SyncBuffer
	results *resultstest.Collector
	// tracer, if set before start, is the worker's tracer provider.
	tracer trace.TracerProvider
	// sweepAfter and sweepFirst, if set before start, are the Options of
	// the same names.
	sweepAfter <-chan struct{}
	sweepFirst time.Duration

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan error
	wk       *worker.Worker
	httpAddr string // where the HTTP endpoints listen, with HTTP_ADDR set
}

// setup starts NATS and the emulator and configures (but does not start) the
// worker. env overrides the test defaults.
func setup(t *testing.T, env map[string]string) *bundle {
	t.Helper()
	seed := emulator.DefaultSeed()
	seed.AppSecret = appSecret
	g := graphtest.NewTestServer(t, seed)
	n := natstest.Start(t)
	nc, js := n.Connect()
	b := &bundle{t: t, nats: n, nc: nc, js: js, graph: g, logs: &resultstest.SyncBuffer{}}
	b.env = map[string]string{
		"NATS_URL":                    n.URL(),
		"GRAPH_BASE_URL":              g.URL(),
		"GRAPH_ACCESS_TOKEN":          emulator.DevAdminToken,
		"GRAPH_APP_SECRET":            appSecret,
		"BUSINESS_ID":                 emulator.DevBusinessID,
		"SYSTEM_USER_ID":              emulator.DevSystemUserID,
		"WORKER_CONCURRENCY":          "8",
		"WORKER_ACK_WAIT":             "5s",
		"WORKER_RETRY_INITIAL":        "10ms",
		"WORKER_RETRY_MAX":            "100ms",
		"WORKER_RETRY_MAX_ELAPSED":    "3s",
		"WORKER_BREAKER_OPEN_TIMEOUT": "300ms",
		"WORKER_SHUTDOWN_TIMEOUT":     "5s",
		"GRAPH_TIMEOUT":               "2s",
		"HTTP_ADDR":                   "",
		"SWEEP_INTERVAL":              "0", // the sweep tests set it; others count their results exactly
		"LOG_LEVEL":                   "debug",
	}
	for k, v := range env {
		if v == "-" {
			delete(b.env, k)
			continue
		}
		b.env[k] = v
	}
	// The stream exists before the worker starts, as the collector reads it.
	if _, err := worker.EnsureStream(t.Context(), js, wabatype.Topology{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	b.results = resultstest.Collect(t, js, "WABA")
	t.Cleanup(func() {
		b.stop()
		b.checkNoSecrets()
		if t.Failed() {
			t.Logf("worker logs:\n%s", b.logs.String())
		}
	})
	return b
}

// start runs the worker until stop.
func (b *bundle) start() {
	b.t.Helper()
	cfg, err := config.Load(nil, config.MapEnv(b.env), nil)
	if err != nil {
		b.t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	started := make(chan *worker.Worker, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: log, ProbeInterval: 100 * time.Millisecond,
			OnStart:        func(w *worker.Worker) { started <- w },
			OnHTTP:         func(a net.Addr) { b.mu.Lock(); b.httpAddr = a.String(); b.mu.Unlock() },
			Getenv:         func(k string) string { return b.env[k] },
			TracerProvider: b.tracer, SweepAfter: b.sweepAfter, SweepFirstDelay: b.sweepFirst})
	}()
	select {
	case w := <-started:
		b.mu.Lock()
		b.cancel, b.done, b.wk = cancel, done, w
		b.mu.Unlock()
	case err := <-done:
		cancel()
		b.t.Fatalf("app.Run returned at start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		b.t.Fatal("worker did not start within 10s")
	}
}

// stop stops the worker and waits for app.Run to return nil.
func (b *bundle) stop() {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.cancel, b.done = nil, nil
	b.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			b.t.Errorf("app.Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		b.t.Error("worker did not stop within 20s")
	}
}

func (b *bundle) worker() *worker.Worker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wk
}

// publish sends a raw waba.shared payload with Nats-Msg-Id id ("" for none).
func (b *bundle) publish(id string, payload []byte) {
	b.t.Helper()
	msg := &nats.Msg{Subject: "waba.shared", Data: payload, Header: nats.Header{}}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := b.js.PublishMsg(b.t.Context(), msg, opts...); err != nil {
		b.t.Fatalf("publish: %v", err)
	}
}

// emit publishes a waba.shared event for wabaID with id and extra fields.
func (b *bundle) emit(id, wabaID string, extra map[string]any) {
	b.t.Helper()
	ev := map[string]any{"id": id, "waba_id": wabaID}
	for k, v := range extra {
		ev[k] = v
	}
	payload, _ := json.Marshal(ev)
	b.publish(id, payload)
}

// emitAll publishes an event "evt-<waba>" for each WABA id and returns the
// event ids.
func (b *bundle) emitAll(wabaIDs []string) []string {
	b.t.Helper()
	ids := make([]string, len(wabaIDs))
	for i, w := range wabaIDs {
		ids[i] = "evt-" + w
		b.emit(ids[i], w, nil)
	}
	return ids
}

// waitFor polls cond until it holds or the deadline passes.
func (b *bundle) waitFor(what string, timeout time.Duration, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitResults waits until n events have a result.
func (b *bundle) waitResults(n int, timeout time.Duration) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%d results", n), timeout, func() bool { return b.results.Count() >= n })
}

// consumerInfo returns the durable consumer's state.
func (b *bundle) consumerInfo() *jetstream.ConsumerInfo {
	b.t.Helper()
	c, err := b.js.Consumer(b.t.Context(), "WABA", "waba-assigner")
	if err != nil {
		b.t.Fatalf("consumer: %v", err)
	}
	info, err := c.Info(b.t.Context())
	if err != nil {
		b.t.Fatalf("consumer info: %v", err)
	}
	return info
}

// checkNoSecrets fails the test if a token or the app secret appears in the
// worker's logs or in anything on the stream.
func (b *bundle) checkNoSecrets() {
	secrets := []string{appSecret, emulator.DevAdminToken, emulator.DevReadToken}
	for _, k := range []string{"GRAPH_ACCESS_TOKEN", "GRAPH_ADMIN_ACCESS_TOKEN", "GRAPH_APP_SECRET"} {
		if v := b.env[k]; v != "" {
			secrets = append(secrets, v)
		}
	}
	logs := b.logs.String()
	stream := b.results.Raw()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			b.t.Errorf("a secret (%d chars) appears in the worker's logs", len(s))
		}
		if strings.Contains(stream, s) {
			b.t.Errorf("a secret (%d chars) appears in a published event", len(s))
		}
	}
}
