package wabatype_test

import (
	"fmt"

	"github.com/wabaworker/waba-worker/internal/wabatype"
)

func ExampleReplayMsgID() {
	fmt.Println(wabatype.ReplayMsgID("evt-7f3c", 1234))
	// Output: evt-7f3c.replay.1234
}

func ExampleResultMsgID() {
	fmt.Println(wabatype.ResultMsgID("evt-7f3c", "", wabatype.OutcomeSucceeded))
	fmt.Println(wabatype.ResultMsgID("evt-7f3c", "1234", wabatype.OutcomeFailed))
	fmt.Println(wabatype.ValidResultMsgID("evt-7f3c.replay.1234.failed", "evt-7f3c", wabatype.OutcomeFailed))
	// Output:
	// evt-7f3c.succeeded
	// evt-7f3c.replay.1234.failed
	// true
}
