// Package worker is the consumer of waba-worker: it owns intake. It
// provisions the stream and durable pull consumer, pulls no more messages
// than it has free slots, runs each through a Handler, publishes the result
// with a Nats-Msg-Id and waits for its PubAck, and only then acks the input.
//
// It maps the handler's vocabulary (internal/wabatype) to JetStream's: Done
// and Failed become a published result then Ack (TermWithReason for an
// invalid event), RetryLater becomes NakWithDelay, Paused shuts the intake
// gate until a probe succeeds. While the gate is shut nothing is pulled;
// the last delivery of an event is held rather than nak'd, so that an
// outage does not use up the event. A stop (ctx) ends intake at once and
// lets work in flight finish within ShutdownTimeout; what cannot finish is
// nak'd.
//
// It knows Graph only through the Handler: whether work is refused right now
// (Paused), whether it may resume (Probe), and the outcome of an event it
// stops holding (GiveUp).
package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/wabaworker/waba-worker/internal/tracing"
	"github.com/wabaworker/waba-worker/internal/util/textutil"
	"github.com/wabaworker/waba-worker/internal/util/timeutil"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// Handler works deliveries and tells the consumer what the outside world
// (Graph) allows; *handlers.Assigner is one. Its methods are called
// concurrently.
type Handler interface {
	// Handle works one delivery and says what should become of it.
	Handle(ctx context.Context, m wabatype.Message) wabatype.Outcome
	// Key is the WABA a delivery is about (its lease key), "" when it names
	// none (an invalid event). Deliveries of one key are worked one at a
	// time, across all replicas when a Locker is configured.
	Key(m wabatype.Message) string
	// Paused reports, without any I/O, whether work is refused right now
	// (the breaker is open) and how soon to ask again; NoPause otherwise.
	// Nothing is pulled, and no probe is sent, while it says so.
	Paused() (reason wabatype.PauseReason, recheck time.Duration)
	// Probe asks whether work may resume: NoPause and nil when it may,
	// else why intake stays paused and the cause.
	Probe(ctx context.Context) (wabatype.PauseReason, error)
	// GiveUp is the outcome of a last delivery that the consumer stops
	// holding through a pause: a failed event (retries_exhausted) naming
	// cause.
	GiveUp(m wabatype.Message, cause error) wabatype.Outcome
}

// Locker hands out per-key leases that hold across processes; the lease
// package's Locker is one (through a small adapter in internal/app).
type Locker interface {
	// Acquire waits until the key is free, or ctx ends.
	Acquire(ctx context.Context, key string) (Lease, error)
}

// Lease is one held key.
type Lease interface {
	// OnLost arranges for f to run in its own goroutine when the lease is
	// lost (not renewed in time, taken over): work under it is cancelled.
	// stop undoes that, reporting whether it stopped f from running.
	OnLost(f func()) (stop func() bool)
	Release(ctx context.Context) error
}

// Recorder is told each outcome that was published (after its PubAck) or
// that publishes nothing (Recorded), under the key's lease and before the
// input is acked: the ledger. It must be bounded in time and must not fail
// the event: a result is already stored.
type Recorder interface {
	Record(ctx context.Context, out wabatype.Outcome)
}

// Observer is told about each event, for metrics. Its methods must be quick.
type Observer interface {
	EventStarted()
	EventFinished(o wabatype.Outcome, d time.Duration)
	// EventParked is told, when a parked delivery is taken up, how long it
	// waited behind the other deliveries of its WABA in this process.
	EventParked(d time.Duration)
}

// Config configures a Worker. A zero field takes its value from
// DefaultConfig.
type Config struct {
	wabatype.Topology

	// BindOnly binds to the stream and consumer as they are. Defaults to
	// false: the worker creates the stream if it is missing and creates or
	// updates the consumer.
	BindOnly bool
	// Concurrency is how many events are worked at once: taking their
	// lease and calling Graph. An event's settling (publishing its result,
	// waiting for the PubAck, recording it, acking the input, releasing the
	// lease) frees its slot for the next event, so that the slots are busy
	// with Graph, the scarce resource; MaxAckPending covers both phases.
	// Defaults to 16.
	Concurrency int
	// Prefetch is how many deliveries beyond Concurrency are pulled ahead:
	// read, their lease taken and kept in progress, waiting for a slot, so
	// that a slot that frees starts its next event's Graph calls at once
	// rather than after a pull and a lease round trip. Defaults to
	// Concurrency/8, at least 1; negative pulls none ahead.
	Prefetch int
	// MaxDeliver is the consumer's MaxDeliver. Defaults to 10.
	MaxDeliver int
	// AckWait is the consumer's AckWait. Defaults to 60s.
	AckWait time.Duration
	// ShutdownTimeout bounds how long work in flight may go on after a
	// stop. Defaults to 30s.
	ShutdownTimeout time.Duration
	// FetchWait is how long one pull request waits for messages; a stop or a
	// pause takes effect within it. Defaults to 2s.
	FetchWait time.Duration
	// ProbeInterval is how often the handler is probed while paused (the
	// token is rejected, or a probe failed without opening the breaker).
	// Defaults to 5s.
	ProbeInterval time.Duration
	// MaxHolds is how often the last delivery of an event may be held
	// through a breaker pause. A breaker that opens again at once after a
	// successful probe is more likely this event's own fault than Graph's:
	// the event then fails as retries_exhausted (Handler.GiveUp) rather
	// than loop. Defaults to 3.
	MaxHolds int

	// Locker, when set, gives each delivery its WABA's lease (Handler.Key)
	// before it is handled, so that one read-assign-verify runs per WABA at
	// a time across replicas. Defaults to none: deliveries of one WABA
	// still run one at a time within this process.
	Locker Locker
	// LeaseWait bounds how long a delivery waits for a lease held by
	// another process (its message kept in progress, its slot held) before
	// it is nak'd with LeaseRetryDelay. Defaults to 2m, one retry budget
	// (WORKER_RETRY_MAX_ELAPSED's default): the longest a healthy holder
	// works one delivery.
	LeaseWait time.Duration
	// LeaseRetryDelay is the nak delay of a delivery that waited LeaseWait
	// in vain. Defaults to 15s, the lease TTL.
	LeaseRetryDelay time.Duration
	// MaxParked bounds the deliveries waiting in this process behind
	// another delivery of the same WABA. They hold no slot (a finishing
	// delivery hands its slot to the next of its WABA), and are kept in
	// progress. Defaults to 4 x Concurrency (64).
	MaxParked int
	// Recorder defaults to none.
	Recorder Recorder
	// Prepare, when set, runs before each bind of the consumer; an error
	// keeps the worker from consuming and is retried (the lease and ledger
	// buckets must exist).
	Prepare func(context.Context) error

	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Observer defaults to none.
	Observer Observer
	// TracerProvider gives each delivery a span, continuing the traceparent
	// of the input, whose context goes on to the result. Defaults to a no-op
	// provider (a traceparent still passes from input to result).
	TracerProvider trace.TracerProvider
}

// DefaultConfig is the configuration of a Worker whose Config leaves every
// field zero: the names of wabatype's defaults, and the defaults of
// `worker run`'s settings that the consumer owns.
func DefaultConfig() Config {
	return Config{
		Topology:        wabatype.Topology{}.WithDefaults(),
		Concurrency:     16,
		Prefetch:        16 / 8,
		MaxDeliver:      10,
		AckWait:         60 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		FetchWait:       2 * time.Second,
		ProbeInterval:   5 * time.Second,
		MaxHolds:        3,
		LeaseWait:       2 * time.Minute,
		LeaseRetryDelay: 15 * time.Second,
		MaxParked:       4 * 16,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Topology = c.Topology.WithDefaults()
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = d.MaxDeliver
	}
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.FetchWait <= 0 {
		c.FetchWait = d.FetchWait
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = d.ProbeInterval
	}
	if c.MaxHolds <= 0 {
		c.MaxHolds = d.MaxHolds
	}
	if c.LeaseWait <= 0 {
		c.LeaseWait = d.LeaseWait
	}
	if c.LeaseRetryDelay <= 0 {
		c.LeaseRetryDelay = d.LeaseRetryDelay
	}
	if c.MaxParked <= 0 {
		c.MaxParked = 4 * c.Concurrency
	}
	switch {
	case c.Prefetch == 0:
		c.Prefetch = max(1, c.Concurrency/8)
	case c.Prefetch < 0:
		c.Prefetch = 0
	}
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	return c
}

type nopObserver struct{}

func (nopObserver) EventStarted()                                 {}
func (nopObserver) EventParked(time.Duration)                     {}
func (nopObserver) EventFinished(wabatype.Outcome, time.Duration) {}

// Worker consumes waba.shared events. Create it with New and start it with Run.
type Worker struct {
	cfg    Config
	js     jetstream.JetStream
	h      Handler
	log    *slog.Logger
	tracer trace.Tracer
	gate   *gate
	bound  atomic.Bool
	intake chan struct{}  // one token per delivery the pull may still take (Concurrency+Prefetch)
	slots  chan struct{}  // one token per free slot (Concurrency)
	room   chan struct{}  // one token per parked delivery
	wg     sync.WaitGroup // deliveries being worked
	pool   *runners

	mu   sync.Mutex
	keys map[string]*keyQueue // keys being worked in this process

	missing atomic.Pointer[[]string] // inputs the stream does not capture
	warned  sync.Map                 // stream warnings already logged
}

// keyQueue holds the deliveries parked behind the one of the same key being
// worked.
type keyQueue struct {
	parked []parked
}

type parked struct {
	msg  jetstream.Msg
	m    wabatype.Message
	stop func()    // ends its keep-alive
	at   time.Time // when it was parked
}

// New returns a Worker that consumes through js and works events with h.
func New(js jetstream.JetStream, h Handler, cfg Config) (*Worker, error) {
	if js == nil || h == nil {
		return nil, errors.New("worker: a JetStream context and a Handler are required")
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, js: js, h: h, log: cfg.Logger, gate: newGate(),
		tracer: cfg.TracerProvider.Tracer(tracing.TracerName),
		intake: make(chan struct{}, cfg.Concurrency+cfg.Prefetch), slots: make(chan struct{}, cfg.Concurrency),
		room: make(chan struct{}, cfg.MaxParked), keys: map[string]*keyQueue{}, pool: newRunners(runnerIdle)}
	for range cfg.Concurrency + cfg.Prefetch {
		w.intake <- struct{}{}
	}
	for range cfg.Concurrency {
		w.slots <- struct{}{}
	}
	return w, nil
}

// Status is what readiness needs to know.
type Status struct {
	ConsumerBound bool
	Paused        wabatype.PauseReason // NoPause when taking events
	PausedSince   time.Time
	InFlight      int // deliveries holding a slot (their Graph phase)
	Parked        int
	// MissingSubjects are subjects the stream does not capture: inputs the
	// worker cannot consume, or subjects without which it cannot bind at
	// all (waba.shared, a result subject). It is not ready.
	MissingSubjects []string
}

// Status reports the worker's state.
func (w *Worker) Status() Status {
	r, since := w.gate.state()
	st := Status{ConsumerBound: w.bound.Load(), Paused: r, PausedSince: since,
		InFlight: w.cfg.Concurrency - len(w.slots), Parked: len(w.room)}
	if m := w.missing.Load(); m != nil {
		st.MissingSubjects = *m
	}
	return st
}

// Run consumes until ctx ends, then stops intake, lets work in flight finish
// within ShutdownTimeout, naks what could not finish, and returns nil. It
// returns an error only when it cannot start.
func (w *Worker) Run(ctx context.Context) error {
	// Work in flight outlives ctx: it is cancelled only once the shutdown
	// timeout has passed.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var sup sync.WaitGroup
	sup.Go(func() { w.supervise(ctx) })
	defer sup.Wait()

	w.consume(ctx, workCtx)

	defer w.pool.stop() // after the work in flight
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		w.log.Warn("shutdown timeout: giving back the events still in flight", "in_flight", w.Status().InFlight)
		cancelWork()
		<-done
	}
	return nil
}

// pullers is how many pull requests may be outstanding at once. Each asks
// only for intake tokens that are free, so together they never ask for more
// than Concurrency+Prefetch; a second one lets a freed token be refilled
// while the first request is still waiting, instead of after it.
const pullers = 2

// consume is the intake loop: bind the consumer, then pull, while the gate
// is open, as many messages as there are free slots. When the consumer is
// gone (deleted, or the server lost its state) it binds again.
func (w *Worker) consume(ctx, workCtx context.Context) {
	retry := retryForever()
	said := "" // the bind error last logged: the same one is logged once
	for ctx.Err() == nil {
		cons, err := w.bind(ctx)
		if err != nil {
			level := slog.LevelWarn
			if err.Error() == said {
				level = slog.LevelDebug
			}
			said = err.Error()
			w.log.Log(ctx, level, "cannot bind the consumer, retrying", "stream", w.cfg.Stream, "consumer", w.cfg.Consumer, "error", err.Error())
			timeutil.Sleep(ctx, retry.NextBackOff())
			continue
		}
		said = ""
		retry.Reset()
		w.bound.Store(true)
		w.log.Info("consuming", "stream", w.cfg.Stream, "consumer", w.cfg.Consumer,
			"subject", w.cfg.Subject, "concurrency", w.cfg.Concurrency)

		pullCtx, gone := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range min(pullers, w.cfg.Concurrency) {
			wg.Go(func() {
				if err := w.pull(pullCtx, ctx, workCtx, cons); err != nil {
					w.log.Warn("consumer gone, binding again", "error", err.Error())
					gone()
				}
			})
		}
		wg.Wait()
		gone()
		w.bound.Store(false)
	}
}

// pull issues pull requests for free intake tokens until ctx ends (nil) or the
// consumer is gone (its error). The messages it gets see intake, the
// worker's stop signal, and work under workCtx.
func (w *Worker) pull(ctx, intake, workCtx context.Context, cons jetstream.Consumer) error {
	retry := retryForever()
	for ctx.Err() == nil {
		if r, _ := w.h.Paused(); r != wabatype.NoPause {
			w.pause(r, nil)
		}
		if !w.gate.waitOpen(ctx) {
			return nil
		}
		n, ok := w.acquire(ctx)
		if !ok {
			return nil
		}
		if ctx.Err() != nil {
			// Stopped while the token came free (a stop frees tokens: the
			// deliveries it gives back): no pull after the stop.
			w.release(n)
			return nil
		}
		if reason, _ := w.gate.state(); reason != wabatype.NoPause {
			w.release(n) // paused while waiting for a token
			continue
		}
		got, err := w.fetch(intake, workCtx, cons, n)
		w.release(n - got)
		if got == 0 && err != nil && !isGone(err) {
			// A failed pull: a deleted consumer answers "no responders".
			if gone := w.checkConsumer(ctx, cons); gone != nil {
				err = gone
			}
		}
		switch {
		case err == nil:
			retry.Reset()
		case isGone(err):
			return err
		case got == 0:
			w.log.Debug("pull failed", "error", err.Error())
			timeutil.Sleep(ctx, retry.NextBackOff())
		}
	}
	return nil
}

// bind provisions (when configured) and returns the consumer. An existing
// stream is checked, never changed: what is wrong with it is logged once.
func (w *Worker) bind(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.cfg.Prepare != nil {
		if err := w.cfg.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	var check StreamCheck
	var err error
	if w.cfg.BindOnly {
		var s jetstream.Stream
		if s, err = w.js.Stream(ctx, w.cfg.Stream); err == nil {
			check, err = CheckStream(s.CachedInfo().Config, w.cfg.Topology)
		}
	} else {
		_, check, err = EnsureStreamCheck(ctx, w.js, w.cfg.Topology)
	}
	if err == nil || len(check.MissingRequired) > 0 {
		w.note(check) // readiness names what is missing, until it is not
	}
	if err != nil {
		return nil, err
	}
	if w.cfg.BindOnly {
		return w.js.Consumer(ctx, w.cfg.Stream, w.cfg.Consumer)
	}
	return w.js.CreateOrUpdateConsumer(ctx, w.cfg.Stream,
		consumerConfig(w.cfg.Topology, check.Inputs(w.cfg.Topology), w.cfg.Concurrency, w.cfg.MaxDeliver, w.cfg.AckWait))
}

// note keeps what the stream check found for Status, and logs each warning
// once.
func (w *Worker) note(c StreamCheck) {
	missing := c.Missing()
	w.missing.Store(&missing)
	for _, line := range c.Warnings {
		if _, seen := w.warned.LoadOrStore(line, true); !seen {
			w.log.Warn(line)
		}
	}
}

// isGone reports whether err says the consumer (or its stream) is gone.
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

// checkConsumer asks the server about the consumer: an error says it is
// gone; any other answer (even a failed request) is taken as alive.
func (w *Worker) checkConsumer(ctx context.Context, cons jetstream.Consumer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cons.Info(ctx); isGone(err) {
		return err
	}
	return nil
}

// fetch sends one pull request for n messages and starts each that arrives,
// holding one of the n intake tokens.
func (w *Worker) fetch(intake, workCtx context.Context, cons jetstream.Consumer, n int) (int, error) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(w.cfg.FetchWait))
	if err != nil {
		return 0, err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		w.wg.Add(1)
		w.pool.run(func() {
			defer w.wg.Done()
			w.process(intake, workCtx, msg, &ticket{w: w, intake: true})
		})
	}
	return got, batch.Error()
}

// acquire waits for one free intake token, then takes every other free one.
func (w *Worker) acquire(ctx context.Context) (int, bool) {
	select {
	case <-w.intake:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for {
		select {
		case <-w.intake:
			n++
		default:
			return n, true
		}
	}
}

// giveBack naks a delivery the stop keeps from being worked, with a delay
// of FetchWait. A pull request of this process may still be open then (it
// ends within FetchWait): a plain nak would send the event straight back
// into it, to be given back again, each bounce using up one of its
// MaxDeliver deliveries. Delayed, it goes to the next pull after that,
// another replica's or this worker's own after a restart.
func (w *Worker) giveBack(msg jetstream.Msg) {
	_ = msg.NakWithDelay(w.cfg.FetchWait)
}

// release gives back n intake tokens.
func (w *Worker) release(n int) {
	for range n {
		w.intake <- struct{}{}
	}
}

// process works one message to its end, and then each delivery of the same
// WABA that arrived meanwhile (a WABA's deliveries run one at a time in a
// process; the ones waiting hold nothing). tk is what fetch took for msg
// (nil: no intake token); it is given back as soon as a delivery's Graph
// work is done.
//
// A parked delivery taken up next takes no intake token, only its lease and
// a slot. It must not wait for a token: a delivery waiting for room to park
// holds one (enter), and the room it waits for is freed only here, by next,
// so with every token held by such waiters a taker waiting for a token
// would wait forever, and with it the whole intake. It needs none to be
// bounded: a process works at most one delivery per key, and a key is busy
// only from a delivery that came in with a token until its parked ones are
// done (TestManyDeliveriesOfOneWABAKeepFlowing).
func (w *Worker) process(intake, workCtx context.Context, msg jetstream.Msg, tk *ticket) {
	if tk == nil {
		tk = &ticket{w: w}
	}
	defer tk.free()
	m, ok := w.message(msg)
	if !ok {
		return
	}
	if intake.Err() != nil {
		// Arrived after the stop: give it back for another replica.
		w.giveBack(msg)
		return
	}
	key := w.h.Key(m)
	if key != "" && !w.enter(intake, key, msg, m) {
		return // parked: the delivery working its key takes it up
	}
	for {
		if intake.Err() != nil {
			w.giveBack(msg)
		} else {
			w.work(intake, workCtx, msg, m, key, tk)
		}
		if key == "" {
			return
		}
		next, ok := w.next(key)
		if !ok {
			return
		}
		next.stop()
		w.cfg.Observer.EventParked(time.Since(next.at))
		msg, m = next.msg, next.m
	}
}

// enter reports whether the delivery may be worked now: no other delivery of
// key is being worked in this process. Otherwise it parks it (kept in
// progress) behind that one, waiting while MaxParked are parked already.
func (w *Worker) enter(intake context.Context, key string, msg jetstream.Msg, m wabatype.Message) bool {
	w.mu.Lock()
	if _, busy := w.keys[key]; !busy {
		w.keys[key] = &keyQueue{}
		w.mu.Unlock()
		return true
	}
	w.mu.Unlock()
	stop := w.keepAlive(msg)
	select {
	case w.room <- struct{}{}:
	case <-intake.Done():
		stop()
		w.giveBack(msg)
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	q, busy := w.keys[key]
	if !busy { // the other one finished while this waited for room
		<-w.room
		stop()
		w.keys[key] = &keyQueue{}
		return true
	}
	q.parked = append(q.parked, parked{msg: msg, m: m, stop: stop, at: time.Now()})
	return false
}

// next takes the next delivery parked behind key, or marks key free.
func (w *Worker) next(key string) (parked, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.keys[key]
	if len(q.parked) == 0 {
		delete(w.keys, key)
		return parked{}, false
	}
	p := q.parked[0]
	q.parked = q.parked[1:]
	<-w.room
	return p, true
}

// ticket is what a delivery holds on its way through the process: one of
// the Concurrency+Prefetch intake tokens, from the pull until its Graph
// phase ends (not for a parked delivery taken up: see process), and for the
// Graph phase one of the Concurrency slots.
type ticket struct {
	w      *Worker
	intake bool
	slot   bool
}

// free gives back what the ticket holds, once: the pull loop may fetch the
// next message while this goroutine settles.
func (t *ticket) free() {
	if t.slot {
		t.slot = false
		t.w.slots <- struct{}{}
	}
	if t.intake {
		t.intake = false
		t.w.intake <- struct{}{}
	}
}

// takeSlot waits for a slot for the Graph phase; false when intake stopped
// first.
func (t *ticket) takeSlot(intake context.Context) bool {
	if t.slot {
		return true
	}
	select {
	case <-t.w.slots:
		t.slot = true
		return true
	case <-intake.Done():
		return false
	}
}

// work runs one delivery: take its WABA's lease, then a slot, handle it
// (holding the last delivery through a pause), free the slot, then settle:
// publish the result, wait for its PubAck, record it, and only then ack the
// input; release the lease. A delivery pulled ahead (Prefetch) waits for
// its slot with its lease taken; the settling overlaps the next delivery's
// Graph calls.
func (w *Worker) work(intake, workCtx context.Context, msg jetstream.Msg, m wabatype.Message, key string, tk *ticket) {
	stop := w.keepAlive(msg)
	defer stop()

	// The delivery's span: its context reaches every Graph call and the
	// result's headers.
	workCtx, span := tracing.StartEvent(workCtx, w.tracer, msg.Headers(), w.cfg.Subject, m)
	defer span.End()
	if key != "" && w.cfg.Locker != nil {
		ctx, release, err := w.lease(intake, workCtx, key)
		if err != nil {
			if intake.Err() != nil {
				w.giveBack(msg)
				return
			}
			delay := w.cfg.LeaseRetryDelay
			w.log.Info("WABA held elsewhere for too long: giving the event back", "waba_id", key,
				"waited", w.cfg.LeaseWait, "delay", delay, "error", err.Error())
			_ = msg.NakWithDelay(delay)
			return
		}
		defer release()
		workCtx = ctx
	}
	if !tk.takeSlot(intake) {
		w.giveBack(msg) // stopped while it waited for a slot
		return
	}
	w.cfg.Observer.EventStarted()
	start := time.Now()
	out := w.handle(intake, workCtx, m)
	w.cfg.Observer.EventFinished(out, time.Since(start))
	tracing.EndEvent(span, out)
	tk.free()
	w.settle(intake, workCtx, msg, out)
}

// lease takes key's lease, waiting at most LeaseWait (less when intake
// stops). The context it returns ends when the lease is lost; release
// gives the lease back.
func (w *Worker) lease(intake, workCtx context.Context, key string) (context.Context, func(), error) {
	wait, cancelWait := context.WithTimeout(intake, w.cfg.LeaseWait)
	ls, err := w.cfg.Locker.Acquire(wait, key)
	cancelWait()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(workCtx)
	stopWatch := ls.OnLost(func() {
		w.log.Warn("lease lost while working the WABA: stopping its work", "waba_id", key)
		cancel()
	})
	return ctx, func() {
		stopWatch()
		cancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(workCtx), 5*time.Second)
		defer rcancel()
		if err := ls.Release(rctx); err != nil {
			w.log.Warn("cannot release the WABA's lease; it frees itself within its TTL", "waba_id", key, "error", err.Error())
		}
	}, nil
}

// message reads the delivery's metadata; a message without it (not from
// JetStream) is terminated.
func (w *Worker) message(msg jetstream.Msg) (wabatype.Message, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("message without JetStream metadata, terminating it", "error", err.Error())
		_ = msg.TermWithReason("no JetStream metadata")
		return wabatype.Message{}, false
	}
	return wabatype.Message{
		Subject:    msg.Subject(),
		Data:       msg.Data(),
		MsgID:      msg.Headers().Get(jetstream.MsgIDHeader),
		StreamSeq:  meta.Sequence.Stream,
		Delivery:   int(meta.NumDelivered),
		MaxDeliver: w.cfg.MaxDeliver,
	}, true
}

// handle runs the handler on m. A Paused outcome shuts the gate. On the last
// delivery a nak would use up the event for a fault that is not its own, so
// the delivery is held until the gate opens and handled again; after
// MaxHolds holds through a breaker pause the consumer gives up on it. A
// stop (intake) ends the hold: the event is nak'd.
func (w *Worker) handle(intake, ctx context.Context, m wabatype.Message) wabatype.Outcome {
	for holds := 0; ; holds++ {
		out := w.h.Handle(ctx, m)
		if out.Verdict != wabatype.Paused {
			return out
		}
		w.pause(out.Reason, out.Err)
		if !m.Last() {
			return out
		}
		if out.Reason == wabatype.PauseBreaker && holds >= w.cfg.MaxHolds {
			return w.h.GiveUp(m, out.Err)
		}
		if !w.gate.waitOpen(intake) {
			return out
		}
	}
}

// ackAction is what is done to an input message once its outcome is known.
type ackAction int

const (
	actAck  ackAction = iota + 1 // after the result's PubAck
	actTerm                      // after the result's PubAck: never redeliver
	actNak                       // with a delay; no result
)

// decide maps an outcome to JetStream's vocabulary: whether a result is
// published first, and what is done to the input.
func decide(out wabatype.Outcome) (publish bool, act ackAction, delay time.Duration) {
	switch out.Verdict {
	case wabatype.Done:
		return true, actAck, 0
	case wabatype.Recorded:
		return false, actAck, 0
	case wabatype.Failed:
		if out.Terminate() {
			return true, actTerm, 0
		}
		return true, actAck, 0
	}
	// RetryLater and Paused (and anything unknown) give the message back.
	return false, actNak, max(out.Delay, 0)
}

// settle applies an outcome to the message. A nak after the stop (intake
// ended) waits at least FetchWait, as giveBack's do.
func (w *Worker) settle(intake, ctx context.Context, msg jetstream.Msg, out wabatype.Outcome) {
	publish, act, delay := decide(out)
	if publish {
		if err := w.publish(ctx, out, msg.Headers().Get(wabatype.HeaderReplayOf)); err != nil {
			// Stopping before the result got its PubAck: give the event back.
			act, delay = actNak, 0
		}
	}
	if act != actNak && w.cfg.Recorder != nil {
		w.cfg.Recorder.Record(ctx, out)
	}
	var err error
	switch act {
	case actAck:
		err = msg.Ack()
	case actTerm:
		err = msg.TermWithReason(textutil.Clip("invalid_event: "+out.Failed.Error.Message, 200))
	case actNak:
		if intake.Err() != nil {
			delay = max(delay, w.cfg.FetchWait)
		}
		err = msg.NakWithDelay(delay)
	}
	if err != nil {
		w.log.Warn("cannot settle the message; it will be redelivered after AckWait",
			"event_id", out.EventID, "waba_id", out.WabaID, "verdict", out.Verdict.String(), "error", err.Error())
	}
}

// publish sends the result and waits for the stream's ack, retrying until
// ctx ends. Its Nats-Msg-Id (wabatype.ResultMsgID) makes a republish after a
// crash a no-op.
func (w *Worker) publish(ctx context.Context, out wabatype.Outcome, replayOf string) error {
	var subject, id string
	var body []byte
	var err error
	if out.Verdict == wabatype.Done {
		subject, id = w.cfg.SucceededSubject, wabatype.ResultMsgID(out.Succeeded.EventID, replayOf, wabatype.OutcomeSucceeded)
		body, err = json.Marshal(out.Succeeded)
	} else {
		subject, id = w.cfg.FailedSubject, wabatype.ResultMsgID(out.Failed.EventID, replayOf, wabatype.OutcomeFailed)
		body, err = out.Failed.Encode()
	}
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	tracing.Inject(ctx, msg.Header) // traceparent: the delivery's span
	retry := retryForever()
	for {
		_, err := w.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(w.cfg.Stream))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
		w.log.Warn("cannot publish the result, retrying", "event_id", out.EventID, "waba_id", out.WabaID,
			"subject", subject, "msg_id", id, "error", err.Error())
		if err := timeutil.Sleep(ctx, retry.NextBackOff()); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
}

// keepAlive tells JetStream the message is still being worked, every third
// of AckWait, until the returned stop is called; after stop returns no
// InProgress is sent. It runs on a timer: no goroutine waits meanwhile.
func (w *Worker) keepAlive(msg jetstream.Msg) (stop func()) {
	k := &keeper{msg: msg, every: max(w.cfg.AckWait/3, 100*time.Millisecond)}
	k.mu.Lock()
	k.t = time.AfterFunc(k.every, k.tick)
	k.mu.Unlock()
	return k.stop
}

type keeper struct {
	msg     jetstream.Msg
	every   time.Duration
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (k *keeper) tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	_ = k.msg.InProgress()
	k.t.Reset(k.every)
}

func (k *keeper) stop() {
	k.mu.Lock()
	k.stopped = true
	k.t.Stop()
	k.mu.Unlock()
}

// pause shuts the gate, with one log line when the reason is new.
func (w *Worker) pause(r wabatype.PauseReason, cause error) {
	if !w.gate.pause(r) {
		return
	}
	attrs := []any{"reason", r.String()}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	switch r {
	case wabatype.PauseCredentials:
		w.log.Error("Graph rejected the access token: intake paused; probing until it works again (token files are re-read)", attrs...)
	default:
		w.log.Warn("circuit breaker open: intake paused until Graph answers again", attrs...)
	}
}

// supervise probes the handler while the gate is shut and opens it once a
// probe succeeds. While the handler says work is refused (the breaker is
// open) it waits, so the probe is the one call the half-open breaker lets
// through.
func (w *Worker) supervise(ctx context.Context) {
	for w.gate.waitPaused(ctx) {
		reason, since := w.gate.state()
		if r, recheck := w.h.Paused(); r != wabatype.NoPause {
			if timeutil.Sleep(ctx, recheck) != nil {
				return
			}
			continue
		}
		if reason == wabatype.PauseCredentials {
			if timeutil.Sleep(ctx, w.cfg.ProbeInterval) != nil {
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := w.h.Probe(pctx)
		cancel()
		switch {
		case r == wabatype.NoPause:
			if w.gate.resume() {
				w.log.Info("Graph answers and accepts the tokens: intake resumed", "paused_for", time.Since(since).Round(time.Millisecond))
			}
		case ctx.Err() != nil:
			return
		default:
			w.pause(r, err)
			if err != nil {
				w.log.Debug("probe failed", "error", err.Error())
			}
			if refused, _ := w.h.Paused(); refused == wabatype.NoPause && r != wabatype.PauseCredentials {
				// Not a failure that refuses work: pace the probes here.
				if timeutil.Sleep(ctx, w.cfg.ProbeInterval) != nil {
					return
				}
			}
		}
	}
}

// retryForever is the backoff of the consumer's own retries (binding,
// pulling, publishing a result): from 100ms to 5s, with no end.
func retryForever() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
}
