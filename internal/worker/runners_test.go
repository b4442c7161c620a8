package worker

import (
	"sync"
	"testing"
	"time"
)

// A runner that finished takes the next function: work done one function
// after another starts one goroutine, not one per function.
func TestRunnersReuseIdleGoroutines(t *testing.T) {
	t.Parallel()
	r := newRunners(time.Minute)
	defer r.stop()
	for i := range 50 {
		done := make(chan struct{})
		r.run(func() { close(done) })
		<-done
		eventually(t, "the runner idle again", func() bool { return r.idling.Load() == 1 })
		if n := r.started.Load(); n != 1 {
			t.Fatalf("function %d: %d runners started, want 1", i, n)
		}
	}
	// Functions that overlap each get a runner; none waits for another.
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 3 {
		wg.Add(1)
		r.run(func() { defer wg.Done(); <-release })
	}
	close(release)
	wg.Wait()
	if n := r.started.Load(); n != 3 {
		t.Errorf("%d runners started for 3 overlapping functions after one idle, want 3", n)
	}
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
