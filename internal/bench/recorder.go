package bench

import (
	"bytes"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// recorder watches a row from the side: the results the worker publishes,
// its acks, its pull requests. Event n has id eventID(n) and, since the
// backlog is published in order into an empty stream, stream sequence n+1.
type recorder struct {
	n        int
	target   int           // results that end the run
	reached  chan struct{} // closed when target results arrived
	progress atomic.Int64  // unix nanos of the last result

	mu          sync.Mutex
	published   []time.Time // when event n was published
	resulted    []time.Time // when its first result arrived
	delivered   []time.Time // when the server sent event n to the worker (its last delivery)
	results     int         // first results
	duplicates  int         // results beyond the first for an event
	failed      int         // results on the failed subject
	strays      int         // results for no known event
	naks, terms int         // before the target: errors
	stopNaks    int         // after the target (the stop gives back what it holds)
	redelivered int         // acks of a delivery > 1
	firstPull   time.Time
	pulls       int
	pulled      int // messages asked for
	targetAt    time.Time

	// mark, when set, is called (under mu) at the first pull and when the
	// target is reached; its marks bound the CPU accounting.
	mark       func() cpuMark
	start, end cpuMark

	subs          []*nats.Subscription
	failedSubject string
}

func newRecorder(n, target int) *recorder {
	return &recorder{n: n, target: target, reached: make(chan struct{}),
		published: make([]time.Time, n), resulted: make([]time.Time, n), delivered: make([]time.Time, n)}
}

// watch subscribes on nc; with deliveries, it also watches what the server
// sends the worker's inboxes. Call before the worker starts; stop when done.
func (r *recorder) watch(nc *nats.Conn, t wabatype.Topology, deliveries bool) error {
	r.failedSubject = t.FailedSubject
	type watch struct {
		subject string
		handler nats.MsgHandler
	}
	watches := []watch{
		{t.SucceededSubject, r.onResult},
		{t.FailedSubject, r.onResult},
		{"$JS.ACK.>", r.onAck},
		{"$JS.API.CONSUMER.MSG.NEXT." + t.Stream + "." + t.Consumer, r.onPull},
	}
	if deliveries {
		watches = append(watches, watch{"_INBOX.>", r.onInbox})
	}
	for _, w := range watches {
		sub, err := nc.Subscribe(w.subject, w.handler)
		if err != nil {
			return err
		}
		_ = sub.SetPendingLimits(-1, -1)
		r.subs = append(r.subs, sub)
	}
	return nc.Flush()
}

func (r *recorder) stop() {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
}

var eventIDKey = []byte(`"event_id":"`)

func (r *recorder) onResult(m *nats.Msg) {
	now := time.Now()
	n := -1
	if i := bytes.Index(m.Data, eventIDKey); i >= 0 {
		rest := m.Data[i+len(eventIDKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			n = parseEventID(string(rest[:j]))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Subject == r.failedSubject {
		r.failed++
	}
	switch {
	case n < 0 || n >= r.n:
		r.strays++
		return
	case !r.resulted[n].IsZero():
		r.duplicates++
		return
	}
	r.resulted[n] = now
	r.results++
	r.progress.Store(now.UnixNano())
	if r.results == r.target {
		r.targetAt = now
		if r.mark != nil {
			r.end = r.mark()
		}
		close(r.reached)
	}
}

// ackSubject reads an ack subject: $JS.ACK.<stream>.<consumer>.
// <delivered>.<sseq>.<cseq>.<ts>.<pending> (or the v2 form with domain and
// account hash after ACK). ok is false for any other subject.
func ackSubject(subj string) (delivered, sseq uint64, ok bool) {
	if !strings.HasPrefix(subj, "$JS.ACK.") {
		return 0, 0, false
	}
	tok := strings.Split(subj, ".")
	off := 4
	if len(tok) >= 11 {
		off = 6
	}
	if len(tok) < off+5 {
		return 0, 0, false
	}
	dc, err1 := strconv.ParseUint(tok[off], 10, 64)
	seq, err2 := strconv.ParseUint(tok[off+1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return dc, seq, true
}

// onInbox sees what the server sends to the worker's inboxes; a message
// whose reply subject is an ack subject is a delivery (the rest, PubAcks
// and status messages, are skipped).
func (r *recorder) onInbox(m *nats.Msg) {
	_, sseq, ok := ackSubject(m.Reply)
	if !ok {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := int(sseq) - 1; n >= 0 && n < r.n {
		r.delivered[n] = now // the last delivery is the one that produced the result
	}
}

// onAck counts the worker's acks: naks, terms, and acks of redeliveries.
func (r *recorder) onAck(m *nats.Msg) {
	dc, _, ok := ackSubject(m.Subject)
	if !ok {
		return
	}
	body := string(bytes.TrimSpace(m.Data))
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case body == "" || body == "+ACK" || strings.HasPrefix(body, "+ACK "):
		if dc > 1 {
			r.redelivered++
		}
	case strings.HasPrefix(body, "-NAK") && !r.targetAt.IsZero():
		r.stopNaks++
	case strings.HasPrefix(body, "-NAK"):
		r.naks++
	case strings.HasPrefix(body, "+TERM"):
		r.terms++
	}
}

var batchKey = []byte(`"batch":`)

func (r *recorder) onPull(m *nats.Msg) {
	now := time.Now()
	batch := 0
	if i := bytes.Index(m.Data, batchKey); i >= 0 {
		rest := m.Data[i+len(batchKey):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		batch, _ = strconv.Atoi(string(rest[:j]))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstPull.IsZero() {
		r.firstPull = now
		if r.mark != nil {
			r.start = r.mark()
		}
	}
	r.pulls++
	r.pulled += batch
}

// lastProgress is when the last result arrived (zero before the first).
func (r *recorder) lastProgress() time.Time {
	ns := r.progress.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

const eventPrefix = "bench-"

func eventID(n int) string { return eventPrefix + strconv.Itoa(n) }

func parseEventID(s string) int {
	rest, ok := strings.CutPrefix(s, eventPrefix)
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return -1
	}
	return n
}
