// Package worker is the JetStream side of waba-worker: it provisions the
// stream and durable pull consumer, pulls no more messages than it has free
// slots, runs each through a Handler, publishes the result with a
// Nats-Msg-Id and waits for its PubAck, and only then acks the input.
//
// It maps the handler's vocabulary to JetStream's: Done and Failed become a
// published result then Ack (TermWithReason for an invalid event),
// RetryLater becomes NakWithDelay, Paused shuts the intake gate until a probe
// of Graph succeeds. A stop (ctx) ends intake at once and lets work in
// flight finish within ShutdownTimeout; what cannot finish is nak'd.
package worker

import (
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

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/handlers"
	"github.com/wabaworker/waba-worker/internal/tracing"
)

// Handler works one delivery; *handlers.Assigner is one.
type Handler interface {
	Handle(ctx context.Context, m handlers.Message) handlers.Outcome
	// Probe checks that Graph answers and accepts the tokens.
	Probe(ctx context.Context) error
}

// Observer is told about each event, for metrics. Its methods must be quick.
type Observer interface {
	EventStarted()
	EventFinished(o handlers.Outcome, d time.Duration)
}

// Config configures a Worker.
type Config struct {
	Topology

	// Provision creates the stream if it is missing and creates or updates
	// the consumer. Defaults to false here; the command line's default is true.
	Provision bool
	// Concurrency is how many events are worked at once. Defaults to 16.
	Concurrency int
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
	// ProbeInterval is how often Graph is probed while the token is
	// rejected. Defaults to 5s.
	ProbeInterval time.Duration

	// Breaker, when set, is watched: while it is open no message is pulled.
	Breaker *breaker.Breaker
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Observer defaults to none.
	Observer Observer
	// TracerProvider gives each delivery a span, continuing the traceparent
	// of the input, whose context goes on to the result. Defaults to a no-op
	// provider (a traceparent still passes from input to result).
	TracerProvider trace.TracerProvider
}

func (c Config) withDefaults() Config {
	c.Topology = c.Topology.WithDefaults()
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 2 * time.Second
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
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
func (nopObserver) EventFinished(handlers.Outcome, time.Duration) {}

// Worker consumes waba.shared events. Create it with New and start it with Run.
type Worker struct {
	cfg    Config
	js     jetstream.JetStream
	h      Handler
	log    *slog.Logger
	tracer trace.Tracer
	gate   *gate
	bound  atomic.Bool
	free   chan struct{} // one token per free slot
	wg     sync.WaitGroup
}

// New returns a Worker that consumes through js and works events with h.
func New(js jetstream.JetStream, h Handler, cfg Config) (*Worker, error) {
	if js == nil || h == nil {
		return nil, errors.New("worker: a JetStream context and a Handler are required")
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, js: js, h: h, log: cfg.Logger, gate: newGate(),
		tracer: cfg.TracerProvider.Tracer(tracing.TracerName), free: make(chan struct{}, cfg.Concurrency)}
	for range cfg.Concurrency {
		w.free <- struct{}{}
	}
	return w, nil
}

// Status is what readiness needs to know.
type Status struct {
	ConsumerBound bool
	Paused        handlers.PauseReason // NoPause when taking events
	PausedSince   time.Time
	InFlight      int
}

// Status reports the worker's state.
func (w *Worker) Status() Status {
	r, since := w.gate.state()
	return Status{ConsumerBound: w.bound.Load(), Paused: r, PausedSince: since,
		InFlight: w.cfg.Concurrency - len(w.free)}
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
// only for slots that are free, so together they never ask for more than
// Concurrency; a second one lets a freed slot be refilled while the first
// request is still waiting, instead of after it.
const pullers = 2

// consume is the intake loop: bind the consumer, then pull, while the gate
// is open, as many messages as there are free slots. When the consumer is
// gone (deleted, or the server lost its state) it binds again.
func (w *Worker) consume(ctx, workCtx context.Context) {
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
	for ctx.Err() == nil {
		cons, err := w.bind(ctx)
		if err != nil {
			w.log.Warn("cannot bind the consumer, retrying", "stream", w.cfg.Stream, "consumer", w.cfg.Consumer, "error", err.Error())
			sleep(ctx, retry.NextBackOff())
			continue
		}
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

// pull issues pull requests for free slots until ctx ends (nil) or the
// consumer is gone (its error). The messages it gets see intake, the
// worker's stop signal, and work under workCtx.
func (w *Worker) pull(ctx, intake, workCtx context.Context, cons jetstream.Consumer) error {
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
	for ctx.Err() == nil {
		if w.cfg.Breaker != nil && w.cfg.Breaker.State() == breaker.Open {
			w.pause(handlers.PauseBreaker, breaker.ErrOpen)
		}
		if !w.gate.waitOpen(ctx) {
			return nil
		}
		n, ok := w.acquire(ctx)
		if !ok {
			return nil
		}
		if reason, _ := w.gate.state(); reason != handlers.NoPause {
			w.release(n) // paused while waiting for a slot
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
			sleep(ctx, retry.NextBackOff())
		}
	}
	return nil
}

// bind provisions (when configured) and returns the consumer.
func (w *Worker) bind(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !w.cfg.Provision {
		return w.js.Consumer(ctx, w.cfg.Stream, w.cfg.Consumer)
	}
	if _, err := EnsureStream(ctx, w.js, w.cfg.Topology); err != nil {
		return nil, err
	}
	return w.js.CreateOrUpdateConsumer(ctx, w.cfg.Stream,
		w.cfg.Topology.ConsumerConfig(w.cfg.Concurrency, w.cfg.MaxDeliver, w.cfg.AckWait))
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

// fetch sends one pull request for n messages and starts each that arrives.
func (w *Worker) fetch(intake, workCtx context.Context, cons jetstream.Consumer, n int) (int, error) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(w.cfg.FetchWait))
	if err != nil {
		return 0, err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer w.release(1)
			w.process(intake, workCtx, msg)
		}()
	}
	return got, batch.Error()
}

// acquire waits for one free slot, then takes every other free one.
func (w *Worker) acquire(ctx context.Context) (int, bool) {
	select {
	case <-w.free:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for n < w.cfg.Concurrency {
		select {
		case <-w.free:
			n++
		default:
			return n, true
		}
	}
	return n, true
}

func (w *Worker) release(n int) {
	for range n {
		w.free <- struct{}{}
	}
}

// process works one message to its end: a published result and an ack, or
// a nak.
func (w *Worker) process(ctx, workCtx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("message without JetStream metadata, terminating it", "error", err.Error())
		_ = msg.TermWithReason("no JetStream metadata")
		return
	}
	m := handlers.Message{
		Data:       msg.Data(),
		MsgID:      msg.Headers().Get(jetstream.MsgIDHeader),
		StreamSeq:  meta.Sequence.Stream,
		Delivery:   int(meta.NumDelivered),
		MaxDeliver: w.cfg.MaxDeliver,
	}
	if ctx.Err() != nil {
		// Arrived after the stop: give it back for another replica.
		_ = msg.Nak()
		return
	}
	stop := w.keepAlive(msg)
	defer stop()

	// The delivery's span: its context reaches every Graph call and the
	// result's headers.
	workCtx, span := tracing.StartEvent(workCtx, w.tracer, msg.Headers(), w.cfg.Subject, m)
	defer span.End()
	w.cfg.Observer.EventStarted()
	start := time.Now()
	for {
		out := w.h.Handle(workCtx, m)
		if out.Verdict == handlers.Paused {
			w.pause(out.Reason, out.Err)
			// On the last delivery a nak would use up the event for a
			// fault that is not its own: hold it until the pause ends.
			if m.MaxDeliver > 0 && m.Delivery >= m.MaxDeliver && w.gate.waitOpen(ctx) {
				m.Held++
				continue
			}
		}
		w.cfg.Observer.EventFinished(out, time.Since(start))
		tracing.EndEvent(span, out)
		w.settle(workCtx, msg, out)
		return
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
func decide(out handlers.Outcome) (publish bool, act ackAction, delay time.Duration) {
	switch out.Verdict {
	case handlers.Done:
		return true, actAck, 0
	case handlers.Failed:
		if out.Terminate() {
			return true, actTerm, 0
		}
		return true, actAck, 0
	}
	// RetryLater and Paused (and anything unknown) give the message back.
	return false, actNak, max(out.Delay, 0)
}

// settle applies an outcome to the message.
func (w *Worker) settle(ctx context.Context, msg jetstream.Msg, out handlers.Outcome) {
	publish, act, delay := decide(out)
	if publish {
		if err := w.publish(ctx, out, msg.Headers().Get(ReplayOfHeader)); err != nil {
			// Stopping before the result got its PubAck: give the event back.
			act, delay = actNak, 0
		}
	}
	var err error
	switch act {
	case actAck:
		err = msg.Ack()
	case actTerm:
		err = msg.TermWithReason(clip("invalid_event: "+out.Failed.Error.Message, 200))
	case actNak:
		err = msg.NakWithDelay(delay)
	}
	if err != nil {
		w.log.Warn("cannot settle the message; it will be redelivered after AckWait",
			"event_id", out.EventID, "waba_id", out.WabaID, "verdict", out.Verdict.String(), "error", err.Error())
	}
}

// publish sends the result and waits for the stream's ack, retrying until
// ctx ends. Nats-Msg-Id makes a republish after a crash a no-op.
//
// A replayed input (header Replay-Of: <failed-seq>) gets results with ids of
// their own, <event_id>.replay.<seq>.<outcome>: within the dedupe window the
// plain id would drop the replay's result as a duplicate of the original's.
func (w *Worker) publish(ctx context.Context, out handlers.Outcome, replayOf string) error {
	var subject, id string
	var body []byte
	var err error
	if out.Verdict == handlers.Done {
		subject, id = w.cfg.SucceededSubject, resultMsgID(out.Succeeded.EventID, replayOf, "succeeded")
		body, err = json.Marshal(out.Succeeded)
	} else {
		subject, id = w.cfg.FailedSubject, resultMsgID(out.Failed.EventID, replayOf, "failed")
		body, err = out.Failed.Encode()
	}
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	tracing.Inject(ctx, msg.Header) // traceparent: the delivery's span
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
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
		if err := sleep(ctx, retry.NextBackOff()); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
}

// ReplayOfHeader marks an input republished by `worker replay`; its value is
// the stream sequence of the failed event replayed.
const ReplayOfHeader = "Replay-Of"

// resultMsgID is the Nats-Msg-Id of a result.
func resultMsgID(eventID, replayOf, outcome string) string {
	if replayOf != "" && events.ValidID(replayOf) {
		return eventID + ".replay." + replayOf + "." + outcome
	}
	return eventID + "." + outcome
}

// keepAlive tells JetStream the message is still being worked, every third
// of AckWait, until the returned stop is called.
func (w *Worker) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(w.cfg.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// pause shuts the gate, with one log line when the reason is new.
func (w *Worker) pause(r handlers.PauseReason, cause error) {
	if !w.gate.pause(r) {
		return
	}
	attrs := []any{"reason", r.String()}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	switch r {
	case handlers.PauseCredentials:
		w.log.Error("Graph rejected the access token: intake paused; probing until it works again (token files are re-read)", attrs...)
	default:
		w.log.Warn("circuit breaker open: intake paused until Graph answers again", attrs...)
	}
}

// supervise probes Graph while the gate is shut and opens it once a probe
// succeeds. While the breaker is open it waits for it to half-open, so the
// probe is the one call the half-open breaker lets through.
func (w *Worker) supervise(ctx context.Context) {
	for w.gate.waitPaused(ctx) {
		reason, since := w.gate.state()
		if reason == handlers.PauseBreaker && w.cfg.Breaker != nil && w.cfg.Breaker.State() == breaker.Open {
			poll := min(max(w.cfg.Breaker.OpenTimeout()/20, 10*time.Millisecond), time.Second)
			if sleep(ctx, poll) != nil {
				return
			}
			continue
		}
		if reason == handlers.PauseCredentials || w.cfg.Breaker == nil {
			if sleep(ctx, w.cfg.ProbeInterval) != nil {
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := w.h.Probe(pctx)
		cancel()
		switch {
		case err == nil:
			if w.gate.resume() {
				w.log.Info("Graph answers and accepts the tokens: intake resumed", "paused_for", time.Since(since).Round(time.Millisecond))
			}
		case ctx.Err() != nil:
			return
		case graph.Classify(err) == graph.ClassCredentials:
			w.pause(handlers.PauseCredentials, err)
		default:
			w.pause(handlers.PauseBreaker, err)
			w.log.Debug("probe failed", "error", err.Error())
			if w.cfg.Breaker != nil && w.cfg.Breaker.State() != breaker.Open {
				// Not a failure the breaker counts: pace the probes ourselves.
				if sleep(ctx, w.cfg.ProbeInterval) != nil {
					return
				}
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
