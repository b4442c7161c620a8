package handlers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wabaworker/waba-worker/internal/util/timeutil"
)

// errPaced is the cause of a retryLater when a rate-limit pause outlasts the
// delivery's budget.
var errPaced = errors.New("graph rate limit: waiting for the time Meta asked for")

// pacer holds back every Graph call of the process until the time a
// rate-limit answer asked for (Retry-After or estimated_time_to_regain_access).
type pacer struct {
	mu    sync.Mutex
	until time.Time
}

// hold delays calls by at least d from now.
func (p *pacer) hold(d time.Duration) {
	t := time.Now().Add(d)
	p.mu.Lock()
	if t.After(p.until) {
		p.until = t
	}
	p.mu.Unlock()
}

// wait blocks until calls may go on. When that is beyond the delivery's
// budget (elapsed of budget spent), it returns a retryLater at once.
func (p *pacer) wait(ctx context.Context, elapsed, budget time.Duration) error {
	p.mu.Lock()
	d := time.Until(p.until)
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	if elapsed+d > budget {
		return &retryLater{err: errPaced, after: d}
	}
	return timeutil.Sleep(ctx, d)
}
