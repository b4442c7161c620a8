package worker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A runner that finished takes the next function: work done one function
// after another starts one goroutine, not one per function. (A runner
// counts itself idle just before it waits for the next function; a
// function run in that instant starts another runner, so the count is
// bounded, not exactly 1: without reuse it would be 50.)
func TestRunnersReuseIdleGoroutines(t *testing.T) {
	t.Parallel()
	r := newRunners(time.Minute)
	defer r.stop()
	for range 50 {
		done := make(chan struct{})
		r.run(func() { close(done) })
		<-done
		eventually(t, "every runner idle again", func() bool { return r.idling.Load() == r.started.Load() })
	}
	if n := r.started.Load(); n > 3 {
		t.Fatalf("%d runners started for 50 functions run one after another, want at most 3", n)
	}
	// Functions that overlap each get a runner; none waits for another.
	var wg sync.WaitGroup
	var running atomic.Int64
	release := make(chan struct{})
	for range 3 {
		wg.Add(1)
		r.run(func() { defer wg.Done(); running.Add(1); <-release })
	}
	eventually(t, "the 3 functions running at once", func() bool { return running.Load() == 3 })
	close(release)
	wg.Wait()
}

// Idle runners end after their idle time, and stop ends the rest.
func TestRunnersEnd(t *testing.T) {
	t.Parallel()
	r := newRunners(50 * time.Millisecond)
	r.run(func() {})
	eventually(t, "the runner idle", func() bool { return r.idling.Load() == 1 })
	eventually(t, "the idle runner ended", func() bool { return r.idling.Load() == 0 })
	r.run(func() {})
	if n := r.started.Load(); n != 2 {
		t.Errorf("%d started, want a new runner after the idle one ended", n)
	}
	r.stop()
	if n := r.idling.Load(); n != 0 {
		t.Errorf("%d runners idle after stop", n)
	}
}
