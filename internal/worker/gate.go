package worker

import (
	"context"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"sync"
	"time"
)

// gate says whether the worker may take new events. It closes while Graph
// cannot be worked with (breaker open, token rejected) and opens again once
// a probe succeeds.
type gate struct {
	mu     sync.Mutex
	reason wabatype.PauseReason // NoPause while open
	since  time.Time            // when the current reason began
	open   chan struct{}        // closed while the gate is open
	paused chan struct{}        // closed while the gate is shut
}

func newGate() *gate {
	g := &gate{open: make(chan struct{}), paused: make(chan struct{})}
	close(g.open)
	return g
}

// pause shuts the gate for reason; it reports whether the reason is new.
func (g *gate) pause(r wabatype.PauseReason) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason == r {
		return false
	}
	if g.reason == wabatype.NoPause {
		g.open = make(chan struct{})
		close(g.paused)
	}
	g.reason, g.since = r, time.Now()
	return true
}

// resume opens the gate; it reports whether it was shut.
func (g *gate) resume() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason == wabatype.NoPause {
		return false
	}
	g.reason = wabatype.NoPause
	g.paused = make(chan struct{})
	close(g.open)
	return true
}

// state returns the pause reason (NoPause when open) and when it began.
func (g *gate) state() (wabatype.PauseReason, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason, g.since
}

// waitOpen blocks until the gate is open; false when ctx ended first.
func (g *gate) waitOpen(ctx context.Context) bool {
	return g.wait(ctx, func() chan struct{} { return g.open })
}

// waitPaused blocks until the gate is shut; false when ctx ended first.
func (g *gate) waitPaused(ctx context.Context) bool {
	return g.wait(ctx, func() chan struct{} { return g.paused })
}

// wait blocks until the channel that pick returns (under the lock) is
// closed; false when ctx ended first.
func (g *gate) wait(ctx context.Context, pick func() chan struct{}) bool {
	g.mu.Lock()
	ch := pick()
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
