package sweep

import (
	"context"
	"sync"
	"time"

	"github.com/wabaworker/waba-worker/internal/util/timeutil"
)

// pacer is a token bucket of rate tokens a second and room for burst, kept
// as the time the next token is due (the "theoretical arrival time" of
// GCRA): wait takes a token, sleeping until one is due; refund gives the
// last one back, for a publish that stored nothing (a duplicate). It uses
// the monotonic clock, not Config.Now: pacing is about real seconds.
type pacer struct {
	every time.Duration // time per token; 0: no pacing
	burst time.Duration // (burst-1) * every: how far ahead tokens may be taken

	mu  sync.Mutex
	tat time.Time
}

func newPacer(rate float64, burst int) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	every := time.Duration(float64(time.Second) / rate)
	return &pacer{every: every, burst: time.Duration(max(burst, 1)-1) * every}
}

// wait blocks until a token is free, or ctx ends (its error).
func (p *pacer) wait(ctx context.Context) error {
	if p.every == 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.tat.Before(now) {
		p.tat = now
	}
	delay := p.tat.Sub(now) - p.burst
	p.tat = p.tat.Add(p.every)
	p.mu.Unlock()
	if err := timeutil.Sleep(ctx, delay); err != nil {
		p.refund()
		return err
	}
	return nil
}

// refund returns the token of the last wait.
func (p *pacer) refund() {
	if p.every == 0 {
		return
	}
	p.mu.Lock()
	p.tat = p.tat.Add(-p.every)
	p.mu.Unlock()
}
