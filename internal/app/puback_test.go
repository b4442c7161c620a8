package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The input is acked only after the result's PubAck: while the stream
// refuses results, every input stays unacked, and once it takes them again
// each event gets exactly one result.
func TestInputIsAckedOnlyAfterTheResultsPubAck(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_ACK_WAIT": "30s"})
	ids := newWABAs(t, b.graph, 0, 5)
	s, err := b.js.Stream(t.Context(), "WABA")
	if err != nil {
		t.Fatal(err)
	}
	full := s.CachedInfo().Config
	full.MaxMsgs, full.Discard = int64(len(ids)), jetstream.DiscardNew
	if _, err := b.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	evIDs := b.emitAll(ids)
	b.start()
	// Every event was worked (assigned in the emulator) and its result refused.
	b.waitFor("refused result publishes", 20*time.Second, func() bool {
		return strings.Count(b.logs.String(), "cannot publish the result") >= len(ids)
	})
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, "cannot publish the result") && (!strings.Contains(line, `"event_id":"evt-`) || !strings.Contains(line, `"waba_id":"5`)) {
			t.Errorf("a log line about an event without its event_id and waba_id: %s", line)
		}
	}
	if info := b.consumerInfo(); info.NumAckPending != len(ids) {
		t.Fatalf("%d inputs awaiting ack while no result could be stored, want %d", info.NumAckPending, len(ids))
	}
	if n := b.results.Count(); n != 0 {
		t.Fatalf("%d results stored in a full stream", n)
	}
	full.MaxMsgs = -1
	if _, err := b.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	b.waitResults(len(ids), 30*time.Second)
	b.results.ExactlyOne(t, evIDs)
	b.waitFor("inputs acked", 10*time.Second, func() bool { return b.consumerInfo().NumAckPending == 0 })
}
