package tracing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/tracing"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

func TestHeaderCarrierIgnoresCase(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"traceparent", "Traceparent", "TRACEPARENT"} {
		h := nats.Header{name: {parent}}
		ctx := tracing.Extract(context.Background(), h)
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("header %q: span context %v", name, sc)
		}
	}
	h := nats.Header{"Traceparent": {"stale"}, "Nats-Msg-Id": {"evt-1"}}
	tracing.HeaderCarrier(h).Set("traceparent", parent)
	if len(h["Traceparent"]) != 0 || h.Get("traceparent") != parent || h.Get("Nats-Msg-Id") != "evt-1" {
		t.Errorf("Set: %v", h)
	}
}

func TestInjectWithoutSpanWritesNothing(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	tracing.Inject(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("headers %v, want none", h)
	}
}

func TestEventSpanContinuesTheInputTrace(t *testing.T) {
	t.Parallel()
	tp, exp := recorder(t)
	m := wabatype.Message{Data: []byte(`{"id":"evt-9","waba_id":"102290129340398"}`), StreamSeq: 7, Delivery: 2}
	ctx, span := tracing.StartEvent(context.Background(), tp.Tracer("t"), nats.Header{"traceparent": {parent}}, "waba.shared", m)
	code := 200
	tracing.EndEvent(span, wabatype.Outcome{EventID: "evt-9", WabaID: "102290129340398", Verdict: wabatype.Failed, Failed: &events.Failed{Error: events.Failure{Kind: events.KindPermanent, GraphCode: &code, FBTraceID: "AbC"}}})
	out := nats.Header{}
	tracing.Inject(ctx, out)
	span.End()

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Parent.SpanID().String() != "00f067aa0ba902b7" || s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span %s is not a child of the input's traceparent", s.SpanContext.SpanID())
	}
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext.SpanID().String() + "-01"
	if got := out.Get("traceparent"); got != want {
		t.Errorf("injected traceparent %q, want %q", got, want)
	}
	attrs := attrMap(s.Attributes)
	for k, v := range map[string]string{"event_id": "evt-9", "waba_id": "102290129340398", "waba.outcome": "failed",
		"waba.error.kind": "permanent", "graph.code": "200", "graph.fbtrace_id": "AbC", "waba.delivery": "2"} {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if s.Status.Description != "permanent" {
		t.Errorf("status %+v", s.Status)
	}
}

func TestEventSpanOmitsAWabaIDThatIsNotOne(t *testing.T) {
	t.Parallel()
	tp, exp := recorder(t)
	_, span := tracing.StartEvent(context.Background(), tp.Tracer("t"), nil, "waba.shared",
		wabatype.Message{Data: []byte(`{"waba_id":"not digits at all"}`), MsgID: "evt-x", StreamSeq: 3})
	tracing.EndEvent(span, wabatype.Outcome{Verdict: wabatype.RetryLater, EventID: "evt-x"})
	span.End()
	attrs := attrMap(exp.GetSpans()[0].Attributes)
	if _, ok := attrs["waba_id"]; ok {
		t.Errorf("waba_id %q recorded for an invalid event", attrs["waba_id"])
	}
	if attrs["event_id"] != "evt-x" {
		t.Errorf("event_id = %q, want the Nats-Msg-Id", attrs["event_id"])
	}
	if exp.GetSpans()[0].Parent.IsValid() {
		t.Error("a span without traceparent has a parent")
	}
}

// Graph's URLs carry appsecret_proof in their query: the span of a call
// must not record it, yet the request must still carry it.
func TestTransportHidesTheQuery(t *testing.T) {
	t.Parallel()
	const proof = "3f1c0ffee5ecret0proof0value0deadbeef"
	var got url.Values
	var sawTraceHeader bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		sawTraceHeader = r.Header.Get("traceparent") != ""
		_, _ = io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(srv.Close)
	tp, exp := recorder(t)
	hc := tracing.WrapClient(srv.Client(), tp)

	ctx, parentSpan := tp.Tracer("t").Start(context.Background(), "event")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v25.0/102290129340398/assigned_users?business=1&appsecret_proof="+proof, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	parentSpan.End()

	if got.Get("appsecret_proof") != proof || got.Get("business") != "1" {
		t.Errorf("the server got query %v: the query was lost", got)
	}
	if sawTraceHeader {
		t.Error("a traceparent was sent to Graph")
	}
	var client *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			client = &s
		}
		if strings.Contains(dump(s), proof) || strings.Contains(dump(s), "appsecret_proof") {
			t.Errorf("span %q records the query: %s", s.Name, dump(s))
		}
	}
	if client == nil {
		t.Fatal("no client span")
	}
	if client.Name != "graph GET assigned_users" {
		t.Errorf("span name %q", client.Name)
	}
	if client.Parent.SpanID() != parentSpan.SpanContext().SpanID() {
		t.Error("the client span is not a child of the event's span")
	}
	attrs := attrMap(client.Attributes)
	if u := attrs["url.full"]; u != srv.URL+"/v25.0/102290129340398/assigned_users" {
		t.Errorf("url.full = %q", u)
	}
	if attrs["http.response.status_code"] != "200" {
		t.Errorf("status code attribute %q", attrs["http.response.status_code"])
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("cannot reach " + r.URL.String())
}

// An error that quotes the URL does not carry the query into the span.
func TestTransportScrubsTheQueryFromErrors(t *testing.T) {
	t.Parallel()
	const proof = "abcdef0123456789secretproof"
	tp, exp := recorder(t)
	hc := &http.Client{Transport: tracing.Transport(failingTransport{}, tp)}
	_, err := hc.Get("http://graph.invalid/v25.0/1/system_users?appsecret_proof=" + proof)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range exp.GetSpans() {
		if strings.Contains(dump(s), proof) {
			t.Errorf("span records the proof: %s", dump(s))
		}
	}
	if len(exp.GetSpans()) == 0 {
		t.Error("no span for a failed call")
	}
}

func TestSetupWithoutEndpointIsANoOp(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
	} {
		p, err := tracing.Setup(tracing.Config{Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatalf("%v: %v", env, err)
		}
		if p.Exporting() {
			t.Errorf("%v: exporting", env)
		}
		_, span := p.Tracer("t").Start(context.Background(), "x")
		if span.IsRecording() {
			t.Errorf("%v: spans are recorded", env)
		}
	}
	p, err := tracing.Setup(tracing.Config{})
	if err != nil || p.Exporting() {
		t.Errorf("nil Getenv: %v, exporting %v", err, p.Exporting())
	}
}

func TestSetupRejectsMalformedVariables(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://user:hunter2@collector:4318"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
	} {
		_, err := tracing.Setup(tracing.Config{Getenv: func(k string) string { return c.env[k] }})
		if err == nil || !strings.HasPrefix(err.Error(), c.name+":") {
			t.Errorf("%v: error %v, want one naming %s", c.env, err, c.name)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error echoes a secret: %v", err)
		}
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans are posted to
// {endpoint}/v1/traces with the configured headers.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	t.Parallel()
	type post struct {
		path, auth string
		size       int
	}
	var mu sync.Mutex
	var posts []post
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, post{r.URL.Path, r.Header.Get("Authorization"), len(body)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL + "/otlp/",
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20collector-key",
		"OTEL_SERVICE_NAME":           "waba-worker-test",
	}
	p, err := tracing.Setup(tracing.Config{Getenv: func(k string) string { return env[k] }, ServiceVersion: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Exporting() {
		t.Fatal("not exporting")
	}
	_, span := p.Tracer("t").Start(context.Background(), "process waba.shared")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) == 0 {
		t.Fatal("nothing was exported")
	}
	if p := posts[0]; p.path != "/otlp/v1/traces" || p.auth != "Bearer collector-key" || p.size == 0 {
		t.Errorf("export %+v, want a POST to /otlp/v1/traces with the header", p)
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// dump renders everything a span would export as text.
func dump(s tracetest.SpanStub) string {
	var b strings.Builder
	b.WriteString(s.Name + " " + s.Status.Description)
	for _, kv := range s.Attributes {
		b.WriteString(" " + string(kv.Key) + "=" + kv.Value.Emit())
	}
	for _, e := range s.Events {
		b.WriteString(" " + e.Name)
		for _, kv := range e.Attributes {
			b.WriteString(" " + string(kv.Key) + "=" + kv.Value.Emit())
		}
	}
	return b.String()
}
