package sweep_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	bizID       = emulator.DevBusinessID
	stateBucket = "waba_state"
	lockBucket  = "waba_locks"
	firstWABA   = 400000000000001
)

// wabaID is the id of the i-th WABA a test seeds (from 0).
func wabaID(i int) string { return strconv.Itoa(firstWABA + i) }

// clock is a fake clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testBundle is one test's world: the Graph emulator seeded with n WABAs
// shared with bizID, a client on it, an in-process NATS with the WABA stream
// and the ledger bucket, and a fake clock.
type testBundle struct {
	t      testing.TB
	graph  *emulator.Server
	client *graph.Client
	nats   *natstest.Server
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	ledger *ledger.Store
	clock  *clock
}

func setup(t testing.TB, n int) *testBundle {
	t.Helper()
	seed := emulator.DefaultSeed()
	seed.Businesses[0].WABAs = nil
	for i := range n {
		seed.Businesses[0].WABAs = append(seed.Businesses[0].WABAs, emulator.WABA{ID: wabaID(i), Name: "Customer " + strconv.Itoa(i)})
	}
	g := graphtest.NewTestServer(t, seed, emulator.WithRecordLimit(1000))
	client, err := graph.NewClient(
		graph.WithBaseURL(g.URL()),
		graph.WithHTTPClient(g.Client()),
		graph.WithToken(graph.StaticToken(emulator.DevReadToken)),
	)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{t: t, graph: g, client: client, nats: natstest.Start(t), clock: newClock()}
	_, b.js = b.nats.Connect()
	ctx := context.Background()
	b.newStream()
	b.kv, err = b.js.CreateKeyValue(ctx, ledger.BucketConfig(stateBucket, 1))
	if err != nil {
		t.Fatal(err)
	}
	b.ledger = ledger.New(b.kv)
	return b
}

// config is a sweep configuration on the bundle, unpaced.
func (b *testBundle) config(edit ...func(*sweep.Config)) sweep.Config {
	c := sweep.Config{
		Lister:      b.client,
		Ledger:      b.ledger,
		JetStream:   b.js,
		BusinessID:  bizID,
		Tasks:       []string{"MANAGE"},
		Now:         b.clock.Now,
		PublishRate: sweep.Unpaced,
	}
	for _, e := range edit {
		e(&c)
	}
	return c
}

// sweep runs one sweep and returns its summary and lines.
func (b *testBundle) sweep(edit ...func(*sweep.Config)) (sweep.Summary, []sweep.Line, error) {
	b.t.Helper()
	s, err := sweep.New(b.config(edit...))
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lines []sweep.Line
	sum, err := s.Sweep(ctx, func(l sweep.Line) { lines = append(lines, l) })
	return sum, lines, err
}

func (b *testBundle) mustSweep(edit ...func(*sweep.Config)) (sweep.Summary, []sweep.Line) {
	b.t.Helper()
	sum, lines, err := b.sweep(edit...)
	if err != nil {
		b.t.Fatalf("sweep: %v", err)
	}
	return sum, lines
}

func dryRun(c *sweep.Config) { c.DryRun = true }

// put writes a ledger record.
func (b *testBundle) put(r ledger.Record) {
	b.t.Helper()
	if r.EventID == "" {
		r.EventID = "evt-" + r.WABAID
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = b.clock.Now()
	}
	if err := b.ledger.Put(context.Background(), r); err != nil {
		b.t.Fatal(err)
	}
}

func (b *testBundle) onboard(id string, tasks ...string) {
	b.t.Helper()
	if len(tasks) == 0 {
		tasks = []string{"MANAGE"}
	}
	b.put(ledger.Record{WABAID: id, State: ledger.StateAssigned, SystemUserID: emulator.DevSystemUserID, HeldTasks: tasks})
}

func (b *testBundle) fail(id, kind string) {
	b.t.Helper()
	b.put(ledger.Record{WABAID: id, State: ledger.StateFailed, ErrorKind: kind, HeldTasks: []string{}})
}

// published is one waba.shared message in the stream.
type published struct {
	msgID string
	seq   uint64
	ev    events.Shared
}

// published reads every waba.shared message in the stream.
func (b *testBundle) published() []published {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := b.stream.Info(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	var out []published
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := b.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			b.t.Fatal(err)
		}
		if m.Subject != wabatype.DefaultSubject {
			continue
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			b.t.Fatalf("message %d is not a valid waba.shared: %v: %s", seq, err, m.Data)
		}
		out = append(out, published{msgID: m.Header.Get(jetstream.MsgIDHeader), seq: seq, ev: ev})
	}
	return out
}

// byAction groups lines' WABA ids by action.
func byAction(lines []sweep.Line) map[sweep.Action][]string {
	out := map[sweep.Action][]string{}
	for _, l := range lines {
		out[l.Action] = append(out[l.Action], l.WABAID)
	}
	return out
}

// newStream (re)creates the WABA stream, empty and with no message ids to
// dedupe against (a purge keeps those).
func (b *testBundle) newStream() {
	b.t.Helper()
	ctx := context.Background()
	topo := wabatype.Topology{}.WithDefaults()
	if b.stream != nil {
		if err := b.js.DeleteStream(ctx, topo.Stream); err != nil {
			b.t.Fatal(err)
		}
	}
	var err error
	b.stream, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: topo.Stream, Subjects: topo.Subjects(), Storage: jetstream.FileStorage, Duplicates: time.Hour,
	})
	if err != nil {
		b.t.Fatal(err)
	}
}
