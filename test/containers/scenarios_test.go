package containers

// The four broker-fault scenarios. They run one after another, not in
// parallel: each injects its fault at a moment chosen by watching the run,
// and two cores shared by several NATS servers and workers would blur those
// moments.
//
// Each ends with settle: every event has exactly one result, whose
// Nats-Msg-Id is <event_id>.succeeded and was stored once, and the stream
// holds exactly the events and one result each. A worker that published
// results without Nats-Msg-Id fails every scenario at its first result; one
// that acked an input before its result's PubAck loses that result whenever
// the ack reaches the broker and the result does not, which the faults below
// provoke: a stream that refuses results while acks go through (scenarios
// 2 and 3) and a worker stopped while it holds such results (scenario 3).

import (
	"errors"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// publishRetryLog is what the worker logs when a result got no PubAck and it
// tries again, holding the input unacknowledged.
const publishRetryLog = "cannot publish the result"

// Scenario 1: the NATS container is stopped in the middle of a run, while
// results are being published, and started again on the same file store (a
// named volume). The stream, the consumer's state and the duplicate window
// survive; the worker reconnects and finishes.
func TestNATSStoppedAndStartedMidRun(t *testing.T) {
	e := newEnv(t, 4*time.Minute)
	n := e.startNATS("nats", natsOptions{volume: fmt.Sprintf("waba-test-nats-%d", time.Now().UnixNano())})
	_, js := e.connect(n.url)
	if _, err := worker.EnsureStream(e.ctx, js, wabatype.Topology{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	results := resultstest.Collect(t, js, stream)
	ids := e.publish(js, events)
	w := e.startWorker("worker", e.workerEnv("nats://nats:4222"))

	e.waitFor(fmt.Sprintf("%d results before stopping NATS", faultAt), time.Minute,
		func() bool { return results.Count() >= faultAt })
	atStop, postsAtStop := results.Count(), e.graph.Count(graph.OpAssignUser)
	if code := e.stopGracefully(n.node, 10*time.Second); code != 0 {
		t.Logf("nats-server exited %d", code)
	}
	e.waitReady(w, 503, 15*time.Second)
	// The outage outlasts AckWait, so that what the worker holds is due for
	// redelivery when the broker is back.
	select {
	case <-time.After(ackWait + time.Second):
	case <-e.ctx.Done():
		t.Fatal("test deadline passed during the NATS outage")
	}
	postsDuring := e.graph.Count(graph.OpAssignUser) - postsAtStop
	if err := n.Start(e.ctx); err != nil {
		t.Fatalf("start NATS again: %v", err)
	}
	e.waitJetStream(js, 30*time.Second)
	e.waitReady(w, 200, 30*time.Second)

	e.settle(js, results, ids, 2*time.Minute)
	t.Logf("NATS stopped after %d of %d results; the worker made %d Graph POSTs while it was down", atStop, events, postsDuring)
	if atStop >= events {
		t.Errorf("every result was in before NATS stopped: the fault missed the run")
	}
}

// Scenario 2: a three-node JetStream cluster, the stream at three replicas,
// loses the node that leads the stream (SIGKILL) in the middle of a run. The
// consumer is led from another node first, so that acks go through while the
// stream elects a new leader and refuses results. The worker carries on
// through the other two nodes.
func TestClusterLosesANodeMidRun(t *testing.T) {
	e := newEnv(t, 5*time.Minute)
	names := []string{"n1", "n2", "n3"}
	nodes := map[string]*natsNode{}
	var urls, workerURLs []string
	for _, name := range names {
		nodes[name] = e.startNATS(name, natsOptions{cluster: names})
		urls = append(urls, nodes[name].url)
		workerURLs = append(workerURLs, "nats://"+name+":4222")
	}
	nc, js := e.connect(urls...)

	// The stream is the operator's, made before any worker runs: the
	// worker never changes an existing stream.
	cfg := worker.StreamConfig(wabatype.Topology{}.WithDefaults())
	cfg.Replicas = 3
	var err error
	e.waitFor("the stream to be created at 3 replicas", time.Minute, func() bool {
		_, err = js.CreateStream(e.ctx, cfg)
		return err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse)
	}, func() string { return fmt.Sprint("last error: ", err) })
	results := resultstest.Collect(t, js, stream)
	ids := e.publish(js, events)
	w := e.startWorker("worker", e.workerEnv(strings.Join(workerURLs, ",")))
	e.waitReady(w, 200, time.Minute)

	var streamLeader, consumerLeader string
	e.waitFor("the consumer to be led from another node than the stream", time.Minute, func() bool {
		if streamLeader, consumerLeader, err = leaders(e.ctx, js); err != nil || streamLeader != consumerLeader {
			return err == nil
		}
		_, err = nc.Request(fmt.Sprintf("$JS.API.CONSUMER.LEADER.STEPDOWN.%s.%s", stream, consumer), nil, 2*time.Second)
		return false
	}, func() string {
		return fmt.Sprintf("stream leader %q, consumer leader %q, error %v", streamLeader, consumerLeader, err)
	})

	e.waitFor(fmt.Sprintf("%d results before losing a node", faultAt), time.Minute,
		func() bool { return results.Count() >= faultAt })
	atKill := results.Count()
	e.kill(nodes[streamLeader].node)

	e.settle(js, results, ids, 3*time.Minute)
	newLeader, _, err := leaders(e.ctx, js)
	if err != nil || newLeader == streamLeader {
		t.Errorf("after losing %s the stream is led by %q (%v)", streamLeader, newLeader, err)
	}
	if st, err := nodes[streamLeader].State(e.ctx); err != nil || st.Running {
		t.Errorf("%s runs again (%v): the run did not end on two nodes", streamLeader, err)
	}
	t.Logf("killed %s (stream leader; consumer led by %s) after %d of %d results; the stream is now led by %s",
		streamLeader, consumerLeader, atKill, events, newLeader)
	if !w.logs.contains(publishRetryLog) {
		t.Errorf("the worker never had a result the leaderless stream refused: the fault missed the window between a result and its ack")
	}
	if atKill >= events {
		t.Errorf("every result was in before the node was lost: the fault missed the run")
	}
}

// Scenario 3: two worker containers share the durable consumer. In the middle
// of a run the stream fills up (its limit reached, new messages refused), so
// that both workers hold events whose result gets no PubAck while acks still
// go through; then one worker is stopped with SIGTERM. It gives its events
// back within its shutdown timeout and exits 0; the stream is given room
// again and the other worker finishes the run.
func TestWorkerStoppedWithSIGTERMMidRun(t *testing.T) {
	e := newEnv(t, 4*time.Minute)
	n := e.startNATS("nats", natsOptions{})
	_, js := e.connect(n.url)
	s, err := worker.EnsureStream(e.ctx, js, wabatype.Topology{}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	results := resultstest.Collect(t, js, stream)
	ids := e.publish(js, events)
	envA := e.workerEnv("nats://nats:4222")
	envA["WORKER_SHUTDOWN_TIMEOUT"] = "2s"
	a := e.startWorker("worker-a", envA)
	e.startWorker("worker-b", e.workerEnv("nats://nats:4222"))

	e.waitFor(fmt.Sprintf("%d results before the stream fills up", faultAt), time.Minute,
		func() bool { return results.Count() >= faultAt })
	info, err := s.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	roomy := info.Config
	full := roomy
	full.MaxMsgs, full.Discard = int64(info.State.Msgs), jetstream.DiscardNew
	if _, err := js.UpdateStream(e.ctx, full); err != nil {
		t.Fatalf("fill the stream: %v", err)
	}
	e.waitFor("worker-a to hold a result the stream refuses", 30*time.Second,
		func() bool { return a.logs.contains(publishRetryLog) })

	atStop := results.Count()
	start := time.Now()
	code := e.stopGracefully(a.node, 30*time.Second)
	took := time.Since(start)
	if code != 0 {
		t.Errorf("worker-a exited with %d after SIGTERM, want 0", code)
	}
	if took > 15*time.Second {
		t.Errorf("worker-a took %s to stop after SIGTERM, with a 2s shutdown timeout", took)
	}
	if _, err := js.UpdateStream(e.ctx, roomy); err != nil {
		t.Fatalf("give the stream room again: %v", err)
	}

	e.settle(js, results, ids, 2*time.Minute)
	t.Logf("worker-a stopped (exit %d, in %s) after %d of %d results, holding results the full stream refused",
		code, took.Round(time.Millisecond), atStop, events)
}

// Scenario 4: the worker container starts before NATS is reachable (its
// name does not even resolve yet). It runs, reports not ready, keeps trying,
// and connects when NATS comes up; the same process then works every event.
func TestWorkerStartsBeforeNATS(t *testing.T) {
	e := newEnv(t, 4*time.Minute)
	w := e.startWorker("worker", e.workerEnv("nats://nats:4222"))
	e.waitReady(w, 503, 30*time.Second)
	before, err := w.Inspect(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// For a while (longer than the connect and reconnect waits) NATS stays
	// away; the worker must neither exit nor claim to be ready.
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		if code, body := w.readyz(e.ctx); code != 503 {
			t.Fatalf("/readyz answered %d %s without NATS", code, body)
		}
		if st, err := w.State(e.ctx); err != nil || !st.Running {
			t.Fatalf("the worker stopped without NATS (%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	n := e.startNATS("nats", natsOptions{})
	_, js := e.connect(n.url)
	if _, err := worker.EnsureStream(e.ctx, js, wabatype.Topology{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	results := resultstest.Collect(t, js, stream)
	ids := e.publish(js, events)
	e.waitReady(w, 200, time.Minute)

	e.settle(js, results, ids, 2*time.Minute)
	after, err := w.Inspect(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.RestartCount != 0 || after.State.StartedAt != before.State.StartedAt || !after.State.Running {
		t.Errorf("the worker container was restarted (%d restarts, started %s then %s, running %v): it should have waited for NATS",
			after.RestartCount, before.State.StartedAt, after.State.StartedAt, after.State.Running)
	}
}
