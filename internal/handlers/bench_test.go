package handlers_test

import (
	"context"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"strconv"
	"sync"
	"testing"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/handlers"
)

// benchGraph is an in-memory Graph with no I/O: each WABA starts with no
// assignment, so every event is a new WABA (read, POST, verify).
type benchGraph struct {
	mu       sync.Mutex
	assigned map[string][]string
}

func (g *benchGraph) FindSystemUser(context.Context, string, func(graph.SystemUser) bool) (graph.SystemUser, bool, error) {
	return graph.SystemUser{}, false, nil
}

func (g *benchGraph) FindAssignedUser(_ context.Context, wabaID, _, userID string) (graph.AssignedUser, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	tasks, ok := g.assigned[wabaID]
	return graph.AssignedUser{ID: userID, Tasks: tasks}, ok, nil
}

func (g *benchGraph) AssignUser(_ context.Context, wabaID, _ string, tasks []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.assigned[wabaID] = tasks
	return nil
}

func (g *benchGraph) Probe(context.Context, string, bool) error { return nil }

// BenchmarkHandle is the handler's own cost per new WABA, without Graph's
// round trips: decode, three calls through the breaker, the result. Logs
// are discarded (the level check still runs).
func BenchmarkHandle(b *testing.B) {
	g := &benchGraph{assigned: map[string][]string{}}
	a, err := handlers.NewAssigner(handlers.Config{
		Graph:        g,
		Breaker:      breaker.New(breaker.Settings{}),
		BusinessID:   "100200300",
		SystemUserID: "1972555232742222",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		id := strconv.Itoa(102290129340398 + n)
		m := wabatype.Message{
			Data:       []byte(`{"id":"evt-` + id + `","waba_id":"` + id + `","business_id":"100200300","tasks":["MANAGE"],"occurred_at":"2026-11-24T12:00:00Z"}`),
			StreamSeq:  uint64(n),
			Delivery:   1,
			MaxDeliver: 10,
		}
		if out := a.Handle(ctx, m); out.Verdict != wabatype.Done {
			b.Fatalf("verdict %v: %v", out.Verdict, out.Err)
		}
	}
}
