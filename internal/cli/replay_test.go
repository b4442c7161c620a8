package cli_test

import (
	"context"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emit"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
)

// input is a waba.shared payload with odd spacing: a replay must carry it
// byte for byte.
func input(id, waba string) string {
	return fmt.Sprintf(`{ "id" : %q,  "waba_id":%q, "x-extra": [1, 2] }`, id, waba)
}

// checkReplayed checks that the input at seq is the replay of failure
// failedSeq of eventID carrying data.
func checkReplayed(t *testing.T, m *jetstream.RawStreamMsg, eventID string, failedSeq uint64, data string) {
	t.Helper()
	if got, want := m.Header.Get(jetstream.MsgIDHeader), fmt.Sprintf("%s.replay.%d", eventID, failedSeq); got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}
	if got := m.Header.Get("Replay-Of"); got != fmt.Sprint(failedSeq) {
		t.Errorf("Replay-Of %q, want %d", got, failedSeq)
	}
	if string(m.Data) != data {
		t.Errorf("replayed %q, want the input unchanged: %q", m.Data, data)
	}
}

func TestReplayRepublishesUnchangedAndOnlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in1, in2 := input("evt-1", "501"), input("evt-2", "502")
	s1 := b.failed("evt-1", "501", events.KindPermanent, 200, in1)
	s2 := b.failed("evt-2", "502", events.KindRetriesExhausted, 2, in2)

	r := runCLI(t.Context(), b.env, "replay")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{
		fmt.Sprintf("replayed     seq %d  event evt-1  WABA 501", s1),
		"permanent (Graph code 200): test failure",
		fmt.Sprintf("replayed     seq %d  event evt-2  WABA 502", s2),
		"2 failed events, 2 matched: 2 replayed, 0 skipped",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	in := b.inputs()
	if len(in) != 2 {
		t.Fatalf("%d inputs after replay, want 2", len(in))
	}
	checkReplayed(t, in[0], "evt-1", s1, in1)
	checkReplayed(t, in[1], "evt-2", s2, in2)

	// Twice publishes nothing more.
	r = runCLI(t.Context(), b.env, "replay")
	if r.code != 0 || !strings.Contains(r.stdout, "0 replayed, 2 skipped (2 already replayed)") {
		t.Errorf("second replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(b.inputs()); n != 2 {
		t.Errorf("%d inputs after a second replay, want 2", n)
	}
}

// An earlier replay is recognised by its Replay-Of header, whatever its
// Nats-Msg-Id: so replaying again after the duplicate window (when JetStream
// no longer drops the same Nats-Msg-Id) still publishes nothing.
func TestReplayRecognisesAReplayBeyondTheDuplicateWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.failed("evt-1", "501", events.KindPermanent, 200, input("evt-1", "501"))
	earlier := b.publish("waba.shared", []byte(input("evt-1", "501")),
		map[string]string{jetstream.MsgIDHeader: "outside-the-window", "Replay-Of": fmt.Sprint(s)})

	r := runCLI(t.Context(), b.env, "replay")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("(already replayed: seq %d)", earlier)) ||
		!strings.Contains(r.stdout, "0 replayed, 1 skipped (1 already replayed)") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(b.inputs()); n != 1 {
		t.Errorf("%d inputs, want 1", n)
	}
}

// Within the duplicate window, JetStream drops a second publish with the same
// Nats-Msg-Id; replay reports it as already replayed.
func TestReplayWithinTheWindowIsDeduplicated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.failed("evt-1", "501", events.KindPermanent, 200, input("evt-1", "501"))
	b.publish("waba.shared", []byte("{}"), map[string]string{jetstream.MsgIDHeader: wabatype.ReplayMsgID("evt-1", s)}) // no Replay-Of

	r := runCLI(t.Context(), b.env, "replay")
	if r.code != 0 || !strings.Contains(r.stdout, "0 replayed, 1 skipped (1 already replayed)") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(b.inputs()); n != 1 {
		t.Errorf("%d inputs, want 1", n)
	}
}

func TestReplayDryRunPublishesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.failed("evt-1", "501", events.KindPermanent, 200, input("evt-1", "501"))
	r := runCLI(t.Context(), b.env, "replay", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{fmt.Sprintf("would replay seq %d  event evt-1", s), "1 would replay (dry run), 0 skipped"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if n := len(b.inputs()); n != 0 {
		t.Errorf("dry run published %d inputs", n)
	}
	// A real run afterwards still replays it.
	if r := runCLI(t.Context(), b.env, "replay"); r.code != 0 || len(b.inputs()) != 1 {
		t.Errorf("replay after the dry run: exit %d, %d inputs\n%s", r.code, len(b.inputs()), r.stdout)
	}
}

// A WABA that succeeded after its failure is skipped; one that succeeded
// only before it is not. A failure followed by a later failure of the same
// event is skipped in favour of the later one.
func TestReplaySkipsWhatSucceededSince(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.succeeded("evt-0", "502") // before: does not count
	s1 := b.failed("evt-1", "501", events.KindPermanent, 200, input("evt-1", "501"))
	s2 := b.failed("evt-2", "502", events.KindPermanent, 200, input("evt-2", "502"))
	by := b.succeeded("evt-9", "501") // a later event for WABA 501 succeeded
	s3 := b.failed("evt-3", "503", events.KindRetriesExhausted, 0, input("evt-3", "503"))
	s4 := b.publishFailedAgain("evt-3", "503")

	r := runCLI(t.Context(), b.env, "replay")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{
		fmt.Sprintf("skipped      seq %d  event evt-1  WABA 501", s1),
		fmt.Sprintf("(WABA succeeded since: seq %d)", by),
		fmt.Sprintf("replayed     seq %d  event evt-2  WABA 502", s2),
		fmt.Sprintf("skipped      seq %d  event evt-3", s3),
		fmt.Sprintf("replayed     seq %d  event evt-3", s4),
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "4 failed events, 4 matched: 2 replayed, 2 skipped (1 WABA succeeded since; 1 a later failure of the same event is in the window)") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	in := b.inputs()
	if len(in) != 2 {
		t.Fatalf("%d inputs, want 2", len(in))
	}
	checkReplayed(t, in[0], "evt-2", s2, input("evt-2", "502"))
	checkReplayed(t, in[1], "evt-3", s4, input("evt-3", "503"))
}

// publishFailedAgain publishes a second failure of eventID (as after a replay
// beyond the duplicate window).
func (b *bundle) publishFailedAgain(eventID, wabaID string) uint64 {
	b.t.Helper()
	f := events.Failed{EventID: eventID, WabaID: wabaID, Attempts: 1, FailedAt: time.Now().UTC(),
		Error: events.Failure{Kind: events.KindRetriesExhausted, Message: "again"}, Event: []byte(input(eventID, wabaID))}
	data, _ := f.Encode()
	return b.publish("waba.assignment.failed", data, map[string]string{jetstream.MsgIDHeader: eventID + ".failed.again"})
}

func TestReplayFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Early: before the cut.
	b.failed("evt-a", "501", events.KindPermanent, 200, input("evt-a", "501"))
	b.failed("evt-b", "502", events.KindPermanent, 100, input("evt-b", "502"))
	cut := b.timeOfLast().Add(time.Nanosecond)
	waitFor(t, "the clock to pass the cut", time.Second, func() bool { return time.Now().After(cut) })
	// Late: after the cut.
	b.failed("evt-c", "501", events.KindVerificationFailed, 0, input("evt-c", "501"))
	b.failed("evt-d", "503", events.KindPermanent, 200, input("evt-d", "503"))
	b.failed("evt-e", "504", events.KindRetriesExhausted, 2, input("evt-e", "504"))
	b.failed("evt-f", "", events.KindInvalidEvent, 0, `"not json at all"`)

	at := cut.Format(time.RFC3339Nano)
	tests := []struct {
		name string
		args []string
		want []string // event ids that would be replayed, in order
		skip int
	}{
		{"all", nil, []string{"evt-a", "evt-b", "evt-c", "evt-d", "evt-e", "evt-f"}, 0},
		{"waba", []string{"--waba-id", "501"}, []string{"evt-a", "evt-c"}, 0},
		{"wabas", []string{"--waba-id", "501", "--waba-id", "503,504"}, []string{"evt-a", "evt-c", "evt-d", "evt-e"}, 0},
		{"kind", []string{"--kind", "permanent"}, []string{"evt-a", "evt-b", "evt-d"}, 0},
		{"code", []string{"--graph-code", "200"}, []string{"evt-a", "evt-d"}, 0},
		{"kind and code", []string{"--kind", "permanent", "--graph-code", "100"}, []string{"evt-b"}, 0},
		{"since", []string{"--since", at}, []string{"evt-c", "evt-d", "evt-e", "evt-f"}, 0},
		{"until", []string{"--until", at}, []string{"evt-a", "evt-b"}, 0},
		{"since duration", []string{"--since", "1h", "--until", "0s"}, []string{"evt-a", "evt-b", "evt-c", "evt-d", "evt-e", "evt-f"}, 0},
		{"limit", []string{"--limit", "2"}, []string{"evt-a", "evt-b"}, 4},
		{"invalid events alone", []string{"--kind", "invalid_event"}, []string{"evt-f"}, 0},
		{"nothing", []string{"--waba-id", "777"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t.Context(), b.env, append([]string{"replay", "--dry-run"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got []string
			skipped := 0
			for _, l := range strings.Split(r.stdout, "\n") {
				f := strings.Fields(l)
				switch {
				case strings.HasPrefix(l, "would replay"):
					got = append(got, f[5])
				case strings.HasPrefix(l, "skipped"):
					skipped++
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || skipped != tt.skip {
				t.Errorf("would replay %v and skip %d, want %v and %d:\n%s", got, skipped, tt.want, tt.skip, r.stdout)
			}
		})
	}
}

// timeOfLast is the stream time of the stream's last message.
func (b *bundle) timeOfLast() time.Time {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), "WABA")
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context())
	if err != nil {
		b.t.Fatal(err)
	}
	m, err := s.GetMsg(b.t.Context(), info.State.LastSeq)
	if err != nil {
		b.t.Fatal(err)
	}
	return m.Time
}

// The whole loop: a fault in Graph fails an event; once the fault is gone,
// replay republishes it and the worker, running, assigns the WABA.
func TestReplayedEventSucceedsAfterTheCauseIsFixed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorker()
	waba := emulator.DevWABAIDs()[4]
	b.graph.InjectFault(graph.OpAssignUser, emulator.Fault{Code: 200, Message: "(#200) Permissions error", Times: -1, Object: waba})

	r := runCLI(t.Context(), b.env, "emit", "--waba-id", waba, "--id", "evt-fix", "--wait", "30s")
	if r.code != 1 || !strings.Contains(r.stderr, "permanent (Graph code 200") {
		t.Fatalf("emit: exit %d, stderr %q, want a permanent failure with code 200", r.code, r.stderr)
	}
	if got := b.graph.Assignments(waba)[emulator.DevSystemUserID]; len(got) != 0 {
		t.Fatalf("assigned %v despite the fault", got)
	}
	b.graph.ClearFaults()

	r = runCLI(t.Context(), b.env, "replay", "--kind", "permanent", "--graph-code", "200", "--waba-id", waba)
	if r.code != 0 || !strings.Contains(r.stdout, "1 replayed, 0 skipped") {
		t.Fatalf("replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	in := b.inputs()
	if len(in) != 2 {
		t.Fatalf("%d inputs, want the event and its replay", len(in))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := emit.Wait(ctx, b.js, wabatype.Topology{}, "evt-fix", in[1].Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Succeeded.WabaID != waba || res.Succeeded.AlreadyAssigned {
		t.Fatalf("the replayed event's result: %s", res.Data)
	}
	if got := b.graph.Assignments(waba)[emulator.DevSystemUserID]; strings.Join(got, ",") != "MANAGE" {
		t.Errorf("emulator holds tasks %v for the system user, want MANAGE", got)
	}

	// Now that the WABA succeeded, nothing is left to replay.
	r = runCLI(t.Context(), b.env, "replay")
	if r.code != 0 || !strings.Contains(r.stdout, "0 replayed, 1 skipped (1 already replayed)") {
		t.Errorf("replay after success: exit %d\n%s", r.code, r.stdout)
	}
}

// A message on the failed subject that replay cannot read is named (its
// sequence and why) and counted, in a dry run too; an input carried in
// event_base64 is replayed byte for byte.
func TestReplayNamesUnreadableFailedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := "{\"id\":\"evt-1\",\"waba_id\":\"501\",\"source\":\"caf\xe9\"}"
	s := b.failed("evt-1", "501", events.KindPermanent, 200, in)
	bad := b.publish("waba.assignment.failed", []byte("garbage"), nil)
	for _, args := range [][]string{{"replay", "--dry-run"}, {"replay"}} {
		r := runCLI(t.Context(), b.env, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		for _, w := range []string{
			fmt.Sprintf("seq %d  event evt-1", s),
			fmt.Sprintf("unreadable   seq %d  ", bad), "(not a failed event: not a JSON object)",
			"2 failed events (1 unreadable, listed above), 1 matched: 1 ",
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", args, w, r.stdout)
			}
		}
	}
	if got := b.inputs(); len(got) != 1 || string(got[0].Data) != in {
		t.Errorf("replayed %d inputs, want the exact input once", len(got))
	}
}
