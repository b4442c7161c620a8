package wabatype

import (
	"strconv"
	"strings"

	"github.com/wabaworker/waba-worker/internal/events"
)

// HeaderReplayOf marks an input republished by `worker replay`; its value is
// the stream sequence of the failed event replayed.
const HeaderReplayOf = "Replay-Of"

// The outcomes a result message id ends with.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// ResultMsgID is the Nats-Msg-Id of a result: <event_id>.<outcome>, so that
// a redelivery after a crash does not publish the result twice.
//
// A replayed input (header Replay-Of: <failed-seq>) gets results with ids of
// their own, <event_id>.replay.<seq>.<outcome>: within the dedupe window the
// plain id would drop the replay's result as a duplicate of the original's.
// A replayOf that is not a valid id is ignored.
func ResultMsgID(eventID, replayOf, outcome string) string {
	if replayOf != "" && events.ValidID(replayOf) {
		return eventID + ".replay." + replayOf + "." + outcome
	}
	return eventID + "." + outcome
}

// ReplayMsgID is the Nats-Msg-Id of the replay of the failed event at stream
// sequence failedSeq: <event_id>.replay.<failed-seq>.
func ReplayMsgID(eventID string, failedSeq uint64) string {
	return eventID + ".replay." + strconv.FormatUint(failedSeq, 10)
}

// ValidResultMsgID reports whether msgID is a result id of eventID for
// outcome: <event>.<outcome> or, for the result of a replayed input,
// <event>.replay.<seq>.<outcome>.
func ValidResultMsgID(msgID, eventID, outcome string) bool {
	if msgID == eventID+"."+outcome {
		return true
	}
	seq, ok := strings.CutPrefix(msgID, eventID+".replay.")
	if !ok {
		return false
	}
	seq, ok = strings.CutSuffix(seq, "."+outcome)
	return ok && seq != "" && !strings.Contains(seq, ".")
}
