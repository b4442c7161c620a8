// Package gateway wires `worker webhook` together from a
// config.WebhookConfig, as internal/app does for `worker run`: the NATS
// connection, the streams (provisioned when asked), the webhook.Handler on
// WEBHOOK_ADDR, and /healthz, /readyz and /metrics on HTTP_ADDR. cmd/worker
// calls Run through internal/cli; so do the end-to-end tests.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/webhook"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// ShutdownTimeout bounds the wait for requests in flight at a stop: longer
// than a request's wait for its PubAcks (webhook.DefaultPublishTimeout).
const ShutdownTimeout = webhook.DefaultPublishTimeout + 5*time.Second

// Readiness check names of /readyz.
const (
	CheckNATS          = "nats"
	CheckWebhookStream = "webhook_stream" // WEBHOOK_STREAM exists
	CheckEventsStream  = "events_stream"  // WORKER_STREAM exists and captures waba.shared and waba.unshared
	CheckIntake        = "intake"         // "stopping" once a shutdown has begun
)

// Options are the parts of a run that do not come from the configuration.
type Options struct {
	Logger *slog.Logger // required
	// OnListen, if set, is called with the addresses of the webhook listener
	// and of the HTTP endpoints (nil when disabled) once both listen (tests
	// listen on port 0 and learn the ports).
	OnListen func(webhookAddr, httpAddr net.Addr)
	// StreamCheckInterval is how often the streams are looked at (and
	// provisioned when missing). Defaults to 5s; 1s until both are found.
	StreamCheckInterval time.Duration
	// PublishTimeout bounds a request's wait for its PubAcks. Defaults to
	// webhook.DefaultPublishTimeout (tests of outages shorten it).
	PublishTimeout time.Duration
	// Observer, if set, also gets the gateway's metrics (tests use it to
	// wait for requests instead of polling).
	Observer webhook.Observer
}

// Run runs the gateway until ctx ends, then stops accepting, finishes the
// requests in flight within ShutdownTimeout, drains NATS and returns nil.
func Run(ctx context.Context, cfg config.WebhookConfig, opts Options) error {
	log := opts.Logger
	if log == nil {
		return errors.New("gateway: Options.Logger is required")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom := webhook.NewPrometheus()
	reg.MustRegister(prom)

	nc, err := app.Connect(cfg.NATSURL, cfg.NATSCreds, "waba-worker webhook", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	warnMaxPayload(nc.MaxPayload(), log)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	h, err := webhook.New(webhook.Config{
		JetStream:      js,
		AppSecret:      secretSource(cfg.AppSecret),
		VerifyToken:    secretSource(cfg.VerifyToken),
		Path:           cfg.Path,
		Stream:         cfg.Stream,
		EventsStream:   cfg.EventsStream,
		SharedSubject:  cfg.SharedSubject,
		Logger:         log,
		Observer:       observers{prom, opts.Observer},
		PublishTimeout: opts.PublishTimeout,
	})
	if err != nil {
		return err
	}

	st := &streams{js: js, cfg: cfg, log: log}
	var stopping atomic.Bool
	ready := func() health.Report {
		checks := map[string]string{CheckNATS: health.OK, CheckIntake: health.OK}
		if s := nc.Status(); s != nats.CONNECTED {
			checks[CheckNATS] = strings.ToLower(s.String())
		}
		checks[CheckWebhookStream], checks[CheckEventsStream] = st.states()
		if stopping.Load() {
			checks[CheckIntake] = "stopping"
		}
		r := health.Report{Ready: true, Checks: checks}
		for _, v := range checks {
			if v != health.OK {
				r.Ready = false
			}
		}
		return r
	}
	reg.MustRegister(Gauges(func() bool { return ready().Ready }, nc.IsConnected)...)

	checkCtx, stopChecks := context.WithCancel(context.Background())
	var checks sync.WaitGroup
	checks.Go(func() { st.watch(checkCtx, opts.StreamCheckInterval) })
	defer func() { stopChecks(); checks.Wait() }()

	var hsrv *health.Server
	if cfg.HTTPAddr != "" {
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
		if hsrv, err = health.Listen(cfg.HTTPAddr, health.Handler(ready, metrics), log); err != nil {
			return fmt.Errorf("HTTP_ADDR: %w", err)
		}
		defer shutdown(hsrv, 5*time.Second)
		log.Info("HTTP endpoints listening", "addr", hsrv.Addr().String())
	}
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "waba_webhook_requests_in_flight",
		Help: "Webhook gateway requests being served (headers read, not yet answered); a stop waits for them.",
	})
	reg.MustRegister(inFlight)
	wsrv, err := health.Listen(cfg.Addr, promhttp.InstrumentHandlerInFlight(inFlight, h), log)
	if err != nil {
		return fmt.Errorf("WEBHOOK_ADDR: %w", err)
	}
	log.Info("webhook gateway listening", "addr", wsrv.Addr().String(), "path", cfg.Path,
		"nats_url", logging.RedactURLs(cfg.NATSURL), "stream", cfg.Stream, "events_stream", cfg.EventsStream)
	if opts.OnListen != nil {
		var ha net.Addr
		if hsrv != nil {
			ha = hsrv.Addr()
		}
		opts.OnListen(wsrv.Addr(), ha)
	}

	<-ctx.Done()
	stopping.Store(true)
	log.Info("webhook gateway stopping: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := wsrv.Shutdown(sctx); err != nil {
		log.Warn("webhook requests still in flight at the shutdown bound were cut", "error", err.Error())
	}
	stopChecks()
	checks.Wait()
	if err := app.Drain(nc, 10*time.Second); err != nil {
		log.Warn("NATS drain", "error", err.Error())
	}
	log.Info("webhook gateway stopped")
	return nil
}

// Gauges are the gateway's metrics read at scrape time:
// waba_webhook_ready (1 when /readyz answers 200) and waba_nats_connected.
func Gauges(ready, natsConnected func() bool) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waba_webhook_ready", Help: "1 when /readyz of the webhook gateway answers 200.",
		}, func() float64 { return bool01(ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waba_nats_connected", Help: "1 while the NATS connection is up.",
		}, func() float64 { return bool01(natsConnected()) }),
	}
}

// secretSource reads a secret given as a value, or from a file re-read when
// it changes (graph.FileToken), on every call.
func secretSource(s config.Secret) func() (string, error) {
	var src graph.TokenSource = graph.StaticToken(s.Value)
	if s.File != "" {
		src = graph.FileToken(s.File)
	}
	return func() (string, error) { return src.Token(context.Background()) }
}

// streams looks at (and, with Provision, creates) the two streams the
// gateway publishes to, and remembers what it found for /readyz.
type streams struct {
	js  jetstream.JetStream
	cfg config.WebhookConfig
	log *slog.Logger

	mu               sync.Mutex
	webhook, events  string // readiness states; "" before the first look
	warnedW, warnedE string // the last state logged, to log each change once
	warnOnce         onceMap
}

func (s *streams) states() (webhookState, eventsState string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cmp.Or(s.webhook, "unknown"), cmp.Or(s.events, "unknown")
}

// watch looks at the streams every interval (every second until both are
// fine) until ctx ends.
func (s *streams) watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for {
		ok := s.check(ctx)
		wait := interval
		if !ok {
			wait = min(interval, time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// check looks at both streams once and reports whether both are usable.
func (s *streams) check(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w := s.checkWebhook(ctx)
	e := s.checkEvents(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook, s.events = w, e
	if w != s.warnedW {
		s.report("WEBHOOK_STREAM", s.cfg.Stream, w)
		s.warnedW = w
	}
	if e != s.warnedE {
		s.report("WORKER_STREAM", s.cfg.EventsStream, e)
		s.warnedE = e
	}
	return w == health.OK && e == health.OK
}

func (s *streams) report(env, name, state string) {
	switch state {
	case health.OK:
		s.log.Info("stream ready", "stream", name)
	case "unreachable":
		// NATS is down: the connection's own lines say so.
	default:
		if strings.HasPrefix(state, "lacks subject") {
			s.log.Warn("stream does not capture a subject the gateway publishes: those deliveries are answered 503 until it does; the gateway never changes an existing stream",
				"stream", name, "variable", env, "state", state)
			return
		}
		s.log.Warn("stream not usable: deliveries are answered 503 until it is", "stream", name, "variable", env, "state", state)
	}
}

func (s *streams) checkWebhook(ctx context.Context) string {
	stream, err := s.js.Stream(ctx, s.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && s.cfg.Provision {
		stream, err = s.js.CreateStream(ctx, webhook.StreamConfig(s.cfg.Stream, s.cfg.MaxAge, 1))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = s.js.Stream(ctx, s.cfg.Stream) // another replica won the race
		}
		if err == nil {
			s.log.Info("stream created", "stream", s.cfg.Stream, "max_age", s.cfg.MaxAge.String())
		}
	}
	if err != nil {
		return streamState(err)
	}
	cfg := stream.CachedInfo().Config
	s.warnWeak("WEBHOOK_STREAM", cfg)
	// Any change's subject: meta.webhook.<object>.<field>.
	probe := webhook.DefaultSubjectPrefix + ".whatsapp_business_account.account_update"
	if !slices.ContainsFunc(cfg.Subjects, func(p string) bool { return subjectMatches(p, probe) }) {
		return "lacks subject " + webhook.DefaultSubjectPrefix + ".>"
	}
	return health.OK
}

// warnWeak says once per stream, in one line, when an existing stream
// would keep Meta's redeliveries or survive a restart less well than the
// SPEC asks: a duplicate window under 10 minutes, or memory storage. It
// is not changed, and stays usable.
func (s *streams) warnWeak(env string, cfg jetstream.StreamConfig) {
	var why []string
	if cfg.Duplicates < 10*time.Minute {
		why = append(why, fmt.Sprintf("duplicate window %s (under 10m: a redelivery is stored twice)", cfg.Duplicates))
	}
	if cfg.Storage == jetstream.MemoryStorage {
		why = append(why, "memory storage (a NATS restart loses what was acknowledged to Meta)")
	}
	if len(why) == 0 {
		return
	}
	s.warnOnce.Do(env, func() {
		s.log.Warn("stream "+cfg.Name+" is weaker than the gateway needs; it is not changed: "+strings.Join(why, "; "), "stream", cfg.Name, "variable", env)
	})
}

// onceMap runs a function once per key.
type onceMap struct {
	mu   sync.Mutex
	done map[string]bool
}

func (o *onceMap) Do(key string, f func()) {
	o.mu.Lock()
	if o.done == nil {
		o.done = map[string]bool{}
	}
	first := !o.done[key]
	o.done[key] = true
	o.mu.Unlock()
	if first {
		f()
	}
}

// checkEvents finds the WABA stream (creating it with the worker's own
// configuration when missing and provisioning) and checks that it captures
// the subjects the gateway publishes; an existing stream is never changed.
func (s *streams) checkEvents(ctx context.Context) string {
	stream, err := s.js.Stream(ctx, s.cfg.EventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && s.cfg.Provision {
		topo := wabatype.Topology{Stream: s.cfg.EventsStream, Subject: s.cfg.SharedSubject}.WithDefaults()
		if stream, err = worker.EnsureStream(ctx, s.js, topo); err == nil {
			s.log.Info("stream created", "stream", s.cfg.EventsStream)
		}
	}
	if err != nil {
		return streamState(err)
	}
	s.warnWeak("WORKER_STREAM", stream.CachedInfo().Config)
	subjects := stream.CachedInfo().Config.Subjects
	var lacks []string
	for _, want := range []string{s.cfg.SharedSubject, webhook.DefaultUnsharedSubject} {
		if !slices.ContainsFunc(subjects, func(p string) bool { return subjectMatches(p, want) }) {
			lacks = append(lacks, want)
		}
	}
	if len(lacks) > 0 {
		return "lacks subject " + strings.Join(lacks, ", ")
	}
	return health.OK
}

func streamState(err error) string {
	switch {
	case err == nil:
		return health.OK
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return "missing"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return "unreachable"
	}
	return "error"
}

// subjectMatches reports whether the literal subject matches pattern, which
// may hold * and > wildcards.
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

func shutdown(s *health.Server, bound time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	_ = s.Shutdown(ctx)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observers passes the gateway's metrics to the Prometheus collector and to
// an optional second observer.
type observers struct {
	prom  *webhook.Prometheus
	extra webhook.Observer
}

func (o observers) Request(outcome string, d time.Duration) {
	o.prom.Request(outcome, d)
	if o.extra != nil {
		o.extra.Request(outcome, d)
	}
}

func (o observers) Change(field, event, result string) {
	o.prom.Change(field, event, result)
	if o.extra != nil {
		o.extra.Change(field, event, result)
	}
}

func (o observers) SignatureFailure(reason string) {
	o.prom.SignatureFailure(reason)
	if o.extra != nil {
		o.extra.SignatureFailure(reason)
	}
}

func (o observers) Published(messages int, d time.Duration, err error) {
	o.prom.Published(messages, d, err)
	if o.extra != nil {
		o.extra.Published(messages, d, err)
	}
}

// warnMaxPayload says, once at start, when the server's max_payload (0:
// not known yet) is under what one change of the largest body the gateway
// accepts may need: such a delivery is answered 503, never stored, and
// Meta gives up on it after its retries.
func warnMaxPayload(maxPayload int64, log *slog.Logger) {
	if maxPayload <= 0 || maxPayload >= NeededMaxPayload {
		return
	}
	log.Warn("the NATS server's max_payload is under what a webhook delivery may need: a delivery with a change over it is answered 503 and never stored; set max_payload to 8MB in the server's configuration",
		"max_payload", maxPayload, "needed", int64(NeededMaxPayload), "max_body", int64(webhook.MaxBody))
}

// NeededMaxPayload is the NATS max_payload the gateway asks of the server:
// a change of a body of webhook.MaxBody, published as one message with its
// envelope, fits in it.
const NeededMaxPayload = 2 * webhook.MaxBody
