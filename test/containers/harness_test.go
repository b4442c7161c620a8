package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/resultstest"
)

// The knobs shared by the scenarios: small enough that a run takes seconds
// on two cores, slow enough (Graph latency, few slots) that a fault lands
// while events are in flight and results are being published.
const (
	events       = 200
	graphLatency = 40 * time.Millisecond
	ackWait      = 3 * time.Second
	concurrency  = 4
	faultAt      = events / 4 // results seen before the fault is injected

	tokenPath = "/etc/waba/graph-access-token" // the token, as a file (GRAPH_ACCESS_TOKEN_FILE)
	stream    = "WABA"
	consumer  = "waba-assigner"
)

// env is one test's world: a deadline, a private Docker network, the Graph
// emulator served on that network's gateway, and the containers started on
// it. Everything is removed by t.Cleanup, also when the test fails.
type env struct {
	t        *testing.T
	ctx      context.Context
	docker   *testcontainers.DockerClient
	net      *testcontainers.DockerNetwork
	graph    *emulator.Server
	graphURL string // as the containers reach it
}

func newEnv(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx}

	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { docker.Close() })
	e.docker = docker

	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	e.net = nw
	info, err := docker.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
	if err != nil || len(info.Network.IPAM.Config) == 0 || !info.Network.IPAM.Config[0].Gateway.IsValid() {
		t.Fatalf("network %s: no gateway address (%v)", nw.Name, err)
	}
	gateway := info.Network.IPAM.Config[0].Gateway.String()

	// The emulator listens on the gateway, the host's address on this
	// network only, so the containers reach it and nothing else does.
	g, err := emulator.New(emulator.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	g.SetLatency(graphLatency)
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		t.Fatalf("serve the Graph emulator on the network's gateway %s (the Docker engine must run on this host): %v", gateway, err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		g.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	e.graph, e.graphURL = g, "http://"+ln.Addr().String()
	return e
}

// node is a container of the test, with its logs.
type node struct {
	testcontainers.Container
	name string
	logs *logs
}

// start creates (and, when started, starts) a container on the test's
// network, reachable there as name. Its logs are kept, and shown when the
// test fails; the container is removed when the test ends.
func (e *env) start(name string, req testcontainers.ContainerRequest, started bool, terminate ...testcontainers.TerminateOption) *node {
	e.t.Helper()
	// testcontainers pulls an image it does not find; nothing may be
	// pulled here, so a missing image is this test's failure.
	if _, err := e.docker.ImageInspect(e.ctx, req.Image); err != nil {
		e.t.Fatalf("image %s is not on this Docker engine (make images builds it): %v", req.Image, err)
	}
	l := &logs{}
	req.Networks = []string{e.net.Name}
	req.NetworkAliases = map[string][]string{e.net.Name: {name}}
	req.LogConsumerCfg = &testcontainers.LogConsumerConfig{Consumers: []testcontainers.LogConsumer{l}}
	c, err := testcontainers.GenericContainer(e.ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Started: started, Logger: tclog.TestLogger(e.t),
	})
	testcontainers.CleanupContainer(e.t, c, append([]testcontainers.TerminateOption{testcontainers.StopTimeout(0)}, terminate...)...)
	n := &node{Container: c, name: name, logs: l}
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("---- logs of %s (%s) ----\n%s", name, req.Image, l.tail(48<<10))
		}
	})
	if err != nil {
		e.t.Fatalf("container %s: %v", name, err)
	}
	return n
}

// natsNode is a NATS server container with a fixed port on the host's
// loopback, so that the test's connection finds it again after a restart.
type natsNode struct {
	*node
	url string // for the test process
}

type natsOptions struct {
	volume  string   // a named volume for /data (the JetStream store)
	cluster []string // the names of every node of the cluster, this one included
}

func (e *env) startNATS(name string, o natsOptions) *natsNode {
	e.t.Helper()
	port := freePort(e.t)
	cmd := []string{"--jetstream", "--store_dir", "/data", "--server_name", name, "--http_port", "8222"}
	if len(o.cluster) > 0 {
		routes := make([]string, len(o.cluster))
		for i, peer := range o.cluster {
			routes[i] = "nats://" + peer + ":6222"
		}
		cmd = append(cmd, "--cluster_name", "waba", "--cluster", "nats://0.0.0.0:6222", "--routes", strings.Join(routes, ","))
	}
	req := testcontainers.ContainerRequest{
		Image:        natsImage,
		Cmd:          cmd,
		ExposedPorts: []string{"4222/tcp"},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = mobynet.PortMap{mobynet.MustParsePort("4222/tcp"): {{
				HostIP: mustAddr("127.0.0.1"), HostPort: strconv.Itoa(port),
			}}}
		},
		WaitingFor: wait.ForLog("Server is ready").WithStartupTimeout(60 * time.Second),
	}
	var terminate []testcontainers.TerminateOption
	if o.volume != "" {
		req.Mounts = testcontainers.ContainerMounts{testcontainers.VolumeMount(o.volume, "/data")}
		terminate = append(terminate, testcontainers.RemoveVolumes(o.volume))
	}
	n := e.start(name, req, true, terminate...)
	return &natsNode{node: n, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
}

// workerEnv is the worker containers' configuration; a scenario may
// override or add to it.
func (e *env) workerEnv(natsURL string) map[string]string {
	return map[string]string{
		"NATS_URL":                 natsURL,
		"GRAPH_BASE_URL":           e.graphURL,
		"GRAPH_ACCESS_TOKEN_FILE":  tokenPath,
		"BUSINESS_ID":              emulator.DevBusinessID,
		"SYSTEM_USER_NAME":         emulator.DevSystemUserName,
		"WORKER_CONCURRENCY":       strconv.Itoa(concurrency),
		"WORKER_ACK_WAIT":          ackWait.String(),
		"WORKER_RETRY_INITIAL":     "50ms",
		"WORKER_RETRY_MAX":         "500ms",
		"WORKER_RETRY_MAX_ELAPSED": "10s",
		"WORKER_SHUTDOWN_TIMEOUT":  "10s",
		"HTTP_ADDR":                ":8080",
		"SWEEP_INTERVAL":           "0", // the scenarios count their own events
		"LOG_FORMAT":               "json",
		"LOG_LEVEL":                "info",
	}
}

// workerNode is a worker container; its HTTP port is published on the host.
type workerNode struct{ *node }

// startWorker starts a worker container and waits for its /healthz: the
// process runs (readiness is up to the scenario).
func (e *env) startWorker(name string, env map[string]string) *workerNode {
	e.t.Helper()
	req := testcontainers.ContainerRequest{
		Image:        workerImage,
		Env:          env,
		ExposedPorts: []string{"8080/tcp"},
		Files: []testcontainers.ContainerFile{{
			Reader: strings.NewReader(emulator.DevAdminToken + "\n"), ContainerFilePath: tokenPath, FileMode: 0o444,
		}},
		WaitingFor: wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(60 * time.Second),
	}
	return &workerNode{e.start(name, req, true)}
}

// readyz asks the worker's /readyz: its status code, or 0 when it does not
// answer.
func (w *workerNode) readyz(ctx context.Context) (int, string) {
	host, err := w.Host(ctx)
	if err != nil {
		return 0, err.Error()
	}
	port, err := w.MappedPort(ctx, "8080/tcp")
	if err != nil {
		return 0, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port.Port())+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

// waitReady waits until the worker's /readyz answers want (200 or 503).
func (e *env) waitReady(w *workerNode, want int, timeout time.Duration) {
	e.t.Helper()
	var last string
	e.waitFor(fmt.Sprintf("%s /readyz to answer %d", w.name, want), timeout, func() bool {
		code, body := w.readyz(e.ctx)
		last = fmt.Sprintf("%d %s", code, body)
		return code == want
	}, func() string { return "last answer: " + last })
}

// stopGracefully sends SIGTERM and waits for the container to exit (up to
// grace, then SIGKILL); it returns the exit code.
func (e *env) stopGracefully(n *node, grace time.Duration) int {
	e.t.Helper()
	if err := n.Stop(e.ctx, &grace); err != nil {
		e.t.Fatalf("stop %s: %v", n.name, err)
	}
	st, err := n.State(e.ctx)
	if err != nil {
		e.t.Fatalf("state of %s: %v", n.name, err)
	}
	return st.ExitCode
}

// kill sends SIGKILL: the process gets no chance to clean up.
func (e *env) kill(n *node) {
	e.t.Helper()
	if _, err := e.docker.ContainerKill(e.ctx, n.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		e.t.Fatalf("kill %s: %v", n.name, err)
	}
}

// connect connects the test process to NATS (reconnecting for ever) and
// waits until JetStream answers.
func (e *env) connect(urls ...string) (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("waba-container-test"),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		e.t.Fatalf("connect %v: %v", urls, err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitJetStream(js, 60*time.Second)
	return nc, js
}

// waitJetStream waits until JetStream answers an account info request (in
// a cluster: a meta leader is elected).
func (e *env) waitJetStream(js jetstream.JetStream, timeout time.Duration) {
	e.t.Helper()
	var last error
	e.waitFor("JetStream to answer", timeout, func() bool {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		defer cancel()
		_, last = js.AccountInfo(ctx)
		return last == nil
	}, func() string { return fmt.Sprint("last error: ", last) })
}

// publish adds n WABAs to the emulator and publishes a waba.shared event for
// each, with Nats-Msg-Id = the event id, as publishers do. It returns the
// event ids.
func (e *env) publish(js jetstream.JetStream, n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		waba := strconv.Itoa(700000000000000 + i)
		if err := e.graph.AddWABA(emulator.DevBusinessID, waba); err != nil {
			e.t.Fatal(err)
		}
		ids[i] = "evt-" + waba
		body, _ := json.Marshal(map[string]string{"id": ids[i], "waba_id": waba})
		if _, err := js.PublishMsg(e.ctx, &nats.Msg{Subject: "waba.shared", Data: body}, jetstream.WithMsgID(ids[i])); err != nil {
			e.t.Fatalf("publish event %d: %v", i, err)
		}
	}
	return ids
}

// settle waits for a result per event, then for the consumer to have
// nothing pending, and checks the end state: every event has exactly one
// result (with the right Nats-Msg-Id, stored once), all succeeded, the
// stream holds exactly the inputs and one result each, and Graph shows every
// WABA assigned.
func (e *env) settle(js jetstream.JetStream, results *resultstest.Collector, ids []string, timeout time.Duration) {
	e.t.Helper()
	var (
		info      *jetstream.ConsumerInfo
		idleFrom  time.Time // since when the consumer has had nothing left to deliver
		lastAsked time.Time
	)
	consumerIdle := func() bool {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, consumer)
		if err == nil {
			info, err = c.Info(ctx)
		}
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}
	e.waitFor(fmt.Sprintf("a result for each of %d events", len(ids)), timeout, func() bool {
		if results.Count() >= len(ids) {
			return true
		}
		// Every event was acked (or terminated) and results are missing:
		// no redelivery will bring them. Say so now rather than at timeout.
		if time.Since(lastAsked) < 500*time.Millisecond {
			return false
		}
		lastAsked = time.Now()
		if !consumerIdle() {
			idleFrom = time.Time{}
			return false
		}
		if idleFrom.IsZero() {
			idleFrom = time.Now()
		}
		if time.Since(idleFrom) > 2*ackWait {
			// The collector reads the stream with an ordered consumer, which
			// may not come back when the node it lived on was lost: believe
			// the stream's own count before calling results lost, and read
			// the stream again with a new collector.
			ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
			s, err := js.Stream(ctx, stream)
			cancel()
			if err != nil {
				return false
			}
			if s.CachedInfo().State.Msgs >= uint64(2*len(ids)) {
				e.t.Logf("the stream holds every result but the collector saw %d: reading it again", results.Count())
				results = resultstest.Collect(e.t, js, stream)
				idleFrom = time.Time{}
				return false
			}
			var lost []string
			for _, id := range ids {
				if len(results.Succeeded(id))+len(results.Failed(id)) == 0 {
					lost = append(lost, id)
				}
			}
			e.t.Fatalf("%d events were acknowledged but have no result (acked before the result's PubAck?): %v",
				len(lost), lost[:min(len(lost), 10)])
		}
		return false
	}, func() string { return fmt.Sprintf("%d results; consumer: %+v", results.Count(), info) })
	e.waitFor("the consumer to have nothing pending or unacknowledged", timeout, consumerIdle,
		func() string { return fmt.Sprintf("consumer: %+v", info) })

	results.ExactlyOne(e.t, ids)
	if n := results.FailedCount(); n != 0 {
		e.t.Errorf("%d events failed; every WABA of the test can be assigned", n)
	}
	s, err := js.Stream(e.ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	if msgs := s.CachedInfo().State.Msgs; msgs != uint64(2*len(ids)) {
		e.t.Errorf("stream %s holds %d messages, want %d: the %d events and one result each", stream, msgs, 2*len(ids), len(ids))
	}
	unassigned := 0
	for _, id := range ids {
		tasks := e.graph.Assignments(strings.TrimPrefix(id, "evt-"))[emulator.DevSystemUserID]
		if !slices.Contains(tasks, "MANAGE") {
			unassigned++
		}
	}
	if unassigned > 0 {
		e.t.Errorf("%d WABAs are not assigned to the system user in Graph", unassigned)
	}
	e.t.Logf("settled: %d events, %d results, %d deliveries (%d redeliveries), %d Graph POSTs",
		len(ids), results.Count(), info.Delivered.Consumer, int(info.Delivered.Consumer)-len(ids), e.graph.Count(graph.OpAssignUser))
}

// waitFor polls cond every 50ms until it holds, or fails the test at timeout
// (or at the test's deadline), saying what it waited for and, if given, the
// last state seen.
func (e *env) waitFor(what string, timeout time.Duration, cond func() bool, state ...func() string) {
	e.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-e.ctx.Done():
		}
		msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
		if e.ctx.Err() != nil {
			msg = fmt.Sprintf("test deadline passed waiting for %s", what)
		}
		for _, s := range state {
			msg += "; " + s()
		}
		e.t.Fatal(msg)
	}
}

// logs keeps what a container prints.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Accept implements testcontainers.LogConsumer.
func (l *logs) Accept(lg testcontainers.Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(lg.Content)
}

func (l *logs) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s))
}

func (l *logs) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort returns a port that was free on the host's loopback a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var errNoLeader = errors.New("no leader")

// leaders returns the names of the servers leading the stream and the
// consumer.
func leaders(ctx context.Context, js jetstream.JetStream) (streamLeader, consumerLeader string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", "", err
	}
	c, err := s.Consumer(ctx, consumer)
	if err != nil {
		return "", "", err
	}
	si, ci := s.CachedInfo(), c.CachedInfo()
	if si.Cluster == nil || ci.Cluster == nil || si.Cluster.Leader == "" || ci.Cluster.Leader == "" {
		return "", "", errNoLeader
	}
	return si.Cluster.Leader, ci.Cluster.Leader, nil
}
