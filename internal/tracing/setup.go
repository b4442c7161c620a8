package tracing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is the service.name of exported spans unless
// OTEL_SERVICE_NAME says otherwise.
const DefaultServiceName = "waba-worker"

// Config configures Setup.
type Config struct {
	// Getenv reads the OTEL_* variables. Defaults to one that finds none:
	// nothing is exported.
	Getenv func(string) string
	// Provider, when set, is used as is and the variables are not read
	// (tests pass an SDK provider with an in-memory exporter). Shutdown then
	// leaves it alone.
	Provider trace.TracerProvider
	// ServiceVersion is the service.version of exported spans.
	ServiceVersion string
	// Logger logs export failures, at most once a minute. Defaults to one
	// that discards.
	Logger *slog.Logger
}

// Provider is the tracer provider of a run.
type Provider struct {
	trace.TracerProvider
	exporting bool
	shutdown  func(context.Context) error
}

// Exporting reports whether spans are exported (OTLP is configured).
func (p *Provider) Exporting() bool { return p.exporting }

// Shutdown flushes the spans not yet exported and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	return p.shutdown(ctx)
}

// The variables Setup reads (the OpenTelemetry SDK's standard names).
const (
	envEndpoint         = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol         = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol   = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envHeaders          = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders    = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envServiceName      = "OTEL_SERVICE_NAME"
	envSDKDisabled      = "OTEL_SDK_DISABLED"
	envTracesExporter   = "OTEL_TRACES_EXPORTER"
	envTracesSampler    = "OTEL_TRACES_SAMPLER"
	envTracesSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
)

// Setup returns the tracer provider cfg describes: cfg.Provider when set;
// else an OTLP/HTTP exporter when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used
// as is) or OTEL_EXPORTER_OTLP_ENDPOINT (with /v1/traces appended) is set,
// unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none; else a no-op
// provider. It also reads OTEL_EXPORTER_OTLP_[TRACES_]HEADERS,
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (only http/protobuf is supported),
// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. A
// malformed variable is an error that names it, without its value.
func Setup(cfg Config) (*Provider, error) {
	if cfg.Provider != nil {
		return &Provider{TracerProvider: cfg.Provider}, nil
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	noopProvider := &Provider{TracerProvider: noop.NewTracerProvider()}

	if v := env(envSDKDisabled); v != "" {
		disabled, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s: want true or false", envSDKDisabled)
		}
		if disabled {
			return noopProvider, nil
		}
	}
	switch v := strings.ToLower(env(envTracesExporter)); v {
	case "", "otlp":
	case "none":
		return noopProvider, nil
	default:
		return nil, fmt.Errorf("%s: %q is not supported (want otlp or none)", envTracesExporter, v)
	}
	endpoint, err := endpointURL(env)
	if err != nil || endpoint == "" {
		return noopProvider, err
	}
	for _, k := range []string{envTracesProtocol, envProtocol} {
		if v := env(k); v != "" {
			if v != "http/protobuf" {
				return nil, fmt.Errorf("%s: %q is not supported (want http/protobuf)", k, v)
			}
			break
		}
	}
	headers, err := otlpHeaders(env)
	if err != nil {
		return nil, err
	}
	sampler, err := newSampler(env)
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if len(headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	// New does not connect: a collector that is down costs dropped spans
	// (logged), never the worker's start.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: OTLP exporter: %w", envEndpoint, err)
	}
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(
			attribute.String("service.name", cmp.Or(env(envServiceName), DefaultServiceName)),
			attribute.String("service.version", cfg.ServiceVersion),
		))
	if err != nil && res == nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggedExporter{SpanExporter: exp, log: log}),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	return &Provider{TracerProvider: tp, exporting: true, shutdown: tp.Shutdown}, nil
}

// endpointURL returns the URL spans are posted to, or "" when none is set.
func endpointURL(env func(string) string) (string, error) {
	name, raw := envTracesEndpoint, env(envTracesEndpoint)
	if raw == "" {
		name, raw = envEndpoint, env(envEndpoint)
	}
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: not a valid URL", name)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%s: want an http:// or https:// URL", name)
	case u.Host == "":
		return "", fmt.Errorf("%s: the URL has no host", name)
	case u.User != nil:
		return "", fmt.Errorf("%s: the URL must not hold user info (use %s)", name, envHeaders)
	}
	if name == envEndpoint {
		// The general endpoint is a base: the signal's path is appended.
		u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// otlpHeaders parses the W3C-baggage-like list "k1=v1,k2=v2" (values
// URL-encoded) of the headers variable; the traces one wins.
func otlpHeaders(env func(string) string) (map[string]string, error) {
	name, raw := envTracesHeaders, env(envTracesHeaders)
	if raw == "" {
		name, raw = envHeaders, env(envHeaders)
	}
	if raw == "" {
		return nil, nil
	}
	h := map[string]string{}
	for i, pair := range strings.Split(raw, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: entry %d is not key=value", name, i+1)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d: the value is not URL-encoded", name, i+1)
		}
		h[k] = val
	}
	return h, nil
}

// newSampler reads OTEL_TRACES_SAMPLER; the default samples what the
// parent sampled and every root span.
func newSampler(env func(string) string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		v := env(envTracesSamplerArg)
		if v == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("%s: want a ratio from 0 to 1", envTracesSamplerArg)
		}
		return r, nil
	}
	switch v := strings.ToLower(env(envTracesSampler)); v {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if v == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	default:
		return nil, fmt.Errorf("%s: %q is not supported", envTracesSampler, v)
	}
}

// loggedExporter logs export failures itself, at most once a minute and
// once when exporting works again, instead of leaving them to
// OpenTelemetry's global error handler (which prints to stderr).
type loggedExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger

	mu      sync.Mutex
	failing bool
	logged  time.Time
	dropped int
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if e.failing {
			e.log.Info("trace export works again", "spans_dropped", e.dropped)
			e.failing, e.dropped = false, 0
		}
		return nil
	}
	e.dropped += len(spans)
	if !e.failing || time.Since(e.logged) >= time.Minute {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "timed out"
		}
		e.log.Warn("cannot export traces: spans are dropped", "error", msg, "spans_dropped", e.dropped)
		e.logged = time.Now()
	}
	e.failing = true
	return nil
}
