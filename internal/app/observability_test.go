package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/health"
)

// observed sets up a bundle whose worker serves HTTP on a free port.
func observed(t *testing.T, env map[string]string) *bundle {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["HTTP_ADDR"] = "127.0.0.1:0"
	return setup(t, env)
}

// get fetches path from the worker's HTTP endpoints.
func (b *bundle) get(path string) (int, []byte) {
	b.t.Helper()
	b.mu.Lock()
	addr := b.httpAddr
	b.mu.Unlock()
	if addr == "" {
		b.t.Fatal("the worker serves no HTTP (is HTTP_ADDR set?)")
	}
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// readyz returns /readyz's status and report.
func (b *bundle) readyz() (int, health.Report) {
	b.t.Helper()
	code, body := b.get("/readyz")
	var r health.Report
	if err := json.Unmarshal(body, &r); err != nil {
		b.t.Fatalf("/readyz body %q: %v", body, err)
	}
	if (code == http.StatusOK) != r.Ready || (code != http.StatusOK && code != http.StatusServiceUnavailable) {
		b.t.Fatalf("/readyz answered %d with %s", code, body)
	}
	return code, r
}

// waitReady waits until /readyz says ready (want true) or not.
func (b *bundle) waitReady(want bool, what string) health.Report {
	b.t.Helper()
	var r health.Report
	b.waitFor(what, 20*time.Second, func() bool {
		_, r = b.readyz()
		return r.Ready == want
	})
	return r
}

// scrape is one parse of /metrics.
type scrape struct {
	t    *testing.T
	raw  string
	fams map[string]*dto.MetricFamily
}

func (b *bundle) scrape() scrape {
	b.t.Helper()
	code, body := b.get("/metrics")
	if code != http.StatusOK {
		b.t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		b.t.Fatalf("/metrics does not parse: %v", err)
	}
	return scrape{t: b.t, raw: string(body), fams: fams}
}

// series returns the series of name whose labels include want.
func (s scrape) series(name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	mf := s.fams[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// value sums the counters or gauges of name whose labels include want.
func (s scrape) value(name string, want map[string]string) float64 {
	s.t.Helper()
	ms := s.series(name, want)
	if len(ms) == 0 {
		s.t.Fatalf("no series %s%v in /metrics", name, want)
	}
	var v float64
	for _, m := range ms {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

// histogram sums the counts and sums of the histograms of name.
func (s scrape) histogram(name string, want map[string]string) (uint64, float64) {
	s.t.Helper()
	ms := s.series(name, want)
	if len(ms) == 0 {
		s.t.Fatalf("no histogram %s%v in /metrics", name, want)
	}
	var n uint64
	var sum float64
	for _, m := range ms {
		n += m.GetHistogram().GetSampleCount()
		sum += m.GetHistogram().GetSampleSum()
	}
	return n, sum
}

// labelValues lists every label value of every waba_ series.
func (s scrape) labelValues() []string {
	var vs []string
	for name, mf := range s.fams {
		if !strings.HasPrefix(name, "waba_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				vs = append(vs, l.GetValue())
			}
		}
	}
	return vs
}

// secrets lists what must never appear in a metric or a span: the tokens,
// the app secret, and every appsecret_proof the worker could have sent
// since from.
func (b *bundle) secrets(from time.Time) []string {
	tokens := []string{emulator.DevAdminToken, emulator.DevReadToken}
	out := append([]string{appSecret, "appsecret_proof", "access_token"}, tokens...)
	for ts := from.Add(-5 * time.Second).Unix(); ts <= time.Now().Add(5*time.Second).Unix(); ts++ {
		for _, tok := range tokens {
			mac := hmac.New(sha256.New, []byte(appSecret))
			mac.Write([]byte(tok + "|" + strconv.FormatInt(ts, 10)))
			out = append(out, hex.EncodeToString(mac.Sum(nil)))
		}
	}
	return out
}

// Counters and histograms move as events succeed and fail; the gauges say
// the worker is healthy; no label holds an id and no secret shows.
func TestMetricsFollowEvents(t *testing.T) {
	t.Parallel()
	from := time.Now()
	b := observed(t, nil)
	ids := newWABAs(t, b.graph, 0, 4)
	b.graph.InjectFault(graph.OpAssignUser, emulator.Fault{Object: ids[3], Code: 200, Message: "(#200) Permissions error"})
	b.start()
	b.waitReady(true, "the worker to be ready")

	before := b.scrape()
	for _, c := range []struct {
		labels map[string]string
	}{{map[string]string{"outcome": "succeeded"}}, {map[string]string{"outcome": "failed"}}} {
		if v := before.value("waba_events_total", c.labels); v != 0 {
			t.Errorf("waba_events_total%v = %v before any event", c.labels, v)
		}
	}
	if n, _ := before.histogram("waba_event_duration_seconds", nil); n != 0 {
		t.Errorf("event duration count %d before any event", n)
	}

	b.emitAll(ids)
	b.publish("evt-bad", []byte(`{"id":"evt-bad","waba_id":"not-a-waba"}`))
	b.waitResults(5, 30*time.Second)

	s := b.scrape()
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"outcome": "succeeded", "kind": ""}, 3},
		{map[string]string{"outcome": "failed", "kind": "permanent"}, 1},
		{map[string]string{"outcome": "failed", "kind": "invalid_event"}, 1},
		{map[string]string{"outcome": "failed", "kind": "retries_exhausted"}, 0},
		{map[string]string{"outcome": "retried"}, 0},
		{map[string]string{"outcome": "paused"}, 0},
	} {
		if got := s.value("waba_events_total", c.labels); got != c.want {
			t.Errorf("waba_events_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n, sum := s.histogram("waba_event_duration_seconds", map[string]string{"outcome": "succeeded"}); n != 3 || sum <= 0 {
		t.Errorf("succeeded event durations: count %d, sum %v", n, sum)
	}
	if n, _ := s.histogram("waba_event_duration_seconds", map[string]string{"outcome": "failed"}); n != 2 {
		t.Errorf("failed event durations: count %d, want 2", n)
	}
	// Every Graph request the emulator saw is counted, by op and code.
	for _, op := range []string{graph.OpListAssignedUsers, graph.OpAssignUser} {
		if got, want := s.value("waba_graph_requests_total", map[string]string{"op": op}), float64(b.graph.Count(op)); got != want {
			t.Errorf("waba_graph_requests_total{op=%q} = %v, the emulator saw %v", op, got, want)
		}
		if n, _ := s.histogram("waba_graph_request_duration_seconds", map[string]string{"op": op}); n != uint64(b.graph.Count(op)) {
			t.Errorf("Graph duration count of %s = %d, want %d", op, n, b.graph.Count(op))
		}
	}
	if got := s.value("waba_graph_requests_total", map[string]string{"op": graph.OpAssignUser, "code": "0"}); got != 3 {
		t.Errorf("successful POSTs = %v, want 3", got)
	}
	if got := s.value("waba_graph_requests_total", map[string]string{"op": graph.OpAssignUser, "code": "200"}); got != 1 {
		t.Errorf("POSTs answered (#200) = %v, want 1", got)
	}
	for name, want := range map[string]float64{
		"waba_events_in_flight": 0, "waba_breaker_state": 0, "waba_ready": 1, "waba_nats_connected": 1,
		"waba_intake_paused": 0, "waba_worker_concurrency": 8,
	} {
		if got := s.value(name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if s.series("waba_consumer_pending_messages", nil) == nil {
		t.Error("no waba_consumer_pending_messages")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if s.fams[name] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	// Bounded labels: no WABA id, event id or business id.
	for _, v := range s.labelValues() {
		if strings.HasPrefix(v, "evt-") || strings.Contains(v, emulator.DevBusinessID) || strings.HasPrefix(v, "5000000000") {
			t.Errorf("label value %q is an id", v)
		}
	}
	for _, secret := range b.secrets(from) {
		if strings.Contains(s.raw, secret) {
			t.Errorf("/metrics shows a secret (%d chars)", len(secret))
		}
	}
	if code, body := b.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
}

// /readyz turns 503 while the breaker is open, and 200 once Graph is back.
func TestReadyzWhileTheBreakerIsOpen(t *testing.T) {
	t.Parallel()
	b := observed(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.start()
	b.waitReady(true, "the worker to be ready")

	b.graph.SetOutage(emulator.OutageHTML)
	b.emit("evt-outage", id, nil)
	r := b.waitReady(false, "/readyz to fail during the outage")
	if r.Checks["breaker"] == health.OK {
		t.Errorf("not ready, but the breaker check is ok: %v", r.Checks)
	}
	for _, c := range []string{"nats", "consumer", "credentials"} {
		if r.Checks[c] != health.OK {
			t.Errorf("check %s = %q during a Graph outage", c, r.Checks[c])
		}
	}
	// The breaker opens a moment before the worker pauses its intake.
	var s scrape
	b.waitFor("waba_intake_paused{reason=breaker_open} 1", 10*time.Second, func() bool {
		s = b.scrape()
		return s.value("waba_intake_paused", map[string]string{"reason": "breaker_open"}) == 1
	})
	if got := s.value("waba_breaker_transitions_total", map[string]string{"to": "open"}); got < 1 {
		t.Errorf("breaker transitions to open = %v", got)
	}
	if got := s.value("waba_graph_requests_total", map[string]string{"code": "5xx"}); got < 5 {
		t.Errorf("Graph 5xx answers counted: %v, want at least the 5 that open the breaker", got)
	}
	if got := s.value("waba_ready", nil); got != 0 {
		t.Errorf("waba_ready = %v during the outage", got)
	}

	b.graph.SetOutage(emulator.OutageOff)
	b.waitReady(true, "/readyz to recover after the outage")
	b.waitResults(1, 20*time.Second)
	if got := b.scrape().value("waba_breaker_state", nil); got != 0 {
		t.Errorf("waba_breaker_state = %v after recovery", got)
	}
}

// /readyz turns 503 while Graph rejects the token, and 200 once it is
// accepted again.
func TestReadyzWhileTheTokenIsRejected(t *testing.T) {
	t.Parallel()
	b := observed(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.start()
	b.waitReady(true, "the worker to be ready")

	b.graph.RevokeToken(emulator.DevAdminToken)
	b.emit("evt-token", id, nil)
	r := b.waitReady(false, "/readyz to fail with a revoked token")
	if r.Checks["credentials"] != "rejected" {
		t.Errorf("checks %v, want credentials rejected", r.Checks)
	}
	s := b.scrape()
	if got := s.value("waba_intake_paused", map[string]string{"reason": "credentials_rejected"}); got != 1 {
		t.Errorf("intake paused for credentials = %v, want 1", got)
	}
	if got := s.value("waba_graph_requests_total", map[string]string{"code": "190"}); got < 1 {
		t.Errorf("Graph code 190 answers counted: %v", got)
	}

	b.graph.RestoreToken(emulator.DevAdminToken)
	b.waitReady(true, "/readyz to recover with the token restored")
	// (evt-token comes back after the credentials delay, 30s.)
	b.emit("evt-after", newWABAs(t, b.graph, 1, 1)[0], nil)
	b.waitFor("an event after the token came back", 20*time.Second, func() bool {
		return len(b.results.Succeeded("evt-after")) == 1
	})
	if n := b.results.FailedCount(); n != 0 {
		t.Errorf("%d events failed for a rejected token", n)
	}
}

// /readyz turns 503 while NATS is gone (/healthz stays 200), and 200 once
// it is back.
func TestReadyzWhileNATSIsGone(t *testing.T) {
	t.Parallel()
	b := observed(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.start()
	b.waitReady(true, "the worker to be ready")

	b.nats.Shutdown()
	r := b.waitReady(false, "/readyz to fail without NATS")
	if r.Checks["nats"] == health.OK {
		t.Errorf("not ready without NATS, but the nats check is ok: %v", r.Checks)
	}
	if code, _ := b.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d without NATS, want 200: the process runs", code)
	}
	s := b.scrape()
	if got := s.value("waba_nats_connected", nil); got != 0 {
		t.Errorf("waba_nats_connected = %v without NATS", got)
	}

	b.nats.Restart()
	b.waitReady(true, "/readyz to recover with NATS back")
	b.emit("evt-after", id, nil)
	b.waitResults(1, 30*time.Second)
}

// tracedBundle sets up a bundle whose worker records spans in memory.
func tracedBundle(t *testing.T) (*bundle, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := setup(t, nil)
	b.tracer = tp
	return b, exp
}

// publishTraced publishes a waba.shared payload with a traceparent.
func (b *bundle) publishTraced(id string, payload []byte, traceparent string) {
	b.t.Helper()
	msg := &nats.Msg{Subject: "waba.shared", Data: payload, Header: nats.Header{"traceparent": {traceparent}}}
	if _, err := b.js.PublishMsg(b.t.Context(), msg, jetstream.WithMsgID(id)); err != nil {
		b.t.Fatalf("publish: %v", err)
	}
}

// resultTraceparent returns the traceparent header of the last result on
// subject.
func (b *bundle) resultTraceparent(subject string) string {
	b.t.Helper()
	stream, err := b.js.Stream(b.t.Context(), "WABA")
	if err != nil {
		b.t.Fatalf("stream: %v", err)
	}
	m, err := stream.GetLastMsgForSubject(b.t.Context(), subject)
	if err != nil {
		b.t.Fatalf("result on %s: %v", subject, err)
	}
	return m.Header.Get("traceparent")
}

// A traceparent on the input continues into the worker's span (one per
// event, with event_id and waba_id), a span per Graph call under it, and
// onto the result: same trace, the worker's span as parent. No span
// attribute holds a secret.
func TestTraceparentContinuesOntoTheResult(t *testing.T) {
	t.Parallel()
	from := time.Now()
	b, exp := tracedBundle(t)
	id := newWABAs(t, b.graph, 0, 1)[0]
	const (
		traceOK  = "0af7651916cd43dd8448eb211c80319c"
		traceBad = "4bf92f3577b34da6a3ce929d0e0e4736"
		inSpan   = "b7ad6b7169203331"
	)
	b.publishTraced("evt-traced", []byte(fmt.Sprintf(`{"id":"evt-traced","waba_id":%q}`, id)), "00-"+traceOK+"-"+inSpan+"-01")
	b.publishTraced("evt-invalid", []byte(`{"id":"evt-invalid","waba_id":"x"}`), "00-"+traceBad+"-"+inSpan+"-01")
	b.start()
	b.waitResults(2, 20*time.Second)

	// The worker's spans end once the input is acked, just after the result.
	var spans tracetest.SpanStubs
	b.waitFor("the event spans", 10*time.Second, func() bool {
		spans = exp.GetSpans()
		n := 0
		for _, s := range spans {
			if s.SpanKind == trace.SpanKindConsumer {
				n++
			}
		}
		return n == 2
	})
	byTrace := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindConsumer {
			byTrace[s.SpanContext.TraceID().String()] = s
		}
	}
	for _, c := range []struct {
		trace, subject, eventID, wabaID string
	}{
		{traceOK, "waba.assignment.succeeded", "evt-traced", id},
		{traceBad, "waba.assignment.failed", "evt-invalid", ""},
	} {
		ev, ok := byTrace[c.trace]
		if !ok {
			t.Errorf("no worker span in the input's trace %s", c.trace)
			continue
		}
		if ev.Parent.SpanID().String() != inSpan {
			t.Errorf("%s: the worker's span has parent %s, want the input's span %s", c.eventID, ev.Parent.SpanID(), inSpan)
		}
		attrs := map[string]string{}
		for _, kv := range ev.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs["event_id"] != c.eventID || attrs["waba_id"] != c.wabaID {
			t.Errorf("%s: span attributes event_id=%q waba_id=%q", c.eventID, attrs["event_id"], attrs["waba_id"])
		}
		tp := b.resultTraceparent(c.subject)
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[1] != c.trace {
			t.Errorf("%s: result traceparent %q, want trace %s", c.eventID, tp, c.trace)
			continue
		}
		if parts[2] == inSpan {
			t.Errorf("%s: the result carries the input's span id: the worker's span is missing", c.eventID)
		}
		if parts[2] != ev.SpanContext.SpanID().String() {
			t.Errorf("%s: result's parent span %s, want the worker's span %s", c.eventID, parts[2], ev.SpanContext.SpanID())
		}
	}

	// One client span per Graph call, under the event's span.
	ev := byTrace[traceOK]
	calls := 0
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		calls++
		if s.Parent.SpanID() != ev.SpanContext.SpanID() {
			t.Errorf("Graph span %q is not a child of the event's span", s.Name)
		}
	}
	if want := len(b.graph.Requests()); calls != want {
		t.Errorf("%d Graph spans, the emulator saw %d requests", calls, want)
	}
	if byTrace[traceBad].Status.Description != "invalid_event" {
		t.Errorf("invalid event span status %+v", byTrace[traceBad].Status)
	}

	text := spansText(spans)
	for _, secret := range b.secrets(from) {
		if strings.Contains(text, secret) {
			t.Errorf("a span shows a secret (%q..., %d chars)", secret[:4], len(secret))
		}
	}
}

// Without tracing configured, the input's traceparent still reaches the
// result unchanged.
func TestTraceparentPassesThroughWithoutTracing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	b.publishTraced("evt-1", []byte(fmt.Sprintf(`{"id":"evt-1","waba_id":%q}`, id)), tp)
	b.start()
	b.waitResults(1, 20*time.Second)
	if got := b.resultTraceparent("waba.assignment.succeeded"); got != tp {
		t.Errorf("result traceparent %q, want %q", got, tp)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the worker exports its spans over
// OTLP/HTTP, with no secret in them.
func TestSpansAreExportedOverOTLP(t *testing.T) {
	t.Parallel()
	from := time.Now()
	var mu sync.Mutex
	var bodies []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.URL.Path == "/v1/traces" {
			bodies = append(bodies, string(body))
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	b := setup(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.emit("evt-otlp", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	b.stop() // flushes the spans

	mu.Lock()
	all := strings.Join(bodies, "")
	mu.Unlock()
	if !strings.Contains(all, "evt-otlp") || !strings.Contains(all, "graph GET assigned_users") {
		t.Fatalf("the collector did not get the event's spans (%d posts)", len(bodies))
	}
	for _, secret := range b.secrets(from) {
		if strings.Contains(all, secret) {
			t.Errorf("an exported span holds a secret (%d chars)", len(secret))
		}
	}
}

// A busy HTTP_ADDR stops the worker at start with an error naming it.
func TestBusyHTTPAddrIsAStartupError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := setup(t, map[string]string{"HTTP_ADDR": ln.Addr().String()})
	cfg, err := config.Load(nil, config.MapEnv(b.env), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.HasPrefix(err.Error(), "HTTP_ADDR: ") {
		t.Fatalf("app.Run = %v, want an error naming HTTP_ADDR", err)
	}
}

// spansText renders everything the spans would export as text.
func spansText(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Name + " " + s.Status.Description + "\n")
		for _, kv := range s.Attributes {
			b.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + "\n")
		}
		for _, e := range s.Events {
			b.WriteString(e.Name + "\n")
			for _, kv := range e.Attributes {
				b.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + "\n")
			}
		}
		for _, kv := range s.Resource.Attributes() {
			b.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + "\n")
		}
	}
	return b.String()
}
