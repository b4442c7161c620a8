package webhook

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxLabelValues bounds the distinct field and event label values of the
// Prometheus observer; values seen after that many count as "other".
const MaxLabelValues = 64

// Prometheus is an Observer that keeps the gateway's metrics; it is a
// prometheus.Collector, so register it on the process's registry:
//
//	waba_webhook_requests_total{outcome}
//	waba_webhook_request_duration_seconds{outcome}
//	waba_webhook_changes_total{field,event,result}
//	waba_webhook_signature_failures_total{reason}
//	waba_webhook_publish_duration_seconds{result}
//	waba_webhook_published_messages_total
//
// Field and event come from Meta's (signed) payloads; each label keeps at
// most MaxLabelValues distinct values, reduced to subject-token characters.
type Prometheus struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	changes         *prometheus.CounterVec
	sigFailures     *prometheus.CounterVec
	publishDuration *prometheus.HistogramVec
	published       prometheus.Counter

	mu     sync.Mutex
	fields map[string]bool
	evs    map[string]bool
}

// NewPrometheus returns the gateway's metrics, with the request outcomes and
// signature failure series present from the start (at 0).
func NewPrometheus() *Prometheus {
	p := &Prometheus{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_webhook_requests_total",
			Help: "Requests to the webhook gateway, by outcome: accepted (200 after every PubAck), unavailable (503: JetStream did not take them, Meta delivers again), unsigned (401), bad_signature (403), bad_envelope (400), too_large (413), verified / verify_rejected (verification requests), config_error (503: app secret or verify token unavailable), read_error, method_not_allowed, not_found.",
		}, []string{"outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waba_webhook_request_duration_seconds",
			Help:    "Time to answer a webhook gateway request, body read and publishes included, by outcome.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_webhook_changes_total",
			Help: `Webhook changes stored, by field, account_update event ("" for other fields) and result: raw (stored raw only), shared (also a waba.shared), unshared (also a waba.unshared), unmapped (an event the gateway maps, stored raw only because it could not be mapped, e.g. no valid waba_id).`,
		}, []string{"field", "event", "result"}),
		sigFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waba_webhook_signature_failures_total",
			Help: "Webhook deliveries refused for their X-Hub-Signature-256, by reason: missing (401) or mismatch (403, also malformed).",
		}, []string{"reason"}),
		publishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waba_webhook_publish_duration_seconds",
			Help:    "Time from a delivery's first publish to its last PubAck (or the failure), by result (ok, error).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waba_webhook_published_messages_total",
			Help: "Messages the gateway published and JetStream acknowledged (raw changes plus waba.shared and waba.unshared events; duplicates dropped by the stream included).",
		}),
		fields: map[string]bool{},
		evs:    map[string]bool{},
	}
	for _, o := range []string{OutcomeAccepted, OutcomeUnavailable, OutcomeUnsigned, OutcomeBadSignature, OutcomeBadEnvelope, OutcomeTooLarge, OutcomeVerified, OutcomeVerifyRejected, OutcomeConfigError} {
		p.requests.WithLabelValues(o)
	}
	p.sigFailures.WithLabelValues(SignatureMissing)
	p.sigFailures.WithLabelValues(SignatureMismatch)
	return p
}

// Describe implements prometheus.Collector.
func (p *Prometheus) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range p.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (p *Prometheus) Collect(ch chan<- prometheus.Metric) {
	for _, c := range p.collectors() {
		c.Collect(ch)
	}
}

func (p *Prometheus) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.requests, p.requestDuration, p.changes, p.sigFailures, p.publishDuration, p.published}
}

// Request implements Observer.
func (p *Prometheus) Request(outcome string, d time.Duration) {
	p.requests.WithLabelValues(outcome).Inc()
	p.requestDuration.WithLabelValues(outcome).Observe(d.Seconds())
}

// Change implements Observer.
func (p *Prometheus) Change(field, event, result string) {
	p.mu.Lock()
	field, event = bounded(p.fields, field), bounded(p.evs, event)
	p.mu.Unlock()
	p.changes.WithLabelValues(field, event, result).Inc()
}

// SignatureFailure implements Observer.
func (p *Prometheus) SignatureFailure(reason string) { p.sigFailures.WithLabelValues(reason).Inc() }

// Published implements Observer.
func (p *Prometheus) Published(messages int, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	} else {
		p.published.Add(float64(messages))
	}
	p.publishDuration.WithLabelValues(result).Observe(d.Seconds())
}

// bounded returns v as a label value: as Token makes it ("" stays ""),
// or "other" once seen holds MaxLabelValues others.
func bounded(seen map[string]bool, v string) string {
	if v != "" {
		v = Token(v)
	}
	if seen[v] {
		return v
	}
	if len(seen) >= MaxLabelValues {
		return "other"
	}
	seen[v] = true
	return v
}
