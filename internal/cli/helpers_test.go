package cli_test

import (
	"context"
	"encoding/json"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/cli"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// result is what one cli.Run call gave.
type result struct {
	stdout, stderr string
	err            error
	code           int // what the process would exit with
}

// runCLI runs the command line in-process, as cmd/worker does, with env as
// the whole environment.
func runCLI(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr syncBuffer
	err := cli.Run(ctx, args, config.MapEnv(env), &stdout, &stderr)
	code := cli.ExitCode(err, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err, code: code}
}

// bundle is one test's world: a real JetStream server with the worker's
// stream, the Graph emulator, and (after startWorker) the worker.
type bundle struct {
	t     *testing.T
	nats  *natstest.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	graph *emulator.Server
	env   map[string]string // for emit and replay
	logs  *syncBuffer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	n := natstest.Start(t)
	nc, js := n.Connect()
	if _, err := worker.EnsureStream(t.Context(), js, wabatype.Topology{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, nats: n, nc: nc, js: js, graph: graphtest.NewTestServer(t, emulator.DefaultSeed()),
		env: map[string]string{"NATS_URL": n.URL()}, logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", b.logs.String())
		}
	})
	return b
}

// startWorker runs the worker (app.Run) against the bundle until the test
// ends, and checks that it then stops cleanly.
func (b *bundle) startWorker() {
	b.t.Helper()
	vars := map[string]string{
		"NATS_URL":                 b.nats.URL(),
		"GRAPH_BASE_URL":           b.graph.URL(),
		"GRAPH_ACCESS_TOKEN":       emulator.DevAdminToken,
		"BUSINESS_ID":              emulator.DevBusinessID,
		"SYSTEM_USER_ID":           emulator.DevSystemUserID,
		"WORKER_CONCURRENCY":       "4",
		"WORKER_ACK_WAIT":          "5s",
		"WORKER_RETRY_INITIAL":     "10ms",
		"WORKER_RETRY_MAX":         "100ms",
		"WORKER_RETRY_MAX_ELAPSED": "2s",
		"WORKER_SHUTDOWN_TIMEOUT":  "5s",
		"GRAPH_TIMEOUT":            "2s",
		"SWEEP_INTERVAL":           "0",
	}
	cfg, err := config.Load(nil, config.MapEnv(vars), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	cfg.HTTPAddr = ""
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(b.logs, nil))
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: log, OnStart: func(*worker.Worker) { close(started) }})
	}()
	select {
	case <-started:
	case err := <-done:
		cancel()
		b.t.Fatalf("app.Run returned at start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		b.t.Fatal("the worker did not start within 10s")
	}
	b.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.t.Errorf("app.Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			b.t.Error("the worker did not stop within 20s")
		}
	})
}

// publish publishes data on subject with headers (Nats-Msg-Id among them,
// when given) and returns its stream sequence.
func (b *bundle) publish(subject string, data []byte, hdr map[string]string) uint64 {
	b.t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	for k, v := range hdr {
		msg.Header.Set(k, v)
	}
	ack, err := b.js.PublishMsg(b.t.Context(), msg)
	if err != nil {
		b.t.Fatalf("publish on %s: %v", subject, err)
	}
	return ack.Sequence
}

// failed publishes a failed event as the worker would, for eventID and
// wabaID, with the input it carries; it returns the event's stream sequence.
func (b *bundle) failed(eventID, wabaID, kind string, code int, input string) uint64 {
	b.t.Helper()
	f := events.Failed{EventID: eventID, WabaID: wabaID, Attempts: 1, FailedAt: time.Now().UTC(),
		Error: events.Failure{Kind: kind, Message: "test failure"}, Event: json.RawMessage(input)}
	if code != 0 {
		f.Error.GraphCode = &code
	}
	data, err := f.Encode()
	if err != nil {
		b.t.Fatal(err)
	}
	return b.publish("waba.assignment.failed", data, map[string]string{jetstream.MsgIDHeader: eventID + ".failed"})
}

// succeeded publishes a succeeded event for eventID and wabaID.
func (b *bundle) succeeded(eventID, wabaID string) uint64 {
	b.t.Helper()
	data, _ := json.Marshal(events.Succeeded{EventID: eventID, WabaID: wabaID, SystemUserID: emulator.DevSystemUserID,
		Tasks: []string{"MANAGE"}, Attempts: 1, CompletedAt: time.Now().UTC()})
	return b.publish("waba.assignment.succeeded", data, map[string]string{jetstream.MsgIDHeader: eventID + ".succeeded"})
}

// inputs returns the messages on waba.shared, in stream order.
func (b *bundle) inputs() []*jetstream.RawStreamMsg {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), "WABA")
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context())
	if err != nil {
		b.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(b.t.Context(), seq)
		if err != nil {
			continue // deleted
		}
		if m.Subject == "waba.shared" {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonLines decodes the JSON log lines of s, skipping anything else.
func jsonLines(s string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(s, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

type syncBuffer = resultstest.SyncBuffer

// cliRun is cli.Run with env as the environment.
func cliRun(ctx context.Context, env map[string]string, stdout, stderr *syncBuffer, args ...string) error {
	return cli.Run(ctx, args, config.MapEnv(env), stdout, stderr)
}
