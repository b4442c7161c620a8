package app_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
	"github.com/wabaworker/waba-worker/schemas"
)

// emitPairs publishes, for each WABA, one event wanting MANAGE and one
// wanting DEVELOP, and returns the event ids.
func (b *bundle) emitPairs(wabaIDs []string) []string {
	b.t.Helper()
	var ids []string
	for _, w := range wabaIDs {
		b.emit("m-"+w, w, map[string]any{"tasks": []string{"MANAGE"}})
		b.emit("d-"+w, w, map[string]any{"tasks": []string{"DEVELOP"}})
		ids = append(ids, "m-"+w, "d-"+w)
	}
	return ids
}

// checkUnion fails the test unless every event succeeded, once, holding its
// own task, and every WABA holds both tasks on Graph and in the ledger.
func checkUnion(t *testing.T, results *resultstest.Collector, js jetstream.JetStream, graphAssignments func(string) map[string][]string, wabaIDs, eventIDs []string) {
	t.Helper()
	results.ExactlyOne(t, eventIDs)
	for _, id := range eventIDs {
		if f := results.Failed(id); len(f) > 0 {
			t.Errorf("%s failed: %s: %s", id, f[0].Error.Kind, f[0].Error.Message)
			continue
		}
		s := results.Succeeded(id)
		if len(s) == 1 && !slices.Contains(s[0].HeldTasks, s[0].Tasks[0]) {
			t.Errorf("%s succeeded with held_tasks %v, which lacks its own %v", id, s[0].HeldTasks, s[0].Tasks)
		}
	}
	kv, err := js.KeyValue(t.Context(), ledger.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.New(kv)
	for _, w := range wabaIDs {
		got := graphAssignments(w)[user]
		if !slices.Contains(got, "MANAGE") || !slices.Contains(got, "DEVELOP") {
			t.Errorf("WABA %s: the user holds %v on Graph, want MANAGE and DEVELOP", w, got)
		}
		rec, ok, err := store.Get(t.Context(), w)
		if err != nil || !ok {
			t.Errorf("WABA %s: no ledger record (%v)", w, err)
			continue
		}
		if rec.State != ledger.StateAssigned || !slices.Contains(rec.HeldTasks, "MANAGE") || !slices.Contains(rec.HeldTasks, "DEVELOP") {
			t.Errorf("WABA %s: ledger %+v", w, rec)
		}
		doc, _ := json.Marshal(rec)
		if err := schemas.Validate(schemas.State, doc); err != nil {
			t.Errorf("WABA %s: ledger record against schemas/waba_state.json: %v", w, err)
		}
	}
}

// Two events for the same WABA at the same moment, wanting different tasks:
// without one writer per WABA, Meta's POST (which sets the task set) let
// the later one remove the other's task, and both could report success.
// Now every event succeeds, once, and every WABA ends with the union.
func TestTwoEventsPerWABANeverRemoveEachOthersTask(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_CONCURRENCY": "16"})
	wabas := newWABAs(t, b.graph, 7000, 40)
	b.graph.SetLatency(5 * time.Millisecond)
	b.graph.SetLatencyJitter(60 * time.Millisecond)
	ids := b.emitPairs(wabas)
	b.start()
	b.waitResults(len(ids), 90*time.Second)
	checkUnion(t, b.results, b.js, b.graph.Assignments, wabas, ids)
}

// An event whose WABA is leased by another replica waits without using up a
// delivery (its message is kept in progress past AckWait, never
// redelivered) while other WABAs' events complete; it completes on its
// first delivery once the lease is free.
func TestWaitingForALeaseCostsNoDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_ACK_WAIT": "1s", "WORKER_LEASE_TTL": "1m"})
	wabas := newWABAs(t, b.graph, 7100, 4)
	held, others := wabas[0], wabas[1:]
	kv, err := b.js.CreateKeyValue(t.Context(), lease.BucketConfig(lease.DefaultBucket, time.Minute, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(t.Context(), held, []byte(`{"owner":"another-replica"}`)); err != nil {
		t.Fatal(err)
	}
	b.emit("evt-held", held, nil)
	b.start()
	b.waitFor("the consumer bound", 10*time.Second, func() bool { return b.worker().Status().ConsumerBound })
	b.waitFor("the event to be taken", 10*time.Second, func() bool { return b.consumerInfo().NumAckPending == 1 })
	ids := b.emitAll(others)
	b.waitResults(len(ids), 30*time.Second)
	for _, id := range ids {
		if len(b.results.Succeeded(id)) != 1 {
			t.Errorf("%s did not succeed while another WABA waited", id)
		}
	}
	// A result is published before its input is acked: wait for the others'
	// acks to reach the server, so that only the waiting event is pending.
	b.waitFor("the other events acked", 10*time.Second, func() bool { return b.consumerInfo().NumAckPending == 1 })
	// Three AckWaits pass with the event waiting: it must stay in progress.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		info := b.consumerInfo()
		if info.NumRedelivered != 0 || info.NumAckPending != 1 {
			t.Fatalf("while waiting for the lease: %d redelivered, %d pending", info.NumRedelivered, info.NumAckPending)
		}
		if b.results.Count() != len(ids) {
			t.Fatal("the event whose WABA is held elsewhere got a result")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := kv.Delete(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	b.waitResults(len(ids)+1, 20*time.Second)
	s := b.results.Succeeded("evt-held")
	if len(s) != 1 || s[0].Attempts != 1 {
		t.Fatalf("the waiting event: %+v %+v, want one success on its first delivery", s, b.results.Failed("evt-held"))
	}
	if info := b.consumerInfo(); info.NumRedelivered != 0 {
		t.Errorf("%d redelivered", info.NumRedelivered)
	}
}

// An existing stream that lacks the result subjects is not changed: the
// worker does not consume (it could not publish a result), says so in one
// warning line, and /readyz names the missing subjects; once the operator
// adds them it binds and works by itself.
func TestStreamWithoutResultSubjectsIsNamedInReadyz(t *testing.T) {
	t.Parallel()
	b := observed(t, nil)
	topo := wabatype.Topology{}.WithDefaults()
	cfg := worker.StreamConfig(topo)
	cfg.Subjects = []string{topo.Subject, topo.UnsharedSubject}
	if _, err := b.js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	id := newWABAs(t, b.graph, 7300, 1)[0]
	b.emit("evt-nosubject", id, nil)
	b.start()
	var r health.Report
	b.waitFor("/readyz to name the missing result subjects", 20*time.Second, func() bool {
		_, r = b.readyz()
		return !r.Ready && strings.Contains(r.Checks["stream"], topo.SucceededSubject) &&
			strings.Contains(r.Checks["stream"], topo.FailedSubject)
	})
	if !strings.HasPrefix(r.Checks["stream"], "missing subject ") || r.Checks["consumer"] != "unbound" {
		t.Errorf("checks %v", r.Checks)
	}
	if b.results.Count() != 0 {
		t.Fatal("the worker consumed from a stream that cannot take its results")
	}
	if _, err := b.js.UpdateStream(t.Context(), worker.StreamConfig(topo)); err != nil {
		t.Fatal(err)
	}
	b.worksOnceFixed("evt-nosubject", "stream", "the stream captures every subject")
	if n := strings.Count(b.logs.String(), "does not capture subject "+topo.SucceededSubject); n != 1 {
		t.Errorf("the missing subjects were logged %d times, want once", n)
	}
}

// worksOnceFixed waits, after the operator's fix, for the event's success and
// for /readyz to pass with check ok.
func (b *bundle) worksOnceFixed(eventID, check, fix string) {
	b.t.Helper()
	b.waitResults(1, 30*time.Second)
	if len(b.results.Succeeded(eventID)) != 1 {
		b.t.Fatalf("once %s: %+v", fix, b.results.Failed(eventID))
	}
	if r := b.waitReady(true, "/readyz once "+fix); r.Checks[check] != health.OK {
		b.t.Errorf("%s check %q once %s", check, r.Checks[check], fix)
	}
}

// Without provisioning and with a KV bucket missing, the worker does not
// consume, says which bucket in one line, and /readyz names it; once the
// operator creates the buckets it consumes by itself. Lease and ledger
// metrics count what happened.
func TestMissingBucketWithoutProvisioning(t *testing.T) {
	t.Parallel()
	b := observed(t, map[string]string{"WORKER_PROVISION": "false"})
	if _, err := b.js.CreateOrUpdateConsumer(t.Context(), "WABA", worker.ConsumerConfig(wabatype.Topology{}.WithDefaults(), 8, 10, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	id := newWABAs(t, b.graph, 7200, 1)[0]
	b.emit("evt-nobucket", id, nil)
	b.start()
	r := b.waitReady(false, "/readyz to name the missing bucket")
	b.waitFor("the missing bucket named in /readyz", 10*time.Second, func() bool {
		_, r = b.readyz()
		return strings.Contains(r.Checks["buckets"], "waba_locks")
	})
	if b.results.Count() != 0 {
		t.Fatal("the worker consumed without its lock bucket")
	}
	if _, err := b.js.CreateKeyValue(t.Context(), lease.BucketConfig(lease.DefaultBucket, lease.DefaultTTL, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.CreateKeyValue(t.Context(), ledger.BucketConfig(ledger.DefaultBucket, 1)); err != nil {
		t.Fatal(err)
	}
	b.worksOnceFixed("evt-nobucket", "buckets", "the buckets exist")
	if n := strings.Count(b.logs.String(), "KV bucket waba_locks does not exist"); n != 1 {
		t.Errorf("the missing bucket was logged %d times, want once", n)
	}
	// The ledger is written after the result's PubAck, so the result can be
	// seen first: wait for the write, then check it was the only one.
	b.waitFor("the ledger record written", 10*time.Second, func() bool {
		return b.scrape().value("waba_ledger_writes_total", map[string]string{"result": "ok"}) >= 1
	})
	s := b.scrape()
	if n, _ := s.histogram("waba_lease_wait_seconds", map[string]string{"contended": "false"}); n < 1 {
		t.Errorf("waba_lease_wait_seconds{contended=false} count %d", n)
	}
	if got := s.value("waba_ledger_writes_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("waba_ledger_writes_total{result=ok} = %v", got)
	}
}

// A waba.unshared event makes no Graph call and publishes no result: the
// ledger says unshared and the input is acked.
func TestUnsharedIsRecordedWithoutGraph(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newWABAs(t, b.graph, 7300, 1)[0]
	b.emit("evt-shared", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	calls := b.graph.Count("*")
	payload, _ := json.Marshal(map[string]string{"id": "evt-unshared", "waba_id": id, "reason": "PARTNER_REMOVED", "source": "webhook"})
	if _, err := b.js.PublishMsg(t.Context(), &nats.Msg{Subject: "waba.unshared", Data: payload}, jetstream.WithMsgID("evt-unshared")); err != nil {
		t.Fatal(err)
	}
	kv, err := b.js.KeyValue(t.Context(), ledger.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.New(kv)
	var rec ledger.Record
	b.waitFor("the ledger to say unshared", 20*time.Second, func() bool {
		r, ok, err := store.Get(t.Context(), id)
		rec = r
		return err == nil && ok && r.State == ledger.StateUnshared
	})
	if rec.EventID != "evt-unshared" {
		t.Errorf("ledger %+v", rec)
	}
	b.waitFor("the input acked", 10*time.Second, func() bool {
		info := b.consumerInfo()
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	if n := b.results.Count(); n != 1 {
		t.Errorf("%d results, want only the share's", n)
	}
	if n := b.graph.Count("*") - calls; n != 0 {
		t.Errorf("%d Graph calls for an unshare", n)
	}
}
