package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// usageCollector is waba_graph_usage_percent. A Graph call hands it its usage
// headers as sent (a copy of two strings, under a mutex); they are parsed at
// scrape time, once per scrape at most, instead of on every answer (which
// cost a tenth of the worker's CPU per event). A header that does not parse
// leaves the last good values in place, as a gauge that was not set would.
type usageCollector struct {
	desc *prometheus.Desc

	mu               sync.Mutex
	appRaw, bizRaw   string // the last headers seen
	appDone, bizDone string // the headers app and biz were parsed from
	app, biz         [3]float64
	hasApp, hasBiz   bool
}

func newUsageCollector() *usageCollector {
	return &usageCollector{desc: prometheus.NewDesc("waba_graph_usage_percent",
		"Last rate-limit usage Graph reported, in percent: header app (X-App-Usage) or business (X-Business-Use-Case-Usage, the highest entry), metric call_count, total_cputime or total_time.",
		[]string{"header", "metric"}, nil)}
}

// saw keeps the headers of one answer; an absent one keeps the last.
func (c *usageCollector) saw(u graph.Usage) {
	c.mu.Lock()
	if u.AppHeader != "" {
		c.appRaw = u.AppHeader
	}
	if u.BusinessHeader != "" {
		c.bizRaw = u.BusinessHeader
	}
	c.mu.Unlock()
}

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.appRaw != c.appDone {
		c.appDone = c.appRaw
		if a := (graph.Usage{AppHeader: c.appRaw}).App(); a != nil {
			c.app, c.hasApp = [3]float64{float64(a.CallCount), float64(a.TotalCPUTime), float64(a.TotalTime)}, true
		}
	}
	if c.bizRaw != c.bizDone {
		c.bizDone = c.bizRaw
		if b := (graph.Usage{BusinessHeader: c.bizRaw}).Business(); len(b) > 0 {
			var v [3]float64
			for _, entries := range b {
				for _, e := range entries {
					v = [3]float64{max(v[0], float64(e.CallCount)), max(v[1], float64(e.TotalCPUTime)), max(v[2], float64(e.TotalTime))}
				}
			}
			c.biz, c.hasBiz = v, true
		}
	}
	app, biz, hasApp, hasBiz := c.app, c.biz, c.hasApp, c.hasBiz
	c.mu.Unlock()
	emit := func(header string, v [3]float64) {
		for i, metric := range [3]string{"call_count", "total_cputime", "total_time"} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v[i], header, metric)
		}
	}
	if hasApp {
		emit("app", app)
	}
	if hasBiz {
		emit("business", biz)
	}
}
