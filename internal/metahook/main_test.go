package metahook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No delivery goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
