package worker

import (
	"sync"
	"sync/atomic"
	"time"
)

// runnerIdle is how long a runner goroutine waits for its next function
// before it ends.
const runnerIdle = 10 * time.Second

// runners runs functions on goroutines that outlive one function: a runner
// that finished a delivery takes the next one, so a goroutine whose stack
// grew for one event's JSON and HTTP keeps it for the next, rather than a
// goroutine being started, and its stack grown again, per message. A
// function finds an idle runner or starts one: it never waits. Runners idle
// for runnerIdle end.
type runners struct {
	jobs chan func() // unbuffered: a send succeeds only to an idle runner
	idle time.Duration
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	started, idling atomic.Int64 // runners started, and waiting now (for tests)
}

func newRunners(idle time.Duration) *runners {
	return &runners{jobs: make(chan func()), idle: idle, quit: make(chan struct{})}
}

// run runs f on an idle runner, or on a new one.
func (r *runners) run(f func()) {
	select {
	case r.jobs <- f:
	default:
		r.wg.Add(1)
		r.started.Add(1)
		go r.loop(f)
	}
}

func (r *runners) loop(f func()) {
	defer r.wg.Done()
	t := time.NewTimer(r.idle)
	defer t.Stop()
	for {
		f()
		t.Reset(r.idle)
		r.idling.Add(1)
		select {
		case f = <-r.jobs:
			r.idling.Add(-1)
		case <-t.C:
			r.idling.Add(-1)
			return
		case <-r.quit:
			r.idling.Add(-1)
			return
		}
	}
}

// stop ends the idle runners and waits for them; call it once no more
// functions are run and those running have returned.
func (r *runners) stop() {
	r.once.Do(func() { close(r.quit) })
	r.wg.Wait()
}
