package cli_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every command stops what it started: no goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
