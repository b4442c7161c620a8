package metrics

import (
	"context"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabaworker/waba-worker/internal/breaker"
)

// Sources are the states read at scrape time. Each field may be nil: its
// metrics are then left out.
type Sources struct {
	// Breaker gives waba_breaker_state (0 closed, 1 half-open, 2 open).
	Breaker func() breaker.State
	// Paused gives waba_intake_paused{reason}.
	Paused func() wabatype.PauseReason
	// NATSConnected gives waba_nats_connected.
	NATSConnected func() bool
	// Ready gives waba_ready, what /readyz answers.
	Ready func() bool
	// Concurrency gives waba_worker_concurrency, the events the worker
	// works at once at most (saturation is in_flight / concurrency).
	Concurrency int
	// Consumer gives the consumer's backlog, waba_consumer_pending_messages
	// and waba_consumer_ack_pending_messages. It is called at most every
	// ConsumerCacheFor, with a timeout of ConsumerTimeout; an error leaves
	// the metrics out of that scrape.
	Consumer func(context.Context) (ConsumerState, error)
}

// ConsumerState is the backlog of the durable consumer.
type ConsumerState struct {
	Pending    uint64 // messages not yet delivered (NumPending)
	AckPending uint64 // delivered, not yet acked (NumAckPending)
}

// How the consumer's state is polled: cheap, whatever the scrape rate.
const (
	ConsumerCacheFor = 5 * time.Second
	ConsumerTimeout  = 2 * time.Second
)

// Watch registers the gauges read from s at scrape time. Call it once.
func (m *Metrics) Watch(s Sources) {
	if s.Breaker != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waba_breaker_state",
			Help: "Circuit breaker around Graph calls: 0 closed, 1 half-open, 2 open.",
		}, func() float64 { return breakerStates[s.Breaker()] }))
	}
	if s.Paused != nil {
		for _, r := range []wabatype.PauseReason{wabatype.PauseBreaker, wabatype.PauseCredentials} {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "waba_intake_paused",
				Help:        "1 while the worker takes no new events, by reason: breaker_open (Graph failing) or credentials_rejected (Graph rejects the token).",
				ConstLabels: prometheus.Labels{"reason": r.String()},
			}, func() float64 { return bool01(s.Paused() == r) }))
		}
	}
	if s.NATSConnected != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waba_nats_connected",
			Help: "1 while the NATS connection is up.",
		}, func() float64 { return bool01(s.NATSConnected()) }))
	}
	if s.Ready != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "waba_ready",
			Help: "1 when /readyz answers 200: NATS connected, consumer bound, credentials accepted, breaker not open.",
		}, func() float64 { return bool01(s.Ready()) }))
	}
	if s.Concurrency > 0 {
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waba_worker_concurrency",
			Help: "Events the worker works at once at most (WORKER_CONCURRENCY).",
		})
		g.Set(float64(s.Concurrency))
		m.reg.MustRegister(g)
	}
	if s.Consumer != nil {
		m.reg.MustRegister(&consumerCollector{
			fetch: s.Consumer,
			pending: prometheus.NewDesc("waba_consumer_pending_messages",
				"Messages of the durable consumer not yet delivered to any worker (its NumPending).", nil, nil),
			ackPending: prometheus.NewDesc("waba_consumer_ack_pending_messages",
				"Messages delivered to workers and not yet acked (the consumer's NumAckPending).", nil, nil),
		})
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// consumerCollector reports the consumer's backlog, polled at most every
// ConsumerCacheFor whatever the scrape rate.
type consumerCollector struct {
	fetch               func(context.Context) (ConsumerState, error)
	pending, ackPending *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	ok   bool
	last ConsumerState
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= ConsumerCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), ConsumerTimeout)
		st, err := c.fetch(ctx)
		cancel()
		c.at, c.ok = time.Now(), err == nil
		if err == nil {
			c.last = st
		}
	}
	if !c.ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(c.last.Pending))
	ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(c.last.AckPending))
}
