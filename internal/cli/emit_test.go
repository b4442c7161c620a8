package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/schemas"
)

// emit publishes one valid waba.shared event with Nats-Msg-Id = its id and
// prints the id; without --wait it does not wait for a worker.
func TestEmitPublishesTheEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := runCLI(t.Context(), b.env, "emit", "--waba-id", "102290129340398", "--business-id", "100200300",
		"--tasks", "MANAGE, DEVELOP", "--source", "signup")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "evt-") || len(id) < 12 || strings.Contains(id, "\n") {
		t.Fatalf("stdout %q, want one generated evt-... id", r.stdout)
	}
	in := b.inputs()
	if len(in) != 1 {
		t.Fatalf("%d messages on waba.shared, want 1", len(in))
	}
	if got := in[0].Header.Get(jetstream.MsgIDHeader); got != id {
		t.Errorf("Nats-Msg-Id %q, want %q", got, id)
	}
	if err := schemas.Validate(schemas.Shared, in[0].Data); err != nil {
		t.Errorf("published event breaks the schema: %v\n%s", err, in[0].Data)
	}
	ev, err := events.Decode(in[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != id || ev.WabaID != "102290129340398" || ev.BusinessID != "100200300" || ev.Source != "signup" ||
		strings.Join(ev.Tasks, ",") != "MANAGE,DEVELOP" {
		t.Errorf("published %+v", ev)
	}
	if _, err := time.Parse(time.RFC3339, ev.OccurredAt); err != nil {
		t.Errorf("occurred_at %q: %v", ev.OccurredAt, err)
	}

	// The same --id again is not published twice.
	r1 := runCLI(t.Context(), b.env, "emit", "--waba-id", "102290129340398", "--id", "evt-fixed")
	r2 := runCLI(t.Context(), b.env, "emit", "--waba-id", "102290129340398", "--id", "evt-fixed")
	if r1.code != 0 || r2.code != 0 || r1.stdout != "evt-fixed\n" || r2.stdout != "evt-fixed\n" {
		t.Fatalf("emit --id twice: %+v, %+v", r1, r2)
	}
	if !strings.Contains(r2.stderr, "published before") {
		t.Errorf("second emit's stderr %q does not say it was published before", r2.stderr)
	}
	if n := len(b.inputs()); n != 2 {
		t.Errorf("%d messages on waba.shared, want 2", n)
	}
}

// emit --wait: exit 0 and the succeeded event when the worker assigns, 1
// and the failed event when it fails, 2 when no result comes in time. Each
// prints the JSON on stdout and one line on stderr.
func TestEmitWaitExitCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorker()
	waba := emulator.DevWABAIDs()[0]

	ok := runCLI(t.Context(), b.env, "emit", "--waba-id", waba, "--id", "evt-ok", "--wait", "30s")
	if ok.code != 0 || ok.err != nil {
		t.Fatalf("succeeded: exit %d, err %v, stderr %s", ok.code, ok.err, ok.stderr)
	}
	lines := strings.Split(strings.TrimSpace(ok.stdout), "\n")
	if len(lines) != 2 || lines[0] != "evt-ok" {
		t.Fatalf("stdout %q, want the id then the result", ok.stdout)
	}
	if err := schemas.Validate(schemas.Succeeded, []byte(lines[1])); err != nil {
		t.Errorf("stdout's result is not a succeeded event: %v\n%s", err, lines[1])
	}
	var s events.Succeeded
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil || s.EventID != "evt-ok" || s.WabaID != waba {
		t.Errorf("result %+v (%v)", s, err)
	}
	if !strings.Contains(ok.stderr, "succeeded: event evt-ok: WABA "+waba+" assigned to system user "+emulator.DevSystemUserID) {
		t.Errorf("stderr %q lacks the summary", ok.stderr)
	}

	bad := runCLI(t.Context(), b.env, "emit", "--waba-id", "999000000000001", "--id", "evt-bad", "--wait", "30s")
	if bad.code != 1 {
		t.Fatalf("failed: exit %d, err %v, stderr %s", bad.code, bad.err, bad.stderr)
	}
	lines = strings.Split(strings.TrimSpace(bad.stdout), "\n")
	if len(lines) != 2 || lines[0] != "evt-bad" {
		t.Fatalf("stdout %q, want the id then the result", bad.stdout)
	}
	if err := schemas.Validate(schemas.Failed, []byte(lines[1])); err != nil {
		t.Errorf("stdout's result is not a failed event: %v\n%s", err, lines[1])
	}
	for _, w := range []string{"failed: event evt-bad: WABA 999000000000001: permanent (Graph code 100, subcode 33", "does not exist"} {
		if !strings.Contains(bad.stderr, w) {
			t.Errorf("stderr %q lacks %q", bad.stderr, w)
		}
	}

	// A result already in the stream is found: the same id again answers at
	// once, without a second POST.
	posts := b.graph.CountFor(graph.OpAssignUser, waba)
	again := runCLI(t.Context(), b.env, "emit", "--waba-id", waba, "--id", "evt-ok", "--wait", "10s")
	if again.code != 0 || !strings.Contains(again.stdout, `"event_id":"evt-ok"`) {
		t.Errorf("again: exit %d, stdout %q, stderr %q", again.code, again.stdout, again.stderr)
	}
	if n := b.graph.CountFor(graph.OpAssignUser, waba); n != posts {
		t.Errorf("%d POSTs after emitting the same id again, want %d", n, posts)
	}
}

func TestEmitWaitTimeoutExits2(t *testing.T) {
	t.Parallel()
	b := setup(t) // no worker
	start := time.Now()
	r := runCLI(t.Context(), b.env, "emit", "--waba-id", "102290129340398", "--id", "evt-late", "--wait", "300ms")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (err %v, stderr %q)", r.code, r.err, r.stderr)
	}
	if r.stdout != "evt-late\n" {
		t.Errorf("stdout %q, want just the id", r.stdout)
	}
	if !strings.Contains(r.stderr, "timeout: no result for event evt-late within 300ms") {
		t.Errorf("stderr %q lacks the timeout line", r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// Without a server, emit says where it tried, exit 1.
func TestEmitWithoutNATS(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), map[string]string{"NATS_URL": "nats://user:pw@127.0.0.1:1"}, "emit", "--waba-id", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "connect to NATS at nats://[redacted]@127.0.0.1:1") || strings.Contains(r.stderr, "pw") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// Before any worker has created the stream, emit says so rather than
// dropping the event.
func TestEmitWithoutTheStream(t *testing.T) {
	t.Parallel()
	n := natstest.Start(t)
	r := runCLI(t.Context(), map[string]string{"NATS_URL": n.URL()}, "emit", "--waba-id", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "no stream takes the subject (start the worker once: it creates stream WABA)") || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
