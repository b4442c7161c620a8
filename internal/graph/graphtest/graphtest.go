// Package graphtest starts the Graph emulator (internal/emulator) for a
// test: on a loopback port of its own, closed by t.Cleanup. It is the only
// part of the emulator that imports package testing; the worker binary does
// not link it.
package graphtest

import (
	"testing"

	"github.com/wabaworker/waba-worker/internal/emulator"
)

// NewTestServer starts the emulator on an httptest server, closed with
// t.Cleanup. It fails the test if the seed is invalid.
func NewTestServer(t testing.TB, seed emulator.Seed, opts ...emulator.Option) *emulator.Server {
	t.Helper()
	s, err := emulator.Start(seed, opts...)
	if err != nil {
		t.Fatalf("graphtest.NewTestServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
