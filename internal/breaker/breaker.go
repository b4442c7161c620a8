// Package breaker is the circuit breaker around Graph calls: a thin layer on
// sony/gobreaker that counts only transient failures (network errors, 5xx,
// 429, transient and rate-limit codes). A permanent answer or a rejected
// token says nothing about Graph's health, and the caller's own cancellation
// says nothing at all, so neither moves the breaker.
package breaker

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// ErrOpen is returned, without calling Graph, while the breaker is open or
// while its half-open probe is already under way.
var ErrOpen = errors.New("circuit breaker is open: Graph is failing")

// State is the breaker's state.
type State = gobreaker.State

// The breaker's states.
const (
	Closed   = gobreaker.StateClosed
	HalfOpen = gobreaker.StateHalfOpen
	Open     = gobreaker.StateOpen
)

// The defaults of Settings.
const (
	DefaultOpenTimeout = 30 * time.Second
	DefaultFailures    = 5
)

// Settings tune a Breaker.
type Settings struct {
	// OpenTimeout is how long the breaker stays open before it lets one
	// probe through. Defaults to DefaultOpenTimeout (30s).
	OpenTimeout time.Duration
	// Failures is how many transient failures in a row open it. Defaults to
	// DefaultFailures (5).
	Failures uint32
	// OnChange, if set, is called on every state change.
	OnChange func(from, to State)
}

// Breaker wraps Graph calls. Its zero value is not usable; call New.
type Breaker struct {
	cb          *gobreaker.CircuitBreaker[struct{}]
	openTimeout time.Duration
}

// New returns a closed breaker.
func New(s Settings) *Breaker {
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = DefaultOpenTimeout
	}
	if s.Failures == 0 {
		s.Failures = DefaultFailures
	}
	st := gobreaker.Settings{
		Name:        "graph",
		MaxRequests: 1,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
		IsSuccessful: func(err error) bool {
			return !graph.Classify(err).Retryable()
		},
		IsExcluded: func(err error) bool {
			return graph.Classify(err) == graph.ClassCanceled
		},
	}
	if s.OnChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { s.OnChange(from, to) }
	}
	return &Breaker{cb: gobreaker.NewCircuitBreaker[struct{}](st), openTimeout: s.OpenTimeout}
}

// Do runs fn unless the breaker is open, and counts its result.
func (b *Breaker) Do(fn func() error) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ErrOpen
	}
	return err
}

// State is the current state; an open breaker whose timeout has passed
// reports half-open.
func (b *Breaker) State() State { return b.cb.State() }

// OpenTimeout is how long the breaker stays open.
func (b *Breaker) OpenTimeout() time.Duration { return b.openTimeout }
