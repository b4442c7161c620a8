// Package deploy_test checks the files under deploy/: the Prometheus alert
// rules parse with Prometheus' own parser, and the rules and the Grafana
// dashboard query only metrics the worker exports. (It lives here, not in
// internal/metrics, so that only this test links Prometheus' server code.)
package deploy_test

import (
	"context"
	"encoding/json"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/metrics"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

var (
	alertsFile    = filepath.Join("prometheus", "alerts.yml")
	dashboardFile = filepath.Join("grafana", "waba-worker.json")
)

// Metrics the deploy files may use that the worker does not export.
var external = map[string]bool{
	"up": true, // Prometheus' own
}

// The alert rules parse with Prometheus' own rule parser (YAML, PromQL,
// templates, durations), cover what the issue asks for, and use only
// metrics the worker exports.
func TestAlertRulesParse(t *testing.T) {
	t.Parallel()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	known := exported(t)
	alerts := map[string]bool{}
	p := parser.NewParser(parser.Options{})
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a severity label and summary and description annotations", r.Alert)
			}
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
				continue
			}
			for _, name := range metricNames(t, expr) {
				if !known[name] && !external[name] {
					t.Errorf("alert %s uses %s, which the worker does not export", r.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"WabaBreakerOpen", "WabaCredentialsRejected", "WabaFailedEventsRising", "WabaNoProgress", "WabaSweepStale"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// A broken rule is caught: the check above is not vacuous.
func TestAlertRuleParserRejectsBadPromQL(t *testing.T) {
	t.Parallel()
	bad := []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(waba_events_total[5m])\n")
	if _, errs := rulefmt.Parse(bad, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) == 0 {
		t.Fatal("a rule with unbalanced parentheses parsed")
	}
}

// Every query of the Grafana dashboard is valid PromQL over metrics the
// worker exports.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if dash["uid"] == "" || dash["title"] == "" {
		t.Error("dashboard without uid or title")
	}
	var exprs []string
	walk(dash, func(k string, v any) {
		if s, ok := v.(string); ok && k == "expr" {
			exprs = append(exprs, s)
		}
	})
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	known := exported(t)
	used := map[string]bool{}
	// Grafana's variables, as Grafana would substitute them.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", ".*", "$instance", ".*")
	p := parser.NewParser(parser.Options{})
	for _, e := range exprs {
		expr, err := p.ParseExpr(vars.Replace(e))
		if err != nil {
			t.Errorf("dashboard query %q: %v", e, err)
			continue
		}
		for _, name := range metricNames(t, expr) {
			used[name] = true
			if !known[name] && !external[name] {
				t.Errorf("dashboard query %q uses %s, which the worker does not export", e, name)
			}
		}
	}
	for _, n := range []string{"waba_events_total", "waba_graph_requests_total", "waba_graph_request_duration_seconds",
		"waba_event_duration_seconds", "waba_events_in_flight", "waba_breaker_state", "waba_intake_paused", "waba_consumer_pending_messages"} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

func walk(v any, fn func(key string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(k, e)
			walk(e, fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

// metricNames lists the metric names expr selects, without a histogram's
// _bucket, _count or _sum suffix.
func metricNames(t *testing.T, expr parser.Expr) []string {
	t.Helper()
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			t.Errorf("selector %s has no metric name", vs)
			return nil
		}
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && strings.HasSuffix(base, "_seconds") {
				name = base
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

// exported lists the metric families of a worker's registry, every source
// set and one of each observation made.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	m.Watch(fullSources())
	m.EventStarted()
	m.EventFinished(wabatype.Outcome{Verdict: wabatype.Done}, 0)
	m.GraphCall(graph.Call{Op: graph.OpProbe, HTTPStatus: 200, Usage: graph.Usage{AppHeader: `{"call_count":1}`}})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	// And the webhook gateway's (worker webhook).
	reg := prometheus.NewRegistry()
	gw := webhook.NewPrometheus()
	gw.Change("account_update", "PARTNER_ADDED", webhook.ResultShared)
	gw.Published(1, 0, nil)
	reg.MustRegister(gw)
	reg.MustRegister(gateway.Gauges(func() bool { return true }, func() bool { return true })...)
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// fullSources sets every source, so that every metric is registered.
func fullSources() metrics.Sources {
	return metrics.Sources{
		Breaker:       func() breaker.State { return breaker.Closed },
		Paused:        func() wabatype.PauseReason { return wabatype.NoPause },
		NATSConnected: func() bool { return true },
		Ready:         func() bool { return true },
		Concurrency:   4,
		Consumer: func(context.Context) (metrics.ConsumerState, error) {
			return metrics.ConsumerState{Pending: 1}, nil
		},
	}
}
