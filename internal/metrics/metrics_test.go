package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/metrics"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

func TestOutcomeLabels(t *testing.T) {
	t.Parallel()
	failed := func(kind string) wabatype.Outcome {
		return wabatype.Outcome{Verdict: wabatype.Failed, Failed: &events.Failed{Error: events.Failure{Kind: kind}}}
	}
	for _, c := range []struct {
		name          string
		out           wabatype.Outcome
		outcome, kind string
	}{
		{"done", wabatype.Outcome{Verdict: wabatype.Done, Succeeded: &events.Succeeded{}}, "succeeded", ""},
		{"permanent", failed(events.KindPermanent), "failed", "permanent"},
		{"invalid", failed(events.KindInvalidEvent), "failed", "invalid_event"},
		{"exhausted", failed(events.KindRetriesExhausted), "failed", "retries_exhausted"},
		{"verification", failed(events.KindVerificationFailed), "failed", "verification_failed"},
		{"unknown kind is bounded", failed("surprise-" + strings.Repeat("x", 40)), "failed", "other"},
		{"failed without event", wabatype.Outcome{Verdict: wabatype.Failed}, "failed", "other"},
		{"retry", wabatype.Outcome{Verdict: wabatype.RetryLater, Delay: time.Second}, "retried", ""},
		{"paused", wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseBreaker}, "paused", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o, k := metrics.OutcomeLabels(c.out)
			if o != c.outcome || k != c.kind {
				t.Errorf("OutcomeLabels = %q, %q; want %q, %q", o, k, c.outcome, c.kind)
			}
		})
	}
}

func TestEventsMoveCountersHistogramAndGauge(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.EventStarted()
	m.EventStarted()
	if got := gauge(t, m, "waba_events_in_flight", nil); got != 2 {
		t.Fatalf("in flight = %v, want 2", got)
	}
	m.EventFinished(wabatype.Outcome{Verdict: wabatype.Done}, 200*time.Millisecond)
	m.EventFinished(wabatype.Outcome{Verdict: wabatype.Failed, Failed: &events.Failed{Error: events.Failure{Kind: events.KindPermanent}}}, 3*time.Second)
	if got := gauge(t, m, "waba_events_in_flight", nil); got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
	if got := counter(t, m, "waba_events_total", map[string]string{"outcome": "succeeded", "kind": ""}); got != 1 {
		t.Errorf("succeeded = %v", got)
	}
	if got := counter(t, m, "waba_events_total", map[string]string{"outcome": "failed", "kind": "permanent"}); got != 1 {
		t.Errorf("failed permanent = %v", got)
	}
	if n, sum := histogram(t, m, "waba_event_duration_seconds", map[string]string{"outcome": "failed"}); n != 1 || sum != 3 {
		t.Errorf("failed duration: count %d sum %v, want 1 and 3", n, sum)
	}
	m.EventParked(1500 * time.Millisecond)
	if n, sum := histogram(t, m, "waba_event_parked_seconds", nil); n != 1 || sum != 1.5 {
		t.Errorf("parked: count %d sum %v, want 1 and 1.5", n, sum)
	}
}

func TestGraphCodeLabel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		call graph.Call
		code string
	}{
		{"success", graph.Call{Op: graph.OpAssignUser, HTTPStatus: 200}, "0"},
		{"graph code", graph.Call{Op: graph.OpAssignUser, HTTPStatus: 403, Code: 200, Err: &graph.Error{Code: 200, HTTPStatus: 403}}, "200"},
		{"token", graph.Call{Op: graph.OpProbe, HTTPStatus: 401, Code: 190, Err: &graph.Error{Code: 190, HTTPStatus: 401}}, "190"},
		{"html 503", graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 503, Err: &graph.Error{HTTPStatus: 503}}, "5xx"},
		{"429 without code", graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 429, Err: &graph.Error{HTTPStatus: 429}}, "4xx"},
		{"transport", graph.Call{Op: graph.OpListAssignedUsers, Err: &graph.TransportError{Op: "x", Err: errors.New("reset")}}, "transport"},
		{"canceled", graph.Call{Op: graph.OpListAssignedUsers, Err: fmt.Errorf("graph x: %w", context.Canceled)}, "canceled"},
		{"unknown op", graph.Call{Op: "delete_everything", HTTPStatus: 200}, "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New()
			m.GraphCall(c.call)
			op := c.call.Op
			if op == "delete_everything" {
				op = "other"
			}
			if got := counter(t, m, "waba_graph_requests_total", map[string]string{"op": op, "code": c.code}); got != 1 {
				t.Errorf("waba_graph_requests_total{op=%q,code=%q} = %v, want 1", op, c.code, got)
			}
		})
	}
}

func TestRateLimitsAndUsage(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.GraphCall(graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 400, Code: 80008, Duration: time.Second,
		Err: &graph.Error{Code: 80008, HTTPStatus: 400},
		Usage: graph.Usage{AppHeader: `{"call_count":12,"total_cputime":3,"total_time":4}`,
			BusinessHeader: `{"100200300":[{"call_count":40,"total_time":95},{"call_count":70}]}`}})
	m.GraphCall(graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 200})
	if got := counter(t, m, "waba_graph_rate_limited_total", map[string]string{"op": graph.OpListAssignedUsers}); got != 1 {
		t.Errorf("rate limited = %v, want 1", got)
	}
	if n, sum := histogram(t, m, "waba_graph_request_duration_seconds", map[string]string{"op": graph.OpListAssignedUsers}); n != 2 || sum != 1 {
		t.Errorf("duration count %d sum %v, want 2 and 1", n, sum)
	}
	for _, c := range []struct {
		header, metric string
		want           float64
	}{{"app", "call_count", 12}, {"business", "call_count", 70}, {"business", "total_time", 95}} {
		if got := gauge(t, m, "waba_graph_usage_percent", map[string]string{"header": c.header, "metric": c.metric}); got != c.want {
			t.Errorf("usage %s %s = %v, want %v", c.header, c.metric, got, c.want)
		}
	}
	// A malformed header keeps the last good values; a good one replaces them.
	m.GraphCall(graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 200, Usage: graph.Usage{AppHeader: `{"call_count":`}})
	if got := gauge(t, m, "waba_graph_usage_percent", map[string]string{"header": "app", "metric": "call_count"}); got != 12 {
		t.Errorf("after a malformed header: app call_count = %v, want 12", got)
	}
	m.GraphCall(graph.Call{Op: graph.OpListAssignedUsers, HTTPStatus: 200, Usage: graph.Usage{AppHeader: `{"call_count":"30"}`}})
	if got := gauge(t, m, "waba_graph_usage_percent", map[string]string{"header": "app", "metric": "call_count"}); got != 30 {
		t.Errorf("after a new header: app call_count = %v, want 30", got)
	}
	if got := gauge(t, m, "waba_graph_usage_percent", map[string]string{"header": "business", "metric": "call_count"}); got != 70 {
		t.Errorf("business call_count = %v, want 70 (kept: the last answers had no business header)", got)
	}
	// The business id keys the usage header: it must not become a label.
	out, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, "waba_graph_usage_percent")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "100200300") {
		t.Errorf("a business id leaked into a label:\n%s", out)
	}
}

func TestGraphCodesAreBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	for code := 1; code <= 500; code++ {
		m.GraphCall(graph.Call{Op: graph.OpAssignUser, HTTPStatus: 400, Code: code, Err: &graph.Error{Code: code, HTTPStatus: 400}})
	}
	series := testutil.CollectAndCount(m.Registry(), "waba_graph_requests_total")
	// The pre-made "0" series of each of the 5 ops (the sweep's listing
	// among them), MaxGraphCodes codes, and "other".
	if limit := 5 + metrics.MaxGraphCodes + 1; series > limit {
		t.Errorf("%d series of waba_graph_requests_total, want at most %d", series, limit)
	}
	if got := counter(t, m, "waba_graph_requests_total", map[string]string{"op": graph.OpAssignUser, "code": "other"}); got != 500-metrics.MaxGraphCodes {
		t.Errorf(`code="other" = %v, want %d`, got, 500-metrics.MaxGraphCodes)
	}
}

func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.BreakerChanged(breaker.Closed, breaker.Open)
	m.BreakerChanged(breaker.Open, breaker.HalfOpen)
	m.BreakerChanged(breaker.HalfOpen, breaker.Open)
	if got := counter(t, m, "waba_breaker_transitions_total", map[string]string{"to": "open"}); got != 2 {
		t.Errorf("to open = %v, want 2", got)
	}
}

func TestWatchReadsStatesAtScrapeTime(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	var state atomic.Int32
	var paused atomic.Int32
	var fetches atomic.Int32
	m.Watch(metrics.Sources{
		Breaker:       func() breaker.State { return breaker.State(state.Load()) },
		Paused:        func() wabatype.PauseReason { return wabatype.PauseReason(paused.Load()) },
		NATSConnected: func() bool { return true },
		Ready:         func() bool { return false },
		Concurrency:   16,
		Consumer: func(context.Context) (metrics.ConsumerState, error) {
			fetches.Add(1)
			return metrics.ConsumerState{Pending: 42, AckPending: 3}, nil
		},
	})
	for _, c := range []struct {
		state breaker.State
		want  float64
	}{{breaker.Closed, 0}, {breaker.HalfOpen, 1}, {breaker.Open, 2}} {
		state.Store(int32(c.state))
		if got := gauge(t, m, "waba_breaker_state", nil); got != c.want {
			t.Errorf("breaker %v: waba_breaker_state = %v, want %v", c.state, got, c.want)
		}
	}
	paused.Store(int32(wabatype.PauseCredentials))
	if got := gauge(t, m, "waba_intake_paused", map[string]string{"reason": "credentials_rejected"}); got != 1 {
		t.Errorf("paused credentials = %v", got)
	}
	if got := gauge(t, m, "waba_intake_paused", map[string]string{"reason": "breaker_open"}); got != 0 {
		t.Errorf("paused breaker = %v", got)
	}
	if got := gauge(t, m, "waba_ready", nil); got != 0 {
		t.Errorf("ready = %v", got)
	}
	if got := gauge(t, m, "waba_worker_concurrency", nil); got != 16 {
		t.Errorf("concurrency = %v", got)
	}
	if got := gauge(t, m, "waba_consumer_pending_messages", nil); got != 42 {
		t.Errorf("pending = %v", got)
	}
	if got := gauge(t, m, "waba_consumer_ack_pending_messages", nil); got != 3 {
		t.Errorf("ack pending = %v", got)
	}
	// Several scrapes within ConsumerCacheFor ask JetStream once.
	if n := fetches.Load(); n != 1 {
		t.Errorf("consumer info fetched %d times in a burst of scrapes, want 1", n)
	}
}

func TestConsumerErrorLeavesTheBacklogOut(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Watch(metrics.Sources{Consumer: func(context.Context) (metrics.ConsumerState, error) {
		return metrics.ConsumerState{}, errors.New("nats: connection closed")
	}})
	if n := testutil.CollectAndCount(m.Registry(), "waba_consumer_pending_messages"); n != 0 {
		t.Errorf("%d pending series while the consumer cannot be read, want 0", n)
	}
}

// The metrics follow Prometheus' naming conventions (units, _total, ...).
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Watch(fullSources())
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "waba_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// The metrics README lists ("Observability") exist from the start, before any event.
func TestSpecMetricsExistFromTheStart(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Watch(fullSources())
	names := gatheredNames(t, m)
	for _, n := range []string{"waba_events_total", "waba_graph_requests_total", "waba_graph_request_duration_seconds",
		"waba_event_duration_seconds", "waba_events_in_flight", "waba_breaker_state",
		"go_goroutines", "process_cpu_seconds_total"} {
		if !names[n] {
			t.Errorf("%s is missing from a fresh registry", n)
		}
	}
}

// README's metrics table names every metric the worker registers, so that
// an operator can find each one there.
func TestREADMEListsEveryMetric(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.Watch(fullSources())
	m.EventParked(time.Second) // a histogram without labels shows once observed or not: either way
	for n := range gatheredNames(t, m) {
		if strings.HasPrefix(n, "waba_") && !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README's metrics table does not name %s", n)
		}
	}
}
