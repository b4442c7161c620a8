// Package timeutil holds the worker's one helper for waiting: a sleep that a
// context cuts short.
package timeutil

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx ends, whichever comes first; it returns
// ctx's error when ctx ended first. A d <= 0 returns at once (nil unless
// ctx has already ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
