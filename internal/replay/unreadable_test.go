package replay_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/replay"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// Replay republishes the exact bytes of inputs carried in event_base64, and
// counts and names every message on the failed subject it cannot read, in a
// dry run too: the counts add up to what the stream holds.
func TestReplayExactBytesAndUnreadableFailedEvents(t *testing.T) {
	t.Parallel()
	n := natstest.Start(t)
	_, js := n.Connect()
	topo := wabatype.Topology{}.WithDefaults()
	if _, err := worker.EnsureStream(t.Context(), js, topo); err != nil {
		t.Fatal(err)
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	pub := func(data []byte) uint64 {
		t.Helper()
		ack, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: topo.FailedSubject, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	inputs := map[string][]byte{ // event id -> input
		"evt-utf8":     []byte("{\"id\":\"evt-utf8\",\"waba_id\":\"501\",\"source\":\"caf\xe9\"}"),
		"evt-overlong": []byte("{\"id\":\"evt-overlong\",\"waba_id\":\"502\",\"source\":\"\xc0\xb1\"}"),
		"evt-deep":     []byte(`{"id":"evt-deep","waba_id":"503","x":` + deep(9999) + `}`),
		"evt-plain":    []byte("{ \"id\": \"evt-plain\", \"waba_id\": \"504\" }\n"),
	}
	seqOf := map[string]uint64{}
	for _, id := range []string{"evt-utf8", "evt-overlong", "evt-deep", "evt-plain"} {
		kind := events.KindPermanent
		if id == "evt-overlong" {
			// Replayed without --kind: every kind is (SPEC, worker replay).
			kind = events.KindInvalidEvent
		}
		f := events.Failed{EventID: id, Attempts: 1, FailedAt: time.Now().UTC(),
			Error: events.Failure{Kind: kind, Message: "m"}}
		f.SetEvent(inputs[id])
		doc, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		seqOf[id] = pub(doc)
	}
	unreadable := map[uint64]string{ // seq -> what its reason must say
		pub([]byte("garbage")): "not a JSON object",
		// As the worker wrote a 10,000-deep input before event_base64.
		pub([]byte(`{"event_id":"evt-old","attempts":1,"failed_at":"2026-11-24T12:00:01Z","error":{"kind":"permanent","message":"m","retryable":false},"event":` + deep(10000) + `}`)): "exceeded max depth",
		pub([]byte(`{"waba_id":"505"}`)): "no event_id",
	}

	run := func(dry bool) (replay.Summary, []replay.Item) {
		t.Helper()
		var items []replay.Item
		sum, err := replay.Run(t.Context(), js, replay.Options{DryRun: dry, Report: func(it replay.Item) { items = append(items, it) }})
		if err != nil {
			t.Fatal(err)
		}
		return sum, items
	}
	check := func(sum replay.Summary, items []replay.Item, action replay.Action) {
		t.Helper()
		if sum.Failed != 7 || sum.Unreadable != 3 || sum.Matched != 4 || sum.Replayed != 4 || len(items) != 7 {
			t.Errorf("%s: summary %+v, %d items; want 7 failed (3 unreadable), 4 matched and replayed", action, sum, len(items))
		}
		for _, it := range items {
			want, bad := unreadable[it.Seq]
			switch {
			case bad && (it.Action != replay.Unreadable || !strings.Contains(it.Reason, want)):
				t.Errorf("%s: seq %d is %q (%s), want unreadable: %s", action, it.Seq, it.Action, it.Reason, want)
			case !bad && it.Action != action:
				t.Errorf("%s: seq %d (%s) is %q (%s)", action, it.Seq, it.Failed.EventID, it.Action, it.Reason)
			}
		}
	}

	sum, items := run(true)
	check(sum, items, replay.WouldReplay)
	stream, err := js.Stream(t.Context(), topo.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.GetLastMsgForSubject(t.Context(), topo.Subject); err == nil {
		t.Fatal("the dry run published an input")
	}

	sum, items = run(false)
	check(sum, items, replay.Replayed)
	for _, it := range items {
		if it.Action != replay.Replayed {
			continue
		}
		m, err := stream.GetMsg(t.Context(), it.ReplaySeq)
		if err != nil {
			t.Fatal(err)
		}
		id := it.Failed.EventID
		if m.Subject != topo.Subject || !bytes.Equal(m.Data, inputs[id]) {
			t.Errorf("%s: replayed %.60q on %s, want the exact input %.60q", id, m.Data, m.Subject, inputs[id])
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != wabatype.ReplayMsgID(id, seqOf[id]) {
			t.Errorf("%s: Nats-Msg-Id %q", id, got)
		}
	}
}
