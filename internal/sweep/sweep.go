package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emit"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// Source is the source field of the events the sweep publishes.
const Source = "sweep"

// Defaults of Config.
const (
	// DefaultPublishRate is 5 events a second: 18,000 an hour, so a first
	// sweep over 10,000 WABAs is published in about 33 minutes, within the
	// default SWEEP_INTERVAL of 1h. Each event costs the worker about three
	// Graph calls (read, POST, verify) on that WABA, so the sweep adds about
	// 15 calls a second. Meta's limits on these edges are per app and WABA
	// (200 calls an hour for a WABA without a phone number, 5,000 with one),
	// which one event per WABA cannot reach; what pacing protects is the
	// app's request-per-second capacity (Meta answers 429 or 503 beyond it)
	// and, as much, the queue: the worker's 16 concurrent events work about
	// 10-16 events a second, so a sweep paced at 5 leaves most of the
	// capacity to the signups and webhooks that arrive meanwhile instead of
	// putting them behind thousands of sweep events.
	DefaultPublishRate = 5.0
	// DefaultPageSize is the listing's page size: Graph's largest, for the
	// fewest list calls (100 for 10,000 WABAs).
	DefaultPageSize = graph.MaxPageSize
	// DefaultPermanentRetry is how long a permanent failure rests before the
	// sweep emits it again.
	DefaultPermanentRetry = 24 * time.Hour
	// DefaultLookupConcurrency is how many ledger reads of one page run at
	// once.
	DefaultLookupConcurrency = 16
)

// Unpaced, as Config.PublishRate, publishes as fast as JetStream acks (for
// tests and benchmarks).
const Unpaced = -1.0

// Lister lists the WABAs shared with a business, one page at a time:
// *graph.Client.ListClientWABAs, or a wrapper of it that routes the calls
// through the caller's pacing, breaker and credentials handling. The errors
// of Graph must stay matchable (errors.As *graph.Error, graph.Classify).
type Lister interface {
	ListClientWABAs(ctx context.Context, businessID string, limit int, fn func([]graph.ClientWABA) error) error
}

// Observer is told what a sweep does, for metrics. Its methods are called
// on the sweeping goroutine and must not block.
type Observer interface {
	// Line is called for every Line of a sweep, as it is decided.
	Line(Line)
	// Swept is called once at the end of every Sweep, with its summary and
	// its error (nil on success).
	Swept(Summary, error)
}

// Config configures a Sweeper.
type Config struct {
	// Lister lists the WABAs shared with BusinessID. Required.
	Lister Lister
	// Ledger is the WABA ledger (bucket waba_state). Required.
	Ledger *ledger.Store
	// JetStream publishes the events. Required unless DryRun.
	JetStream jetstream.JetStream
	// Stream is the stream that must store the events (WithExpectStream).
	// Defaults to wabatype.DefaultStream (WABA).
	Stream string
	// Subject is the subject of the events. Defaults to
	// wabatype.DefaultSubject (waba.shared).
	Subject string
	// BusinessID is the BSP's business portfolio (BUSINESS_ID). Required.
	BusinessID string
	// Tasks are the wanted tasks (ASSIGN_TASKS): a WABA whose system user
	// lacks one is emitted, and every event carries them, so the worker
	// assigns what the sweep judged missing even when this process's
	// ASSIGN_TASKS differs from the worker's. Defaults to ["MANAGE"].
	Tasks []string
	// PageSize is the listing's page size, 1 to graph.MaxPageSize. Defaults
	// to DefaultPageSize.
	PageSize int
	// Now is the clock of the sweep's decisions (the age of a permanent
	// failure, the day in its message id, occurred_at). Pacing uses the real
	// clock. Defaults to time.Now.
	Now func() time.Time
	// DryRun decides and reports, and publishes nothing.
	DryRun bool
	// PublishRate is the pace of publishing, in events a second; Unpaced (or
	// any negative value) does not pace. Defaults to DefaultPublishRate.
	PublishRate float64
	// PublishBurst is how many events may go at once after a quiet spell.
	// Defaults to 1: evenly spaced.
	PublishBurst int
	// PermanentRetry is how long a permanent failure (kind permanent or
	// invalid_event) rests before it is emitted again. Defaults to
	// DefaultPermanentRetry (a day).
	PermanentRetry time.Duration
	// LookupConcurrency bounds the ledger reads of a page in flight.
	// Defaults to DefaultLookupConcurrency.
	LookupConcurrency int
	// Logger gets a line per sweep (info), per not-listed WABA (info) and per
	// other WABA (debug). Defaults to discarding.
	Logger *slog.Logger
	// Observer, when set, is told about every line and every sweep.
	Observer Observer
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Stream = cmp.Or(c.Stream, wabatype.DefaultStream)
	c.Subject = cmp.Or(c.Subject, wabatype.DefaultSubject)
	if len(c.Tasks) == 0 {
		c.Tasks = []string{"MANAGE"}
	}
	c.PageSize = cmp.Or(c.PageSize, DefaultPageSize)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PublishRate == 0 {
		c.PublishRate = DefaultPublishRate
	}
	c.PublishBurst = cmp.Or(c.PublishBurst, 1)
	c.PermanentRetry = cmp.Or(c.PermanentRetry, DefaultPermanentRetry)
	c.LookupConcurrency = cmp.Or(c.LookupConcurrency, DefaultLookupConcurrency)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Lister == nil:
		return errors.New("sweep: Config.Lister is required")
	case c.Ledger == nil:
		return errors.New("sweep: Config.Ledger is required")
	case c.JetStream == nil && !c.DryRun:
		return errors.New("sweep: Config.JetStream is required unless DryRun")
	case !events.IsGraphID(c.BusinessID):
		return fmt.Errorf("sweep: Config.BusinessID %q is not 1-32 digits", c.BusinessID)
	case c.PageSize < 1 || c.PageSize > graph.MaxPageSize:
		return fmt.Errorf("sweep: Config.PageSize %d: want 1 to %d", c.PageSize, graph.MaxPageSize)
	case c.PublishBurst < 1:
		return fmt.Errorf("sweep: Config.PublishBurst %d: must be at least 1", c.PublishBurst)
	case c.PermanentRetry < 0:
		return fmt.Errorf("sweep: Config.PermanentRetry %s: must not be negative", c.PermanentRetry)
	case c.LookupConcurrency < 1:
		return fmt.Errorf("sweep: Config.LookupConcurrency %d: must be at least 1", c.LookupConcurrency)
	}
	for _, t := range c.Tasks {
		if !events.ValidTask(t) {
			return fmt.Errorf("sweep: Config.Tasks: unknown task %q", t)
		}
	}
	return nil
}

// Sweeper sweeps. It is safe for concurrent use, though one sweep at a time
// is what the lease in Run ensures across replicas.
type Sweeper struct {
	cfg   Config
	topo  wabatype.Topology
	pacer *pacer
}

// New returns a Sweeper, or the first problem of cfg.
func New(cfg Config) (*Sweeper, error) {
	cfg = cfg.WithDefaults()
	cfg.Tasks = slices.Clone(cfg.Tasks)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Sweeper{
		cfg:   cfg,
		topo:  wabatype.Topology{Stream: cfg.Stream, Subject: cfg.Subject}.WithDefaults(),
		pacer: newPacer(cfg.PublishRate, cfg.PublishBurst),
	}, nil
}

// Line is what the sweep did about one WABA; `worker sweep` prints one per
// WABA (a JSON line with --json).
type Line struct {
	WABAID string `json:"waba_id"`
	Name   string `json:"name,omitempty"` // as Graph lists it
	Action Action `json:"action"`
	Reason Reason `json:"reason"`
	// State is the ledger's state of the WABA, "" when it has no record.
	State ledger.State `json:"state,omitempty"`
	// EventID is the id (and Nats-Msg-Id) of the event emitted, already
	// emitted or that would be emitted.
	EventID string `json:"event_id,omitempty"`
	// Seq is the stream sequence of the event (of the first one with its id
	// when already emitted).
	Seq uint64 `json:"seq,omitempty"`
}

// Summary is what one sweep did.
type Summary struct {
	BusinessID string    `json:"business_id"`
	DryRun     bool      `json:"dry_run"`
	StartedAt  time.Time `json:"started_at"` // by Config.Now
	// Duration is the sweep's real time, listing to the end of the ledger walk.
	Duration time.Duration `json:"duration_ns"`
	// Pages is the number of pages listed.
	Pages int `json:"pages"`
	// Listed counts the distinct WABAs Graph listed.
	Listed int `json:"listed"`
	// Onboarded counts the listed WABAs assigned with every wanted task.
	Onboarded int `json:"onboarded"`
	// Emitted counts the events JetStream stored; AlreadyEmitted those it
	// had already (a duplicate id); WouldEmit those a dry run found.
	Emitted        int `json:"emitted"`
	AlreadyEmitted int `json:"already_emitted"`
	WouldEmit      int `json:"would_emit"`
	// EmitReasons counts the emitted, already emitted and would-emit WABAs
	// by reason; Skipped the skipped ones by reason (onboarded among them).
	EmitReasons map[Reason]int `json:"emit_reasons"`
	Skipped     map[Reason]int `json:"skipped"`
	// NotListed counts the WABAs the ledger shows as assigned that Graph no
	// longer lists.
	NotListed int `json:"not_listed"`
}

func (s *Summary) count(l Line) {
	switch l.Action {
	case ActionEmitted:
		s.Emitted++
		s.EmitReasons[l.Reason]++
	case ActionAlreadyEmitted:
		s.AlreadyEmitted++
		s.EmitReasons[l.Reason]++
	case ActionWouldEmit:
		s.WouldEmit++
		s.EmitReasons[l.Reason]++
	case ActionSkipped:
		s.Skipped[l.Reason]++
		if l.Reason == ReasonOnboarded {
			s.Onboarded++
		}
	case ActionNotListed:
		s.NotListed++
	}
}

// pageError carries an error of the sweep's own work on a page (ledger,
// publish) through the Lister, so that it is not taken for Graph's.
type pageError struct{ err error }

func (e *pageError) Error() string { return e.err.Error() }
func (e *pageError) Unwrap() error { return e.err }

// Sweep lists every WABA shared with the business, decides for each from its
// ledger record, publishes (paced, unless DryRun) the waba.shared events
// due, then walks the ledger for the assigned WABAs that were not listed.
// report, when not nil, gets every Line as it is decided, on the calling
// goroutine.
//
// It holds one page of WABAs and the set of listed ids (see doc.go), never
// the whole listing or the whole ledger. On error it stops and returns the
// summary so far with an error wrapping the cause: a Graph error of the
// listing (errors.As *graph.Error, graph.Classify: a credentials error means
// the token was rejected), a ledger or JetStream error, or ctx's error.
func (s *Sweeper) Sweep(ctx context.Context, report func(Line)) (Summary, error) {
	start := time.Now()
	now := s.cfg.Now()
	sum := Summary{
		BusinessID:  s.cfg.BusinessID,
		DryRun:      s.cfg.DryRun,
		StartedAt:   now,
		EmitReasons: map[Reason]int{},
		Skipped:     map[Reason]int{},
	}
	out := func(l Line) {
		sum.count(l)
		if s.cfg.Observer != nil {
			s.cfg.Observer.Line(l)
		}
		if report != nil {
			report(l)
		}
	}
	err := s.sweep(ctx, now, out, &sum)
	sum.Duration = time.Since(start)
	s.logSummary(ctx, sum, err)
	if s.cfg.Observer != nil {
		s.cfg.Observer.Swept(sum, err)
	}
	return sum, err
}

func (s *Sweeper) sweep(ctx context.Context, now time.Time, out func(Line), sum *Summary) error {
	listed := newIDSet()
	err := s.cfg.Lister.ListClientWABAs(ctx, s.cfg.BusinessID, s.cfg.PageSize, func(page []graph.ClientWABA) error {
		sum.Pages++
		if err := s.page(ctx, now, page, listed, out); err != nil {
			return &pageError{err}
		}
		return nil
	})
	sum.Listed = listed.len()
	if err != nil {
		if pe, ok := err.(*pageError); ok {
			return pe.err
		}
		if ctx.Err() != nil {
			return canceled(ctx)
		}
		return fmt.Errorf("sweep: list the WABAs shared with business %s: %w", s.cfg.BusinessID, err)
	}
	return s.notListed(ctx, listed, out)
}

// page decides and emits the WABAs of one page, in Graph's order.
func (s *Sweeper) page(ctx context.Context, now time.Time, page []graph.ClientWABA, listed *idSet, out func(Line)) error {
	todo := make([]graph.ClientWABA, 0, len(page))
	for _, w := range page {
		if !ledger.IsWABAID(w.ID) {
			s.cfg.Logger.WarnContext(ctx, "sweep: Graph listed an invalid WABA id", "waba_id", clip(w.ID))
			out(Line{WABAID: clip(w.ID), Action: ActionSkipped, Reason: ReasonInvalidID})
			continue
		}
		if !listed.add(w.ID) {
			continue // listed twice (the listing moved while paging): decided already
		}
		todo = append(todo, w)
	}
	looked := s.lookup(ctx, todo)
	for i, w := range todo {
		lk := looked[i]
		if lk.err != nil {
			return lk.err
		}
		d := decide(w.ID, lk.rec, lk.found, lk.corrupt, s.cfg.Tasks, now, s.cfg.PermanentRetry)
		l := Line{WABAID: w.ID, Name: w.Name, Reason: d.reason, EventID: d.id}
		if lk.found {
			l.State = lk.rec.State
		}
		switch {
		case !d.emit:
			l.Action = ActionSkipped
		case s.cfg.DryRun:
			l.Action = ActionWouldEmit
		default:
			seq, dup, err := s.publish(ctx, w.ID, d.id, now)
			if err != nil {
				return err
			}
			l.Action, l.Seq = ActionEmitted, seq
			if dup {
				l.Action = ActionAlreadyEmitted
			}
		}
		if lk.corrupt {
			s.cfg.Logger.WarnContext(ctx, "sweep: ledger record unreadable, emitting the WABA", "waba_id", w.ID, "err", lk.err0)
		}
		s.cfg.Logger.DebugContext(ctx, "sweep: WABA", "waba_id", w.ID, "action", l.Action, "reason", l.Reason, "event_id", l.EventID)
		out(l)
	}
	return nil
}

type lookupResult struct {
	rec     ledger.Record
	found   bool
	corrupt bool
	err0    error // why the record is corrupt
	err     error // a ledger failure: the sweep stops
}

// lookup reads the ledger records of a page, LookupConcurrency at a time.
func (s *Sweeper) lookup(ctx context.Context, page []graph.ClientWABA) []lookupResult {
	res := make([]lookupResult, len(page))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.cfg.LookupConcurrency, len(page)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(page) {
					return
				}
				r := &res[i]
				rec, found, err := s.cfg.Ledger.Get(ctx, page[i].ID)
				switch {
				case errors.Is(err, ledger.ErrCorrupt):
					r.corrupt, r.err0 = true, err
				case err != nil:
					r.err = fmt.Errorf("sweep: read the ledger: %w", err)
				default:
					r.rec, r.found = rec, found
				}
			}
		})
	}
	wg.Wait()
	return res
}

// publish paces, then publishes the waba.shared of wabaID with id and waits
// for its PubAck. dup reports a message id JetStream had already stored.
func (s *Sweeper) publish(ctx context.Context, wabaID, id string, now time.Time) (seq uint64, dup bool, err error) {
	ev, payload, err := emit.Encode(events.Shared{
		ID:         id,
		WabaID:     wabaID,
		BusinessID: s.cfg.BusinessID,
		Tasks:      s.cfg.Tasks,
		Source:     Source,
		OccurredAt: now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return 0, false, fmt.Errorf("sweep: encode the event of %s: %w", wabaID, err)
	}
	if err := s.pacer.wait(ctx); err != nil {
		return 0, false, fmt.Errorf("sweep: %w", err)
	}
	ack, err := emit.Publish(ctx, s.cfg.JetStream, s.topo, ev.ID, payload)
	if err != nil {
		s.pacer.refund()
		return 0, false, fmt.Errorf("sweep: %w", err)
	}
	if ack.Duplicate {
		s.pacer.refund() // nothing new for the worker: no Graph calls to pace
	}
	return ack.Sequence, ack.Duplicate, nil
}

// notListed walks the ledger for the assigned WABAs Graph did not list.
func (s *Sweeper) notListed(ctx context.Context, listed *idSet, out func(Line)) error {
	err := s.cfg.Ledger.Each(ctx, func(r ledger.Record) error {
		if r.State != ledger.StateAssigned || listed.has(r.WABAID) {
			return nil
		}
		s.cfg.Logger.InfoContext(ctx, "sweep: WABA assigned in the ledger is not listed as shared any more; left as it is",
			"waba_id", r.WABAID, "event_id", r.EventID, "updated_at", r.UpdatedAt)
		out(Line{WABAID: r.WABAID, Action: ActionNotListed, Reason: ReasonNotListed, State: r.State})
		return nil
	})
	if errors.Is(err, ledger.ErrCorrupt) {
		// Unreadable records were skipped; a listed one was emitted above.
		s.cfg.Logger.WarnContext(ctx, "sweep: unreadable ledger records skipped in the not-listed check", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep: walk the ledger: %w", err)
	}
	return nil
}

func (s *Sweeper) logSummary(ctx context.Context, sum Summary, err error) {
	attrs := []any{
		"business_id", sum.BusinessID, "dry_run", sum.DryRun, "pages", sum.Pages,
		"listed", sum.Listed, "onboarded", sum.Onboarded,
		"emitted", sum.Emitted, "already_emitted", sum.AlreadyEmitted, "would_emit", sum.WouldEmit,
		"emit_reasons", sum.EmitReasons, "skipped", sum.Skipped, "not_listed", sum.NotListed,
		"duration", sum.Duration,
	}
	if err != nil {
		attrs = append(attrs, "err", err)
		if isGraphErr(err) {
			attrs = append(attrs, "graph_class", graph.Classify(err).String())
		}
		s.cfg.Logger.ErrorContext(ctx, "sweep failed", attrs...)
		return
	}
	s.cfg.Logger.InfoContext(ctx, "sweep done", attrs...)
}

// clip shortens an id from Graph for a log line or a report.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// isGraphErr reports whether err holds an answer (or a failed round trip) of
// Graph, which graph.Classify can class.
func isGraphErr(err error) bool {
	var ge *graph.Error
	var te *graph.TransportError
	return errors.As(err, &ge) || errors.As(err, &te)
}

// canceled is the error of a sweep whose context ended: it matches ctx's
// error and carries its cause (a lost lease, say) when there is one.
func canceled(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("sweep: %w: %w", err, cause)
	}
	return fmt.Errorf("sweep: %w", err)
}
