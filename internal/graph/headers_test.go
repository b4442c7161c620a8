package graph_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/tracing"
)

// swapToken is a TokenSource whose token the test changes.
type swapToken struct{ v atomic.Value }

func (s *swapToken) Token(context.Context) (string, error) { return s.v.Load().(string), nil }

// The client shares one header map per token between its calls. Concurrent
// GETs and POSTs through the tracing transport (which clones and
// instruments each request) each carry their own method's headers and the
// token in force, and a changed token is sent from the next call on. Run
// with -race, a write to a shared map fails this test.
func TestSharedHeadersFollowTheTokenUnderConcurrency(t *testing.T) {
	t.Parallel()
	const first, second = "EAAG-first-token-value", "EAAG-second-token-value"
	var mu sync.Mutex
	bad := []string{}
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, ctype := r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		mu.Lock()
		seen[auth]++
		if (r.Method == http.MethodPost) != (ctype == "application/x-www-form-urlencoded") || r.Header.Get("Accept") != "application/json" {
			bad = append(bad, r.Method+" with Content-Type "+ctype)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			_, _ = io.WriteString(w, `{"success":true}`)
			return
		}
		_, _ = io.WriteString(w, `{"data":[{"id":"61550000000001","tasks":["MANAGE"]}]}`)
	}))
	t.Cleanup(srv.Close)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tok := &swapToken{}
	tok.v.Store(first)
	c, err := graph.NewClient(graph.WithBaseURL(srv.URL), graph.WithToken(tok),
		graph.WithHTTPClient(tracing.WrapClient(srv.Client(), tp)))
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ctx, span := tp.Tracer("t").Start(t.Context(), "event")
				defer span.End()
				for range 10 {
					if _, _, err := c.FindAssignedUser(ctx, "102290129340398", "100200300", "61550000000001"); err != nil {
						t.Error(err)
						return
					}
					if err := c.AssignUser(ctx, "102290129340398", "61550000000001", []string{"MANAGE"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	run()
	tok.v.Store(second)
	run()
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("requests with the other method's headers: %v", bad[:min(len(bad), 5)])
	}
	if seen["Bearer "+first] != 160 || seen["Bearer "+second] != 160 || len(seen) != 2 {
		t.Errorf("Authorization headers seen: %v, want 160 of each token", seen)
	}
}
