package main_test

// These tests run the built binary as a separate process against an
// in-process JetStream server and the Graph emulator, so that the worker can
// be killed with SIGKILL or stopped with SIGTERM as in production.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/worker"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "waba-worker-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the worker:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one run of the worker binary.
type proc struct {
	cmd    *exec.Cmd
	output *resultstest.SyncBuffer
	done   chan struct{}
	err    error
}

func startWorker(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, output: &resultstest.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		for _, k := range []string{"GRAPH_ACCESS_TOKEN", "GRAPH_ADMIN_ACCESS_TOKEN", "GRAPH_APP_SECRET"} {
			if v := env[k]; v != "" && strings.Contains(p.output.String(), v) {
				t.Errorf("the value of %s appears in the worker's output", k)
			}
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", p.output.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("worker still running after %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

type world struct {
	nats    *natstest.Server
	js      jetstream.JetStream
	graph   *emulator.Server
	results *resultstest.Collector
	env     map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	g := graphtest.NewTestServer(t, emulator.DefaultSeed())
	n := natstest.Start(t)
	_, js := n.Connect()
	if _, err := worker.EnsureStream(t.Context(), js, wabatype.Topology{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	return &world{nats: n, js: js, graph: g, results: resultstest.Collect(t, js, "WABA"),
		env: map[string]string{
			"NATS_URL":                 n.URL(),
			"GRAPH_BASE_URL":           g.URL(),
			"GRAPH_ACCESS_TOKEN":       emulator.DevAdminToken,
			"BUSINESS_ID":              emulator.DevBusinessID,
			"SYSTEM_USER_NAME":         emulator.DevSystemUserName,
			"WORKER_CONCURRENCY":       "16",
			"WORKER_ACK_WAIT":          "2s",
			"WORKER_RETRY_INITIAL":     "10ms",
			"WORKER_RETRY_MAX":         "100ms",
			"WORKER_SHUTDOWN_TIMEOUT":  "10s",
			"HTTP_ADDR":                "",
			"SWEEP_INTERVAL":           "0",
			"LOG_FORMAT":               "json",
			"LOG_LEVEL":                "info",
			"WORKER_RETRY_MAX_ELAPSED": "5s",
		}}
}

// emit publishes n events for n new WABAs and returns the event ids.
func (w *world) emit(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		waba := fmt.Sprintf("%d", 600000000000000+i)
		if err := w.graph.AddWABA(emulator.DevBusinessID, waba); err != nil {
			t.Fatal(err)
		}
		ids[i] = "evt-" + waba
		payload, _ := json.Marshal(map[string]string{"id": ids[i], "waba_id": waba})
		if _, err := w.js.PublishMsg(t.Context(), &nats.Msg{Subject: "waba.shared", Data: payload}, jetstream.WithMsgID(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// Acceptance 6: killing the worker (SIGKILL) in the middle of 300 events and
// starting it again ends with exactly one result per event.
func TestCrashMidRunLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.graph.SetLatency(15 * time.Millisecond)
	ids := w.emit(t, 300)

	first := startWorker(t, w.env)
	w.results.Wait(60, 60*time.Second)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 10*time.Second)
	killedAt := w.results.Count()
	if killedAt >= len(ids) {
		t.Fatalf("all %d events were done before the kill: the test proves nothing", killedAt)
	}

	startWorker(t, w.env)
	w.results.Wait(len(ids), 120*time.Second)
	w.results.ExactlyOne(t, ids)
	if n := w.results.FailedCount(); n != 0 {
		t.Errorf("%d events failed", n)
	}
	t.Logf("killed after %d of %d results", killedAt, len(ids))
}

// Acceptance 9: SIGTERM with work in flight exits 0 within the shutdown
// timeout; after a restart every event has exactly one result.
func TestSIGTERMFinishesInFlightWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.graph.SetLatency(40 * time.Millisecond)
	ids := w.emit(t, 120)
	w.env["WORKER_SHUTDOWN_TIMEOUT"] = "5s"

	first := startWorker(t, w.env)
	w.results.Wait(20, 60*time.Second)
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Bounded by the shutdown timeout, plus the pull request's wait and the
	// drain.
	if code := first.wait(t, 5*time.Second+10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(first.output.String(), "waba-worker stopped") {
		t.Errorf("no clean-stop log line")
	}
	stoppedAt := w.results.Count()

	startWorker(t, w.env)
	w.results.Wait(len(ids), 120*time.Second)
	w.results.ExactlyOne(t, ids)
	t.Logf("stopped after %d of %d results", stoppedAt, len(ids))
}

// A shutdown that cannot finish in time gives the events back (nak) and
// still exits 0.
func TestSIGTERMTimeoutGivesWorkBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ids := w.emit(t, 4)
	// Every POST hangs until the client gives up (GRAPH_TIMEOUT 30s): work
	// cannot finish within a 300ms shutdown timeout.
	w.graph.InjectFault("assign_user", emulator.Fault{Hang: true, Times: 4})
	w.env["WORKER_SHUTDOWN_TIMEOUT"] = "300ms"
	w.env["GRAPH_TIMEOUT"] = "30s"
	w.env["WORKER_ACK_WAIT"] = "30s"

	first := startWorker(t, w.env)
	resultstest.WaitFor(t, "4 hanging POSTs", 20*time.Second, func() bool { return w.graph.Count("assign_user") >= 4 })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	// The events were nak'd, not left to AckWait (30s): a new worker
	// finishes them well before that.
	startWorker(t, w.env)
	w.results.Wait(len(ids), 20*time.Second)
	w.results.ExactlyOne(t, ids)
}

// A bad setting stops the worker at start with one line naming the variable.
func TestBadSettingStopsAtStart(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"WORKER_CONCURRENCY":   "lots",
		"GRAPH_BASE_URL":       "ftp://example",
		"BUSINESS_ID":          "acme",
		"ASSIGN_TASKS":         "MANAGE,OWN",
		"WORKER_ACK_WAIT":      "soon",
		"LOG_LEVEL":            "loud",
		"GRAPH_API_VERSION":    "19",
		"GRAPH_ACCESS_TOKEN":   "",
		"NATS_URL":             "http://x:4222",
		"WORKER_RETRY_INITIAL": "1m",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"GRAPH_ACCESS_TOKEN": "secret-token-value",
				"BUSINESS_ID":        "100200300",
				"SYSTEM_USER_ID":     "1972555232742222",
				"HTTP_ADDR":          "",
			}
			env[name] = value
			p := startWorker(t, env)
			if code := p.wait(t, 30*time.Second); code == 0 {
				t.Fatalf("exit 0 with %s=%q", name, value)
			}
			out := strings.TrimSpace(p.output.String())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, name) {
				t.Errorf("want one line naming %s, got:\n%s", name, out)
			}
			if strings.Contains(out, "secret-token-value") {
				t.Errorf("the token appears in the error: %s", out)
			}
		})
	}
}

// The binary's commands answer --help and version.
func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("run --help: %v\n%s", err, out)
	}
	for _, v := range []string{"NATS_URL", "WORKER_MAX_DELIVER", "GRAPH_ACCESS_TOKEN_FILE", "SYSTEM_USER_NAME", "ASSIGN_TASKS", "HTTP_ADDR", "LOG_FORMAT"} {
		if !bytes.Contains(out, []byte(v)) {
			t.Errorf("run --help does not mention %s", v)
		}
	}
	out, err = exec.CommandContext(ctx, binary, "version").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("go1.")) {
		t.Errorf("version: %v %s", err, out)
	}
}
