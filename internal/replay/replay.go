// Package replay finds failed events in the stream and republishes the input
// they carry, as `worker replay` does: unchanged, to the input subject, with
// Nats-Msg-Id "<event_id>.replay.<failed-seq>" and a Replay-Of header naming
// the failed event's stream sequence.
//
// One scan of the stream, from the start of the window to its last sequence
// when the scan began, reads the failed events, the succeeded ones (a WABA
// that succeeded after a failure is not replayed) and the headers of the
// input (an input with Replay-Of: N means failure N was replayed already, so
// a second replay publishes nothing, however long after the first). A
// message on the failed subject that is not a readable failed event is
// counted and reported, never passed over.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
)

// Filter selects failed events. The zero Filter selects every one.
type Filter struct {
	Since, Until time.Time // stream time of the failed event; zero: unbounded
	WABAIDs      []string  // any of these; empty: any WABA
	Kind         string    // error.kind; empty: any (but see Options.Kind)
	GraphCode    *int      // error.graph_code; nil: any
	Limit        int       // replay at most this many; 0: no limit
}

// Options configure a Run.
type Options struct {
	Topology wabatype.Topology // wabatype's default names when empty
	Filter   Filter
	DryRun   bool // list what would be replayed, publish nothing
	// Report, if set, is called once per matching failed event, in stream
	// order, when its fate is known, and once per unreadable message on the
	// failed subject (Action Unreadable), whatever the filter.
	Report func(Item)
	// Progress, if set, is called as the scan advances: scanned of total
	// messages (total is what the window held when the scan began).
	Progress func(scanned, total uint64)
}

// Action is what became of a matching failed event.
type Action string

const (
	Replayed    Action = "replayed"
	WouldReplay Action = "would replay" // --dry-run
	Skipped     Action = "skipped"
	// Unreadable: a message on the failed subject that is not a failed event
	// this worker can read; Reason says why. Nothing is replayed for it.
	Unreadable Action = "unreadable"
)

// Reasons for skipping a matching failed event.
const (
	ReasonSucceededSince  = "WABA succeeded since"
	ReasonAlreadyReplayed = "already replayed"
	ReasonSuperseded      = "a later failure of the same event is in the window"
	ReasonNoEvent         = "the failed event carries no input to replay"
	ReasonLimit           = "over --limit"
)

// Item is one matching failed event and what became of it.
type Item struct {
	Seq       uint64 // stream sequence of the failed event
	Time      time.Time
	Failed    events.Failed
	Action    Action
	Reason    string // why it was skipped
	ReplaySeq uint64 // the replay's stream sequence: the one published now, or the earlier one found
	BySeq     uint64 // ReasonSucceededSince: the succeeded event's sequence
}

// Summary counts what a Run saw and did.
type Summary struct {
	FirstSeq, LastSeq uint64 // the scanned range (0, 0 when the window was empty)
	Scanned           uint64 // messages read
	Failed            int    // messages on the failed subject in the window, Unreadable included
	Unreadable        int    // of those, not readable as a failed event (each reported)
	Matched           int    // of those, selected by the filter
	Replayed          int    // published (or, with DryRun, that would be)
	Skipped           map[string]int
}

// SkippedTotal is the number of skipped events.
func (s Summary) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// failure is a failed event found by the scan.
type failure struct {
	seq        uint64
	time       time.Time
	ev         events.Failed
	unreadable string // why the message is not a failed event; ev is zero
}

// scan is what one pass over the stream found.
type scan struct {
	failures      []failure
	lastSucceeded map[string]uint64 // WABA id -> sequence of its last succeeded event
	replays       map[uint64]uint64 // failed seq -> sequence of an input replaying it
	lastFailure   map[string]uint64 // event id -> sequence of its last failure
}

// Run scans the stream and replays what the filter selects.
func Run(ctx context.Context, js jetstream.JetStream, o Options) (Summary, error) {
	topo := o.Topology.WithDefaults()
	sum := Summary{Skipped: map[string]int{}}
	sc, err := scanStream(ctx, js, topo, o, &sum)
	if err != nil {
		return sum, err
	}
	f := o.Filter
	for _, fl := range sc.failures {
		if !f.Until.IsZero() && fl.time.After(f.Until) {
			continue
		}
		sum.Failed++
		if fl.unreadable != "" {
			reportUnreadable(o, &sum, fl)
			continue
		}
		if !f.selects(fl.ev) {
			continue
		}
		sum.Matched++
		it := Item{Seq: fl.seq, Time: fl.time, Failed: fl.ev}
		switch {
		case sc.replays[fl.seq] != 0:
			it.Action, it.Reason, it.ReplaySeq = Skipped, ReasonAlreadyReplayed, sc.replays[fl.seq]
		case fl.ev.WabaID != "" && sc.lastSucceeded[fl.ev.WabaID] > fl.seq:
			it.Action, it.Reason, it.BySeq = Skipped, ReasonSucceededSince, sc.lastSucceeded[fl.ev.WabaID]
		case sc.lastFailure[fl.ev.EventID] > fl.seq:
			it.Action, it.Reason = Skipped, ReasonSuperseded
		case len(fl.ev.Replayable()) == 0 || string(fl.ev.Event) == "null":
			it.Action, it.Reason = Skipped, ReasonNoEvent
		case f.Limit > 0 && sum.Replayed >= f.Limit:
			it.Action, it.Reason = Skipped, ReasonLimit
		case o.DryRun:
			it.Action = WouldReplay
		default:
			seq, dup, err := publish(ctx, js, topo, fl)
			if err != nil {
				return sum, err
			}
			it.Action, it.ReplaySeq = Replayed, seq
			if dup { // within the duplicate window, by the Nats-Msg-Id
				it.Action, it.Reason = Skipped, ReasonAlreadyReplayed
			}
		}
		if it.Action == Skipped {
			sum.Skipped[it.Reason]++
		} else {
			sum.Replayed++
		}
		if o.Report != nil {
			o.Report(it)
		}
	}
	return sum, nil
}

// reportUnreadable counts and names a message on the failed subject that is
// not a readable failed event: replay never passes over one silently.
func reportUnreadable(o Options, sum *Summary, fl failure) {
	sum.Unreadable++
	if o.Report != nil {
		o.Report(Item{Seq: fl.seq, Time: fl.time, Action: Unreadable, Reason: fl.unreadable})
	}
}

// selects reports whether f selects the failed event (time aside).
func (f Filter) selects(ev events.Failed) bool {
	if len(f.WABAIDs) > 0 && !slices.Contains(f.WABAIDs, ev.WabaID) {
		return false
	}
	if f.Kind != "" && ev.Error.Kind != f.Kind {
		return false
	}
	if f.GraphCode != nil && (ev.Error.GraphCode == nil || *ev.Error.GraphCode != *f.GraphCode) {
		return false
	}
	return true
}

// scanStream reads the window once: failed and succeeded events in full, the
// input's headers for Replay-Of. It stops at the stream's last sequence as
// it was when the scan began, so replays it publishes are not read back.
func scanStream(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, o Options, sum *Summary) (*scan, error) {
	sc := &scan{lastSucceeded: map[string]uint64{}, replays: map[uint64]uint64{}, lastFailure: map[string]uint64{}}
	stream, err := js.Stream(ctx, topo.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", topo.Stream, err)
	}
	last := stream.CachedInfo().State.LastSeq
	if last == 0 {
		return sc, nil
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.Subject, topo.SucceededSubject, topo.FailedSubject},
	}
	if since := o.Filter.Since; !since.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, topo.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("scan stream %s: %w", topo.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return nil, fmt.Errorf("scan stream %s: %w", topo.Stream, err)
	}
	defer it.Stop()
	var total uint64
	if info := cons.CachedInfo(); info != nil {
		total = info.NumPending
	}
	if total == 0 {
		return sc, nil
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("scan stream %s after %d messages: %w", topo.Stream, sum.Scanned, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("scan stream %s: %w", topo.Stream, err)
		}
		seq := meta.Sequence.Stream
		if seq > last {
			break // published after the scan began
		}
		if sum.FirstSeq == 0 {
			sum.FirstSeq = seq
		}
		sum.LastSeq = seq
		sum.Scanned++
		sc.add(topo, msg, seq, meta.Timestamp)
		if o.Progress != nil {
			o.Progress(sum.Scanned, total)
		}
		if seq >= last || meta.NumPending == 0 || sum.Scanned >= total {
			break
		}
	}
	return sc, nil
}

func (sc *scan) add(topo wabatype.Topology, msg jetstream.Msg, seq uint64, ts time.Time) {
	switch msg.Subject() {
	case topo.Subject:
		if v := msg.Headers().Get(wabatype.HeaderReplayOf); v != "" {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && sc.replays[n] == 0 {
				sc.replays[n] = seq
			}
		}
	case topo.SucceededSubject:
		var s struct {
			WabaID string `json:"waba_id"`
		}
		if json.Unmarshal(msg.Data(), &s) == nil && s.WabaID != "" {
			sc.lastSucceeded[s.WabaID] = seq
		}
	case topo.FailedSubject:
		f, err := events.DecodeFailed(msg.Data())
		if err != nil {
			sc.failures = append(sc.failures, failure{seq: seq, time: ts, unreadable: err.Error()})
			return
		}
		sc.failures = append(sc.failures, failure{seq: seq, time: ts, ev: f})
		if f.EventID != "" {
			sc.lastFailure[f.EventID] = seq
		}
	}
}

// publish republishes the failed event's input. dup reports that JetStream
// dropped it as a duplicate of an earlier replay (within the window).
func publish(ctx context.Context, js jetstream.JetStream, topo wabatype.Topology, fl failure) (seq uint64, dup bool, err error) {
	id := wabatype.ReplayMsgID(fl.ev.EventID, fl.seq)
	if fl.ev.EventID == "" {
		id = wabatype.ReplayMsgID("seq-"+strconv.FormatUint(fl.seq, 10), fl.seq)
	}
	msg := &nats.Msg{Subject: topo.Subject, Data: fl.ev.Replayable(), Header: nats.Header{}}
	msg.Header.Set(wabatype.HeaderReplayOf, strconv.FormatUint(fl.seq, 10))
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(topo.Stream))
	if err != nil {
		return 0, false, fmt.Errorf("replay failed event at seq %d (event %s): %w", fl.seq, fl.ev.EventID, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// ErrBadTime is returned by ParseTime for a value that is neither a duration
// nor an RFC 3339 time.
var ErrBadTime = errors.New("want a duration such as 90m, 24h or 7d, or an RFC 3339 time such as 2026-11-24T12:00:00Z")

// ParseTime reads --since and --until: a duration back from now ("24h",
// "90m", "7d") or an RFC 3339 time.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if n, ok := days(v); ok {
		return now.Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, ErrBadTime
	}
	return now.Add(-d), nil
}

// days reads "7d".
func days(v string) (int, bool) {
	if len(v) < 2 || v[len(v)-1] != 'd' {
		return 0, false
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 0 || n > 100000 {
		return 0, false
	}
	return n, true
}
