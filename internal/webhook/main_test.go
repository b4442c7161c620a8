package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No request, publish or delivery goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
