package emulator

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// A pacer ends latency waits at their deadlines. A runtime timer would do,
// but an idle Go program's timers fire late: the netpoller sleeps in whole
// milliseconds (runtime/netpoll_epoll.go), so a 10 ms wait took 10.37 ms
// on average (64 goroutines waiting 10 ms in a loop on a 2-CPU machine),
// and a latency of 10 ms became 11 ms round trips. On Linux the pacer arms
// one timerfd, read through the netpoller, for the earliest deadline; the
// kernel wakes it at its high-resolution timer's precision. Elsewhere, or
// when the timerfd cannot be made, waits fall back to runtime timers.
type pacer struct {
	mu     sync.Mutex
	waits  waitHeap
	clock  clock // nil: runtime timers
	closed bool
}

// A clock is the pacer's wake-up source: arm sets it to fire once after d
// (d > 0), wait blocks until it fires or is closed (false).
type clock interface {
	arm(d time.Duration) error
	wait() bool
	close()
}

type pacedWait struct {
	at    time.Time
	ready chan struct{}
	index int // in the heap; -1 once released or removed
}

func newPacer() *pacer {
	p := &pacer{}
	if c, err := newClock(); err == nil {
		p.clock = c
		go p.run()
	}
	return p
}

// sleepUntil waits until at; false when ctx or done ended the wait first.
func (p *pacer) sleepUntil(ctx context.Context, done <-chan struct{}, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return true
	}
	if p.clock == nil {
		return timerSleep(ctx, done, d)
	}
	w := &pacedWait{at: at, ready: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	heap.Push(&p.waits, w)
	if w.index == 0 {
		p.armLocked(time.Now())
	}
	p.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	case <-done:
	}
	p.mu.Lock()
	if w.index >= 0 {
		heap.Remove(&p.waits, w.index)
	}
	p.mu.Unlock()
	return false
}

// run releases the waits that are due each time the clock fires.
func (p *pacer) run() {
	for p.clock.wait() {
		p.mu.Lock()
		now := time.Now()
		for len(p.waits) > 0 && !p.waits[0].at.After(now) {
			w := heap.Pop(&p.waits).(*pacedWait)
			close(w.ready)
		}
		p.armLocked(now)
		p.mu.Unlock()
	}
}

// armLocked sets the clock for the earliest wait, if any. An early wake-up
// (a removed wait's deadline) only re-arms.
func (p *pacer) armLocked(now time.Time) {
	if len(p.waits) == 0 || p.closed {
		return
	}
	if err := p.clock.arm(max(p.waits[0].at.Sub(now), time.Microsecond)); err != nil {
		// Cannot happen with a valid timerfd; never strand a wait.
		for len(p.waits) > 0 {
			close(heap.Pop(&p.waits).(*pacedWait).ready)
		}
	}
}

// pending is how many waits the pacer holds.
func (p *pacer) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waits)
}

func (p *pacer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.clock != nil {
		p.clock.close()
	}
}

func timerSleep(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}

// waitHeap orders waits by deadline (container/heap).
type waitHeap []*pacedWait

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*pacedWait)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}
