package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/graph"
)

var (
	transient = &graph.Error{HTTPStatus: 500, Code: 2, IsTransient: true}
	permanent = &graph.Error{HTTPStatus: 400, Code: 100, Subcode: 33}
	rejected  = &graph.Error{HTTPStatus: 401, Code: 190, Type: "OAuthException"}
)

func fail(err error) func() error { return func() error { return err } }

// Only transient failures count; permanent answers, rejected tokens and the
// caller's cancellation leave it closed.
func TestCountsOnlyTransientFailures(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Settings{OpenTimeout: time.Hour, Failures: 3})
	for range 10 {
		for _, err := range []error{permanent, rejected, context.Canceled, fmt.Errorf("wrapped: %w", context.Canceled)} {
			if got := b.Do(fail(err)); !errors.Is(got, err) && got != err {
				t.Fatalf("Do returned %v, want %v", got, err)
			}
		}
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state %v after non-transient errors", b.State())
	}
	for range 3 {
		_ = b.Do(fail(transient))
	}
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 3 transient failures", b.State())
	}
	called := false
	if err := b.Do(func() error { called = true; return nil }); !errors.Is(err, breaker.ErrOpen) || called {
		t.Fatalf("open breaker: err %v, called %v", err, called)
	}
}

// After the open timeout one probe goes through; its success closes the
// breaker, its failure opens it again.
func TestHalfOpenProbe(t *testing.T) {
	t.Parallel()
	var changes []breaker.State
	b := breaker.New(breaker.Settings{OpenTimeout: 50 * time.Millisecond, Failures: 1,
		OnChange: func(_, to breaker.State) { changes = append(changes, to) }})
	_ = b.Do(fail(transient))
	waitHalfOpen(t, b)
	if err := b.Do(fail(transient)); !errors.Is(err, transient) {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.Open {
		t.Fatalf("a failed probe left the breaker %v", b.State())
	}
	waitHalfOpen(t, b)
	if err := b.Do(fail(nil)); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("a good probe left the breaker %v", b.State())
	}
	want := []breaker.State{breaker.Open, breaker.HalfOpen, breaker.Open, breaker.HalfOpen, breaker.Closed}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("transitions %v, want %v", changes, want)
	}
}

func waitHalfOpen(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != breaker.HalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("still %v after 5s", b.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
