package timeutil_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/util/timeutil"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	if err := timeutil.Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	if err := timeutil.Sleep(t.Context(), 0); err != nil {
		t.Errorf("Sleep(0): %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if err := timeutil.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after cancel: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("Sleep outlived its context")
	}
}
