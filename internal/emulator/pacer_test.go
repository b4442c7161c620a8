package emulator

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The pacer ends each wait at or after its deadline, never before (an
// early answer would be a latency the emulator did not serve), and ends
// them all, however many are due at once.
func TestPacerEndsEveryWaitNoSooner(t *testing.T) {
	t.Parallel()
	p := newPacer()
	t.Cleanup(p.close)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 200 {
		at := time.Now().Add(time.Duration(i%20) * time.Millisecond)
		wg.Go(func() {
			if !p.sleepUntil(t.Context(), done, at) {
				errs <- "a wait was ended early"
				return
			}
			if now := time.Now(); now.Before(at) {
				errs <- "a wait ended before its deadline"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := p.pending(); n != 0 {
		t.Fatalf("%d waits left in the pacer", n)
	}
}

// A wait shorter than every one already armed re-arms the clock: it ends
// first, not after the long one.
func TestPacerEarlierDeadlineRearms(t *testing.T) {
	t.Parallel()
	p := newPacer()
	t.Cleanup(p.close)
	done := make(chan struct{})
	long := make(chan bool, 1)
	go func() { long <- p.sleepUntil(t.Context(), done, time.Now().Add(time.Hour)) }()
	waitFor(t, func() bool { return p.pending() == 1 })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if !p.sleepUntil(ctx, done, time.Now().Add(time.Millisecond)) {
		t.Fatal("the short wait did not end at its deadline: the clock stayed armed for the long one")
	}
	select {
	case <-long:
		t.Fatal("the long wait ended")
	default:
	}
	close(done)
	if <-long {
		t.Fatal("the long wait should report that the server ended it")
	}
	if n := p.pending(); n != 0 {
		t.Fatalf("%d waits left in the pacer after they ended", n)
	}
}

// A wait ended by its request leaves the pacer; after close no wait starts.
func TestPacerCancelAndClose(t *testing.T) {
	t.Parallel()
	p := newPacer()
	ctx, cancel := context.WithCancel(t.Context())
	ended := make(chan bool, 1)
	go func() { ended <- p.sleepUntil(ctx, nil, time.Now().Add(time.Hour)) }()
	waitFor(t, func() bool { return p.pending() == 1 })
	cancel()
	if <-ended {
		t.Fatal("a canceled wait reported its deadline")
	}
	if n := p.pending(); n != 0 {
		t.Fatalf("%d waits left after the cancel", n)
	}
	p.close()
	p.close() // idempotent
	if p.clock != nil && p.sleepUntil(t.Context(), nil, time.Now().Add(time.Hour)) {
		t.Fatal("a wait on a closed pacer reported its deadline")
	}
	if !p.sleepUntil(t.Context(), nil, time.Now().Add(-time.Second)) {
		t.Fatal("a deadline already past should end the wait at once")
	}
}

// The pacer is in use where it matters: on Linux, waits go through the
// timerfd, not runtime timers.
func TestPacerUsesTheKernelClockOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("runtime timers elsewhere")
	}
	p := newPacer()
	defer p.close()
	if p.clock == nil {
		t.Fatal("the pacer fell back to runtime timers")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
