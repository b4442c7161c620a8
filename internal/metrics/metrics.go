// Package metrics is the worker's Prometheus instrumentation, on a registry
// of its own (with the Go and process collectors), never the global one.
//
// Metrics counts what the worker reports as it happens: events (it is a
// worker.Observer), Graph round trips (GraphCall, for graph.WithObserver)
// and breaker transitions (BreakerChanged, for breaker.Settings.OnChange).
// Watch adds the gauges read at scrape time: breaker state, intake pause,
// NATS connection, readiness and the consumer's backlog.
//
// Every label has a bounded set of values: outcome, error kind, Graph
// operation, Graph code (capped: codes beyond the first MaxGraphCodes seen
// count as "other"), pause reason. No WABA id, event id or secret is ever a
// label.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// Outcomes of an event, the values of the outcome label.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeRetried   = "retried"
	OutcomePaused    = "paused"
	OutcomeRecorded  = "recorded" // waba.unshared: recorded in the ledger, no result
)

// MaxGraphCodes bounds the distinct Graph error codes used as label values;
// codes seen after that many count as "other".
const MaxGraphCodes = 64

var (
	outcomes   = []string{OutcomeSucceeded, OutcomeFailed, OutcomeRetried, OutcomePaused, OutcomeRecorded}
	errorKinds = []string{events.KindInvalidEvent, events.KindPermanent, events.KindRetriesExhausted, events.KindVerificationFailed}
	graphOps   = []string{graph.OpListSystemUsers, graph.OpListAssignedUsers, graph.OpAssignUser, graph.OpProbe, graph.OpListClientWABAs}
	// breakerStates are the waba_breaker_state values.
	breakerStates = map[breaker.State]float64{breaker.Closed: 0, breaker.HalfOpen: 1, breaker.Open: 2}
)

// Metrics holds the worker's collectors. Create it with New.
type Metrics struct {
	reg *prometheus.Registry

	events        *prometheus.CounterVec
	eventDuration *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	parked        prometheus.Histogram

	graphRequests    *prometheus.CounterVec
	graphDuration    *prometheus.HistogramVec
	graphRateLimited *prometheus.CounterVec
	graphUsage       *usageCollector

	breakerTransitions *prometheus.CounterVec

	leaseWaits   *prometheus.HistogramVec
	ledgerWrites *prometheus.CounterVec

	sweeps        *prometheus.CounterVec
	sweepWABAs    *prometheus.CounterVec
	sweepDuration prometheus.Histogram
	sweepLast     prometheus.Gauge
	sweepInterval prometheus.Gauge
	sweepListed   prometheus.Gauge

	mu    sync.Mutex
	codes map[int]bool // Graph codes with a label value of their own
}

// New returns the worker's metrics on a new registry that also holds the Go
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		codes: map[int]bool{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_events_total",
			Help: "Deliveries of waba.shared events worked, by outcome (succeeded, failed, retried: nak'd to come back later, paused: given back while Graph is unusable) and, for failed, the failed event's error.kind.",
		}, []string{"outcome", "kind"}),
		eventDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waba_event_duration_seconds",
			Help:    "Time to work one delivery of a waba.shared event, from pull to outcome (in-process retries included; publishing the result excluded), by outcome.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waba_events_in_flight",
			Help: "Events being worked now.",
		}),
		parked: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waba_event_parked_seconds",
			Help:    "Time a delivery waited in this process behind another delivery of its WABA (parked: kept in progress, holding no slot), observed when it is taken up. Its _count is the deliveries that waited so; replicas contending for a WABA show in waba_lease_wait_seconds instead.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120},
		}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_graph_requests_total",
			Help: `Graph API round trips, by operation and code: the Graph error code, "0" on success, "transport" when no answer came, "canceled" when the worker gave up, or the HTTP status class ("5xx") of an error without a Graph code.`,
		}, []string{"op", "code"}),
		graphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waba_graph_request_duration_seconds",
			Help:    "Duration of Graph API round trips, body included, by operation.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
		graphRateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_graph_rate_limited_total",
			Help: "Graph API answers that asked the worker to slow down (rate-limit codes 4, 17, 32, 613, 80007, 80008, 130429, or HTTP 429), by operation.",
		}, []string{"op"}),
		graphUsage: newUsageCollector(),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_breaker_transitions_total",
			Help: "Circuit breaker state changes, by the state entered (closed, half_open, open).",
		}, []string{"to"}),
		leaseWaits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waba_lease_wait_seconds",
			Help:    `Time to take a WABA's lease (waba_locks), by contended: "true" when another holder (another replica, or the sweep) held it first; deliveries of one WABA in one process wait before it, in waba_event_parked_seconds. Its _count is the leases taken; rate of contended="true" is the lease contention.`,
			Buckets: []float64{0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 120},
		}, []string{"contended"}),
		ledgerWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_ledger_writes_total",
			Help: `Ledger records written (waba_state), by result ("ok", "failed"). A failed write loses nothing: the result is on the stream, and the next event of the WABA writes the record again.`,
		}, []string{"result"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_sweeps_total",
			Help: "Turns of the discovery sweep loop, by outcome: swept, failed (Graph or NATS failed mid-sweep), busy (another replica holds the sweep's lease), not_due (another replica swept within the interval), error (the lease or the mark could not be read).",
		}, []string{"outcome"}),
		sweepWABAs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_sweep_wabas_total",
			Help: "WABAs the sweeps decided on, by action (emitted, already_emitted, would_emit, skipped, not_listed) and reason (missing, failed, failed_permanent, missing_tasks, reshared, corrupt, onboarded, failed_permanent_recently, invalid_id, not_listed).",
		}, []string{"action", "reason"}),
		sweepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waba_sweep_duration_seconds",
			Help:    "Duration of the sweeps this replica ran (listing, ledger reads and paced publishing).",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600},
		}),
		sweepLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waba_sweep_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful sweep (by any replica) started; 0 before the first. time() minus it is the time since the last sweep.",
		}),
		sweepInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waba_sweep_interval_seconds",
			Help: "SWEEP_INTERVAL in seconds; 0 when this replica does not sweep.",
		}),
		sweepListed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waba_sweep_listed",
			Help: "WABAs Graph listed as shared with the business in the last sweep this replica ran.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		m.events, m.eventDuration, m.inFlight, m.parked,
		m.graphRequests, m.graphDuration, m.graphRateLimited, m.graphUsage,
		m.breakerTransitions,
		m.leaseWaits, m.ledgerWrites,
		m.sweeps, m.sweepWABAs, m.sweepDuration, m.sweepLast, m.sweepInterval, m.sweepListed,
	)
	// Series that exist from the start, so that rate() and alerts see a 0
	// before the first increment.
	for _, o := range outcomes {
		m.eventDuration.WithLabelValues(o)
		if o != OutcomeFailed {
			m.events.WithLabelValues(o, "")
		}
	}
	for _, k := range errorKinds {
		m.events.WithLabelValues(OutcomeFailed, k)
	}
	for _, op := range graphOps {
		m.graphRequests.WithLabelValues(op, "0")
		m.graphDuration.WithLabelValues(op)
		m.graphRateLimited.WithLabelValues(op)
	}
	for _, s := range []string{"closed", "half_open", "open"} {
		m.breakerTransitions.WithLabelValues(s)
	}
	for _, c := range []string{"true", "false"} {
		m.leaseWaits.WithLabelValues(c)
	}
	for _, r := range []string{"ok", "failed"} {
		m.ledgerWrites.WithLabelValues(r)
	}
	for _, o := range []string{sweep.TurnSwept, sweep.TurnFailed, sweep.TurnBusy, sweep.TurnNotDue, sweep.TurnError} {
		m.sweeps.WithLabelValues(o)
	}
	for _, l := range []sweep.Line{
		{Action: sweep.ActionEmitted, Reason: sweep.ReasonMissing},
		{Action: sweep.ActionSkipped, Reason: sweep.ReasonOnboarded},
		{Action: sweep.ActionNotListed, Reason: sweep.ReasonNotListed},
	} {
		m.sweepWABAs.WithLabelValues(string(l.Action), string(l.Reason))
	}
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	}))
}

// EventStarted counts an event in flight.
func (m *Metrics) EventStarted() { m.inFlight.Inc() }

// EventParked observes how long a delivery waited behind its WABA's others.
func (m *Metrics) EventParked(d time.Duration) { m.parked.Observe(d.Seconds()) }

// EventFinished counts a worked delivery by its outcome.
func (m *Metrics) EventFinished(o wabatype.Outcome, d time.Duration) {
	outcome, kind := OutcomeLabels(o)
	m.events.WithLabelValues(outcome, kind).Inc()
	m.eventDuration.WithLabelValues(outcome).Observe(d.Seconds())
	m.inFlight.Dec()
}

// OutcomeLabels returns the outcome and kind labels of an outcome.
func OutcomeLabels(o wabatype.Outcome) (outcome, kind string) {
	switch o.Verdict {
	case wabatype.Done:
		return OutcomeSucceeded, ""
	case wabatype.Failed:
		kind = "other"
		if o.Failed != nil {
			for _, k := range errorKinds {
				if o.Failed.Error.Kind == k {
					kind = k
				}
			}
		}
		return OutcomeFailed, kind
	case wabatype.Paused:
		return OutcomePaused, ""
	case wabatype.Recorded:
		return OutcomeRecorded, ""
	}
	return OutcomeRetried, ""
}

// Waited observes the time one lease took; it makes Metrics a lease.Observer.
func (m *Metrics) Waited(d time.Duration, contended bool) {
	m.leaseWaits.WithLabelValues(strconv.FormatBool(contended)).Observe(d.Seconds())
}

// LedgerWritten counts one ledger write; err is its failure, if any.
func (m *Metrics) LedgerWritten(err error) {
	r := "ok"
	if err != nil {
		r = "failed"
	}
	m.ledgerWrites.WithLabelValues(r).Inc()
}

// SweepInterval sets waba_sweep_interval_seconds (0: not sweeping).
func (m *Metrics) SweepInterval(d time.Duration) { m.sweepInterval.Set(d.Seconds()) }

// SweepTurn counts one turn of sweep.Run; it is RunConfig.Observer.
func (m *Metrics) SweepTurn(t sweep.Turn) {
	m.sweeps.WithLabelValues(t.Outcome).Inc()
	if t.Outcome == sweep.TurnSwept || t.Outcome == sweep.TurnFailed {
		m.sweepDuration.Observe(t.Duration.Seconds())
	}
	if !t.LastSuccess.IsZero() {
		m.sweepLast.Set(float64(t.LastSuccess.Unix()))
	}
}

// Line counts one WABA a sweep decided on; with Swept it makes Metrics a
// sweep.Observer.
func (m *Metrics) Line(l sweep.Line) {
	m.sweepWABAs.WithLabelValues(string(l.Action), string(l.Reason)).Inc()
}

// Swept records what a sweep listed.
func (m *Metrics) Swept(s sweep.Summary, err error) {
	if err == nil {
		m.sweepListed.Set(float64(s.Listed))
	}
}

// GraphCall counts one Graph round trip; pass it to graph.WithObserver.
func (m *Metrics) GraphCall(c graph.Call) {
	op := boundedOp(c.Op)
	m.graphRequests.WithLabelValues(op, m.codeLabel(c)).Inc()
	m.graphDuration.WithLabelValues(op).Observe(c.Duration.Seconds())
	if graph.Classify(c.Err) == graph.ClassRateLimited {
		m.graphRateLimited.WithLabelValues(op).Inc()
	}
	if !c.Usage.IsZero() {
		m.graphUsage.saw(c.Usage)
	}
}

func boundedOp(op string) string {
	for _, o := range graphOps {
		if op == o {
			return op
		}
	}
	return "other"
}

// codeLabel is the code label of a round trip.
func (m *Metrics) codeLabel(c graph.Call) string {
	switch {
	case c.Err == nil:
		return "0"
	case c.Code != 0:
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.codes[c.Code] {
			if len(m.codes) >= MaxGraphCodes {
				return "other"
			}
			m.codes[c.Code] = true
		}
		return strconv.Itoa(c.Code)
	case graph.Classify(c.Err) == graph.ClassCanceled:
		return "canceled"
	case c.HTTPStatus < 100 || c.HTTPStatus > 599:
		return "transport"
	}
	return strconv.Itoa(c.HTTPStatus/100) + "xx"
}

// BreakerChanged counts a breaker transition; call it from
// breaker.Settings.OnChange.
func (m *Metrics) BreakerChanged(_, to breaker.State) {
	m.breakerTransitions.WithLabelValues(breakerStateName(to)).Inc()
}

func breakerStateName(s breaker.State) string {
	switch s {
	case breaker.Open:
		return "open"
	case breaker.HalfOpen:
		return "half_open"
	}
	return "closed"
}
