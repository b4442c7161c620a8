// Package app wires the worker together from a config.Config: the Graph
// client and its breaker, the assigner, the NATS connection and the
// JetStream worker, and the HTTP endpoints. cmd/worker calls Run; so do the
// end-to-end tests.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/handlers"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/metrics"
	"github.com/wabaworker/waba-worker/internal/tracing"
	"github.com/wabaworker/waba-worker/internal/version"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// Options are the parts of a run that do not come from the configuration.
type Options struct {
	Logger *slog.Logger // required

	// HTTPClient is used for Graph calls. Defaults to a client with sane
	// transport limits.
	HTTPClient *http.Client
	// ProbeInterval is how often Graph is probed while a token is rejected.
	// Defaults to worker.DefaultConfig's.
	ProbeInterval time.Duration
	// OnStart, if set, is called with the running worker once it is built
	// (tests use it to watch its status).
	OnStart func(*worker.Worker)
	// SweepFirstDelay, if positive, is exactly how long after the KV
	// buckets are bound the first discovery sweep's turn comes (`worker
	// dev` passes 2s, so its demo shows the sweep at a known moment).
	// Defaults to a random time up to min(SWEEP_INTERVAL/10, 30s), so that
	// replicas started together do not all try at once.
	SweepFirstDelay time.Duration
	// SweepAfter, if not nil, holds the first discovery sweep until it is
	// closed; SweepFirstDelay then counts from that moment (`worker dev`
	// closes it once its demo's own events have their results, so that the
	// first sweep does not emit the WABAs those events are onboarding).
	SweepAfter <-chan struct{}
	// OnHTTP, if set, is called with the address the HTTP endpoints listen
	// on, before OnStart (tests listen on port 0 and learn the port).
	OnHTTP func(net.Addr)

	// Getenv reads the OpenTelemetry variables (OTEL_EXPORTER_OTLP_ENDPOINT
	// and the others internal/tracing names). Defaults to none set: no
	// trace is exported.
	Getenv func(string) string
	// TracerProvider, if set, is used instead of the one Getenv describes
	// (tests pass one with an in-memory exporter).
	TracerProvider trace.TracerProvider
}

// Run runs the worker until ctx ends, then shuts down gracefully: intake
// stops, work in flight finishes within cfg.ShutdownTimeout, the NATS
// connection drains. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	log := opts.Logger
	tp, err := tracing.Setup(tracing.Config{Getenv: opts.Getenv, Provider: opts.TracerProvider,
		ServiceVersion: version.Get().Version, Logger: log})
	if err != nil {
		return err
	}
	defer shutdownTracing(tp, log)
	mx := metrics.New()
	hc := opts.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient(cfg.Concurrency)
	}
	if tp.Exporting() || opts.TracerProvider != nil {
		// A span per Graph call; without a tracer that records, the
		// instrumentation would only cost CPU on every call.
		hc = tracing.WrapClient(hc, tp)
	}
	client, err := NewGraphClient(cfg, hc, log, mx.GraphCall)
	if err != nil {
		return err
	}
	br := breaker.New(breaker.Settings{
		OpenTimeout: cfg.BreakerOpenTimeout,
		OnChange: func(from, to breaker.State) {
			mx.BreakerChanged(from, to)
			log.Info("circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	assigner, err := handlers.NewAssigner(handlers.Config{
		Graph:           client,
		Breaker:         br,
		Logger:          log,
		BusinessID:      cfg.BusinessID,
		SystemUserID:    cfg.SystemUserID,
		SystemUserName:  cfg.SystemUserName,
		Tasks:           cfg.AssignTasks,
		RetryInitial:    cfg.RetryInitial,
		RetryMax:        cfg.RetryMax,
		RetryMaxElapsed: cfg.RetryMaxElapsed,
	})
	if err != nil {
		return err
	}

	nc, err := Connect(cfg.NATSURL, cfg.NATSCreds, "waba-worker", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	kv := newBuckets(js, cfg, log, mx)
	w, err := worker.New(js, assigner, worker.Config{
		Topology: wabatype.Topology{
			Stream:           cfg.Stream,
			Consumer:         cfg.Consumer,
			Subject:          cfg.Subject,
			SucceededSubject: cfg.SucceededSubject,
			FailedSubject:    cfg.FailedSubject,
		},
		BindOnly:        !cfg.Provision,
		Concurrency:     cfg.Concurrency,
		MaxDeliver:      cfg.MaxDeliver,
		AckWait:         cfg.AckWait,
		ShutdownTimeout: cfg.ShutdownTimeout,
		ProbeInterval:   opts.ProbeInterval,
		Locker:          kv,
		// A holder works one delivery for at most its retry budget plus a
		// few Graph timeouts: waiting that long means something is wrong.
		LeaseWait:       cfg.RetryMaxElapsed + 3*cfg.GraphTimeout,
		LeaseRetryDelay: cfg.LeaseTTL,
		Recorder:        kv,
		Prepare:         kv.prepare,
		Logger:          log,
		Observer:        mx,
		TracerProvider:  tp,
	})
	if err != nil {
		return err
	}
	ready := health.Sources{NATS: nc, Worker: w, Breaker: br, Buckets: kv.Problem, Stopping: func() bool { return ctx.Err() != nil }}
	mx.Watch(metrics.Sources{
		Breaker:       br.State,
		Paused:        func() wabatype.PauseReason { return w.Status().Paused },
		NATSConnected: nc.IsConnected,
		Ready:         func() bool { return ready.Check().Ready },
		Concurrency:   cfg.Concurrency,
		Consumer:      consumerState(nc, js, cfg.Stream, cfg.Consumer),
	})
	if cfg.HTTPAddr != "" {
		srv, err := health.Listen(cfg.HTTPAddr, health.Handler(ready.Check, mx.Handler()), log)
		if err != nil {
			return fmt.Errorf("HTTP_ADDR: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("HTTP endpoints listening", "addr", srv.Addr().String())
		if opts.OnHTTP != nil {
			opts.OnHTTP(srv.Addr())
		}
	}
	if opts.OnStart != nil {
		opts.OnStart(w)
	}
	log.Info("waba-worker starting", "nats_url", logging.RedactURLs(cfg.NATSURL), "stream", cfg.Stream,
		"consumer", cfg.Consumer, "graph", cfg.GraphBaseURL, "graph_version", cfg.GraphAPIVersion,
		"business_id", cfg.BusinessID, "concurrency", cfg.Concurrency)
	// After the HTTP endpoints are up: /healthz answers while Graph is asked.
	if err := checkSystemUser(ctx, assigner, log); err != nil {
		return err
	}

	mx.SweepInterval(cfg.SweepInterval)
	var sweeps sync.WaitGroup
	if cfg.SweepInterval > 0 {
		lister := SweepLister{Client: client, Breaker: br, Paused: func() wabatype.PauseReason { return w.Status().Paused }}
		sweeps.Go(func() { runSweeps(ctx, cfg, opts.SweepAfter, opts.SweepFirstDelay, lister, js, kv, mx, log) })
	}
	defer sweeps.Wait()
	if err := w.Run(ctx); err != nil {
		return err
	}
	sweeps.Wait() // before the drain: a sweep publishing stops with ctx
	// Results are published synchronously, so draining only flushes acks.
	if err := Drain(nc, 10*time.Second); err != nil {
		log.Warn("NATS drain", "error", err.Error())
	}
	log.Info("waba-worker stopped")
	return nil
}

// checkSystemUser resolves the system user at start. A name that Graph says
// does not exist is a configuration error; Graph being unreachable is not
// (the worker starts and resolves it with the first event).
func checkSystemUser(ctx context.Context, a *handlers.Assigner, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	id, err := a.CheckSystemUser(ctx)
	var unknown *handlers.UnknownSystemUserError
	switch {
	case errors.As(err, &unknown):
		return &config.Error{Var: "SYSTEM_USER_NAME", Msg: unknown.Error()}
	case err != nil:
		log.Warn("cannot resolve the system user at start; will retry with the first event", "error", err.Error())
	default:
		log.Info("system user", "system_user_id", id)
	}
	return nil
}

// NewGraphClient builds the Graph client of cfg. Its observer logs, once, a
// version drift (Meta serving another version than requested), and passes
// each call on to observers (metrics).
func NewGraphClient(cfg config.Config, hc *http.Client, log *slog.Logger, observers ...func(graph.Call)) (*graph.Client, error) {
	if hc == nil {
		hc = defaultHTTPClient(cfg.Concurrency)
	}
	var drift sync.Once
	opts := []graph.Option{
		graph.WithBaseURL(cfg.GraphBaseURL),
		graph.WithVersion(cfg.GraphAPIVersion),
		graph.WithTimeout(cfg.GraphTimeout),
		graph.WithHTTPClient(hc),
		graph.WithToken(tokenSource(cfg.AccessToken)),
		graph.WithObserver(func(c graph.Call) {
			if c.VersionDrift() {
				drift.Do(func() {
					log.Warn("Graph served another API version than requested: the requested one may have expired",
						"requested", c.RequestedVersion, "served", c.ServedVersion)
				})
			}
			for _, o := range observers {
				o(c)
			}
		}),
	}
	if cfg.AdminAccessToken.IsSet() {
		opts = append(opts, graph.WithAdminToken(tokenSource(cfg.AdminAccessToken)))
	}
	if cfg.AppSecret.IsSet() {
		opts = append(opts, graph.WithAppSecret(tokenSource(cfg.AppSecret)))
	}
	c, err := graph.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("graph client: %w", err)
	}
	return c, nil
}

// defaultHTTPClient is the Graph client's HTTP client unless Options says
// otherwise. It keeps an idle connection for every event in flight: with
// fewer, an HTTP/1.1 peer (a proxy, the emulator) costs a new connection
// for most calls once concurrency passes the pool (measured at 512 in
// flight: 3,178 new connections for 18,000 calls, against 377 at 256).
func defaultHTTPClient(concurrency int) *http.Client {
	idle := max(256, concurrency)
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
}

// shutdownTracing flushes the spans not yet exported.
func shutdownTracing(tp *tracing.Provider, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		log.Warn("trace export at shutdown", "error", err.Error())
	}
}

// consumerState polls the durable consumer's backlog for the metrics (one
// JetStream API request), skipped while NATS is down.
func consumerState(nc *nats.Conn, js jetstream.JetStream, stream, consumer string) func(context.Context) (metrics.ConsumerState, error) {
	return func(ctx context.Context) (metrics.ConsumerState, error) {
		if !nc.IsConnected() {
			return metrics.ConsumerState{}, nats.ErrConnectionClosed
		}
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return metrics.ConsumerState{}, err
		}
		info := c.CachedInfo()
		return metrics.ConsumerState{Pending: info.NumPending, AckPending: uint64(info.NumAckPending)}, nil
	}
}

func tokenSource(s config.Secret) graph.TokenSource {
	if s.File != "" {
		return graph.FileToken(s.File)
	}
	return graph.StaticToken(s.Value)
}

// Connect opens a NATS connection that keeps trying: at start (the broker
// may come up after the worker) and after every disconnect.
func Connect(urls, creds, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS reconnected", "server", logging.RedactURLs(c.ConnectedUrlRedacted()))
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("NATS connected", "server", logging.RedactURLs(c.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("NATS error", "error", err.Error())
		}),
	}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: connect: %w", err)
	}
	if !nc.IsConnected() {
		// The first attempt failed; without this line nothing would say so
		// until a JetStream request timed out.
		log.Warn(fmt.Sprintf("NATS at %s is unreachable: still trying (the worker starts once it answers)", logging.RedactURLs(urls)))
	}
	return nc, nil
}

// Drain drains nc and waits, at most timeout, for it to close.
func Drain(nc *nats.Conn, timeout time.Duration) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return err
	}
	select {
	case <-closed:
		return nil
	case <-time.After(timeout):
		return errors.New("drain timed out")
	}
}
