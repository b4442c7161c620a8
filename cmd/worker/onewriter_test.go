package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/schemas"
)

// publish sends one waba.shared event.
func (w *world) publish(t *testing.T, id, waba string, tasks ...string) {
	t.Helper()
	ev := map[string]any{"id": id, "waba_id": waba}
	if len(tasks) > 0 {
		ev["tasks"] = tasks
	}
	payload, _ := json.Marshal(ev)
	if _, err := w.js.PublishMsg(t.Context(), &nats.Msg{Subject: "waba.shared", Data: payload}, jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
}

// newWABAs adds n WABAs to the emulator, shared with the dev business.
func (w *world) newWABAs(t *testing.T, first, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d", 610000000000000+first+i)
		if err := w.graph.AddWABA(emulator.DevBusinessID, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// Two worker processes share the consumer; each WABA gets two events at
// once, one wanting MANAGE and one DEVELOP, with Graph's latency jittered:
// every event succeeds once, and every WABA ends with both tasks, because
// one read-assign-verify per WABA runs at a time across the processes.
func TestTwoProcessesNeverRemoveEachOthersTask(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.graph.SetLatency(5 * time.Millisecond)
	w.graph.SetLatencyJitter(60 * time.Millisecond)
	wabas := w.newWABAs(t, 0, 40)
	a, b := startWorker(t, w.env), startWorker(t, w.env)
	for _, p := range []*proc{a, b} {
		resultstest.WaitFor(t, "both workers consuming", 30*time.Second, func() bool { return strings.Contains(p.output.String(), `"msg":"consuming"`) })
	}
	var ids []string
	for _, waba := range wabas {
		w.publish(t, "m-"+waba, waba, "MANAGE")
		w.publish(t, "d-"+waba, waba, "DEVELOP")
		ids = append(ids, "m-"+waba, "d-"+waba)
	}
	w.results.Wait(len(ids), 120*time.Second)
	w.results.ExactlyOne(t, ids)
	if n := w.results.FailedCount(); n != 0 {
		t.Errorf("%d events failed", n)
	}
	for _, waba := range wabas {
		got := w.graph.Assignments(waba)[emulator.DevSystemUserID]
		if !slices.Contains(got, "MANAGE") || !slices.Contains(got, "DEVELOP") {
			t.Errorf("WABA %s: the user holds %v, want MANAGE and DEVELOP", waba, got)
		}
	}
	// Both processes worked: the test shares the consumer for real.
	for name, p := range map[string]*proc{"first": a, "second": b} {
		if !strings.Contains(p.output.String(), "assignment verified") {
			t.Errorf("the %s worker verified no assignment", name)
		}
	}
}

// A worker killed (SIGKILL) while it holds a WABA's lease blocks that WABA
// for at most the lease TTL: another replica completes the event, and none
// fails.
func TestKilledLeaseHolderBlocksTheWABAForAtMostTheTTL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ttl = 2 * time.Second
	w.env["WORKER_LEASE_TTL"] = ttl.String()
	w.env["WORKER_ACK_WAIT"] = "2s"
	w.env["GRAPH_TIMEOUT"] = "30s"
	waba := w.newWABAs(t, 100, 1)[0]
	// The first POST for the WABA hangs: its worker is mid-assignment,
	// holding the lease, when it is killed.
	w.graph.InjectFault("assign_user", emulator.Fault{Hang: true, Object: waba})

	holder := startWorker(t, w.env)
	w.publish(t, "evt-kill", waba)
	kv := waitBucket(t, w.js, lease.DefaultBucket)
	resultstest.WaitFor(t, "the POST to hang with the lease held", 30*time.Second, func() bool {
		_, err := kv.Get(t.Context(), waba)
		return err == nil && w.graph.Count("assign_user") == 1
	})
	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.wait(t, 10*time.Second)
	killed := time.Now()

	startWorker(t, w.env)
	w.results.Wait(1, 60*time.Second)
	took := time.Since(killed)
	if s := w.results.Succeeded("evt-kill"); len(s) != 1 {
		t.Fatalf("after the kill: %+v %+v", s, w.results.Failed("evt-kill"))
	}
	// The event comes back after AckWait; the lease frees itself within
	// the TTL. Generous slack for a busy CI machine: the bound proved is
	// "not stuck", not a latency.
	if bound := 2*time.Second + ttl + 20*time.Second; took > bound {
		t.Errorf("completed %s after the kill, beyond %s", took, bound)
	}
	t.Logf("completed %s after the holder was killed (TTL %s, AckWait 2s)", took.Round(10*time.Millisecond), ttl)
}

func waitBucket(t *testing.T, js jetstream.JetStream, name string) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	resultstest.WaitFor(t, "bucket "+name, 30*time.Second, func() bool {
		var err error
		kv, err = js.KeyValue(t.Context(), name)
		return err == nil
	})
	return kv
}

// worker status prints the ledger: a line per WABA and the counts; --json
// one object per line, each a record of schemas/waba_state.json.
func TestStatusPrintsTheLedger(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	wabas := w.newWABAs(t, 200, 3)
	startWorker(t, w.env)
	for _, waba := range wabas {
		w.publish(t, "evt-"+waba, waba)
	}
	w.publish(t, "evt-gone", "999000000000001") // not shared: fails permanently
	w.results.Wait(4, 60*time.Second)

	kv := waitBucket(t, w.js, ledger.DefaultBucket)
	resultstest.WaitFor(t, "4 ledger records", 10*time.Second, func() bool {
		keys, err := kv.ListKeys(t.Context())
		if err != nil {
			return false
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n == 4
	})
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, append([]string{"status", "--nats-url", w.nats.URL()}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run()
	for _, waba := range wabas {
		if !strings.Contains(out, waba+" ") || !strings.Contains(out, "assigned") {
			t.Errorf("status lacks %s assigned:\n%s", waba, out)
		}
	}
	if !strings.Contains(out, "999000000000001      failed    permanent") {
		t.Errorf("status lacks the failed WABA:\n%s", out)
	}
	if !strings.Contains(out, "4 WABAs: 3 assigned, 1 failed, 0 unshared") {
		t.Errorf("status counts:\n%s", out)
	}

	lines := strings.Split(strings.TrimSpace(run("--json", "--state", "assigned")), "\n")
	if len(lines) != 4 {
		t.Fatalf("--json --state assigned: %d lines, want 3 records and the counts:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines[:3] {
		if err := schemas.Validate(schemas.State, []byte(l)); err != nil {
			t.Errorf("record %s: %v", l, err)
		}
	}
	if lines[3] != `{"counts":{"assigned":3,"failed":0,"unshared":0}}` {
		t.Errorf("counts line %s", lines[3])
	}
	if one := run("--waba-id", wabas[0]); strings.Count(one, "\n") != 2 || !strings.Contains(one, wabas[0]) {
		t.Errorf("--waba-id: %s", one)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	bad := exec.CommandContext(ctx, binary, "status", "--state", "happy", "--nats-url", w.nats.URL())
	if err := bad.Run(); bad.ProcessState.ExitCode() != 2 {
		t.Errorf("--state happy: %v, want exit 2", err)
	}
}
