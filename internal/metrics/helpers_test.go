package metrics_test

import (
	"context"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/metrics"
)

// find returns the series of family name whose labels include want; it
// fails the test when there is none.
func find(t *testing.T, m *metrics.Metrics, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			return s
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return nil
}

func counter(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	return find(t, m, name, labels).GetCounter().GetValue()
}

func gauge(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	return find(t, m, name, labels).GetGauge().GetValue()
}

func histogram(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	h := find(t, m, name, labels).GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum()
}

// gatheredNames lists the metric families of m's registry.
func gatheredNames(t *testing.T, m *metrics.Metrics) map[string]bool {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
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
