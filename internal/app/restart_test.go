package app_test

import (
	"testing"
	"time"
)

// A broker restart in the middle of a run (same port, same file store)
// loses nothing and duplicates nothing: the worker reconnects, re-binds and
// finishes every event.
func TestBrokerRestartMidRun(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_ACK_WAIT": "2s"})
	b.graph.SetLatency(10 * time.Millisecond)
	ids := newWABAs(t, b.graph, 0, 150)
	evIDs := b.emitAll(ids)
	b.start()
	b.waitResults(30, 30*time.Second)
	b.nats.Restart()
	b.waitResults(len(ids), 90*time.Second)
	b.results.ExactlyOne(t, evIDs)
	if n := b.results.FailedCount(); n != 0 {
		t.Errorf("%d events failed across the restart", n)
	}
}

// A consumer deleted under a running worker is created again and the work
// goes on; the events it delivers again get no second result.
func TestDeletedConsumerIsRecreated(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_ACK_WAIT": "2s"})
	b.graph.SetLatency(5 * time.Millisecond)
	ids := newWABAs(t, b.graph, 0, 80)
	evIDs := b.emitAll(ids)
	b.start()
	b.waitResults(20, 30*time.Second)
	if err := b.js.DeleteConsumer(t.Context(), "WABA", "waba-assigner"); err != nil {
		t.Fatal(err)
	}
	b.waitResults(len(ids), 60*time.Second)
	b.waitFor("the consumer bound again", 20*time.Second, func() bool { return b.worker().Status().ConsumerBound })
	b.results.ExactlyOne(t, evIDs)
}
