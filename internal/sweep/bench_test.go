package sweep_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

// BenchmarkSweep is a first sweep over n listed WABAs of which 90% are
// onboarded, against the emulator over HTTP and an in-process NATS, unpaced:
// the time to list and decide, the events emitted, the Graph calls, and the
// peak growth of the live heap during the sweep (sampled every 200µs; it
// includes the emulator's and the NATS server's transient garbage, so it is
// an upper bound of the sweep's own). Compare n=1000 with n=10000: the
// listed-id set aside, memory does not grow with the number listed.
//
//	go test ./internal/sweep -run '^$' -bench Sweep -benchtime 3x
func BenchmarkSweep(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("listed=%d", n), func(b *testing.B) { benchSweep(b, n) })
	}
}

func benchSweep(b *testing.B, n int) {
	tb := setup(b, n)
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		if i%10 == 0 {
			continue // every tenth WABA is not onboarded
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := ledger.Record{WABAID: wabaID(i), State: ledger.StateAssigned, SystemUserID: emulator.DevSystemUserID,
				HeldTasks: []string{"MANAGE"}, EventID: "evt", UpdatedAt: time.Now()}
			if err := tb.ledger.Put(ctx, r); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	s, err := sweep.New(tb.config())
	if err != nil {
		b.Fatal(err)
	}
	var peak float64
	var sum sweep.Summary
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		tb.newStream()
		tb.graph.ResetRequests()
		runtime.GC()
		base := heapLive()
		stop := sampleHeap()
		b.StartTimer()

		sum, err = s.Sweep(ctx, nil)

		b.StopTimer()
		peak = max(peak, float64(stop()-base))
		if err != nil {
			b.Fatal(err)
		}
		if sum.Emitted != n/10 || sum.Onboarded != n-n/10 {
			b.Fatalf("summary %+v", sum)
		}
		b.StartTimer()
	}
	b.StopTimer()
	calls := tb.graph.Count(graph.OpListClientWABAs)
	retained := retainedDuringSweep(b, tb)
	b.ReportMetric(float64(sum.Emitted), "emitted/op")
	b.ReportMetric(float64(calls), "graph-calls/op")
	b.ReportMetric(peak/(1<<20), "peak-heap-MB")
	b.ReportMetric(peak/float64(n), "peak-heap-B/listed")
	b.ReportMetric(float64(retained)/(1<<10), "growth-KB")
	b.ReportMetric(float64(retained)/float64(n), "growth-B/listed")
}

// retainedDuringSweep runs a dry run (the same listing, lookups and listed
// set, without the stream growing) that collects the garbage after every
// page and reads the live heap then. It returns how much the live heap grew
// from the first page to its largest reading: what the sweep holds beyond
// one page as the number listed grows (the listed-id set), without the
// transient garbage of HTTP, JSON and NATS.
func retainedDuringSweep(b *testing.B, tb *testBundle) int64 {
	var first, peak uint64
	pages := 0
	lister := listerFunc(func(ctx context.Context, biz string, limit int, fn func([]graph.ClientWABA) error) error {
		return tb.client.ListClientWABAs(ctx, biz, limit, func(p []graph.ClientWABA) error {
			err := fn(p)
			runtime.GC()
			h := heapLive()
			if pages++; pages == 1 {
				first = h
			}
			peak = max(peak, h)
			return err
		})
	})
	s, err := sweep.New(tb.config(dryRun, func(c *sweep.Config) { c.Lister = lister }))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Sweep(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	return int64(peak) - int64(first)
}

// sampleHeap samples the live heap until the returned function is called,
// which returns the largest sample.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if h := heapLive(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// heapLive is the bytes of heap objects (after a GC: the live ones).
func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
