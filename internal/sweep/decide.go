package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/ledger"
)

// Action is what the sweep did about one WABA.
type Action string

// The actions of a Line.
const (
	// ActionEmitted: a waba.shared event was published and JetStream stored it.
	ActionEmitted Action = "emitted"
	// ActionAlreadyEmitted: the event was published, and JetStream answered
	// that a message with its id is already in the stream (an earlier sweep
	// over the same ledger record, or another replica's): nothing new stored.
	ActionAlreadyEmitted Action = "already_emitted"
	// ActionWouldEmit: a dry run found the WABA to emit.
	ActionWouldEmit Action = "would_emit"
	// ActionSkipped: nothing to do, see the Reason.
	ActionSkipped Action = "skipped"
	// ActionNotListed: the ledger shows the WABA as assigned but Graph no
	// longer lists it as shared. Reported, never touched.
	ActionNotListed Action = "not_listed"
)

// Reason says why a WABA was emitted or skipped.
type Reason string

// Reasons to emit a listed WABA.
const (
	// ReasonMissing: the ledger has no record of the WABA (its webhook was
	// lost, it was shared before the worker was deployed, ...).
	ReasonMissing Reason = "missing"
	// ReasonFailed: its last event failed with a retryable kind
	// (retries_exhausted, verification_failed).
	ReasonFailed Reason = "failed"
	// ReasonFailedPermanent: its last event failed permanently (kind
	// permanent or invalid_event) at least PermanentRetry ago.
	ReasonFailedPermanent Reason = "failed_permanent"
	// ReasonMissingTasks: it is assigned, but the system user lacks one of
	// the wanted tasks.
	ReasonMissingTasks Reason = "missing_tasks"
	// ReasonReshared: the ledger says unshared, and Graph lists it again.
	ReasonReshared Reason = "reshared"
	// ReasonCorrupt: its ledger record cannot be read; the worker rewrites
	// it when it works the event.
	ReasonCorrupt Reason = "corrupt"
)

// Reasons to skip a listed WABA, and the reason of a not-listed one.
const (
	// ReasonOnboarded: assigned with every wanted task.
	ReasonOnboarded Reason = "onboarded"
	// ReasonFailedPermanentRecently: it failed permanently less than
	// PermanentRetry ago; it is emitted again once that has passed.
	ReasonFailedPermanentRecently Reason = "failed_permanent_recently"
	// ReasonInvalidID: Graph listed an id that is not 1-32 digits.
	ReasonInvalidID Reason = "invalid_id"
	// ReasonNotListed: the reason of an ActionNotListed line.
	ReasonNotListed Reason = "not_listed"
)

// permanentKinds are the failed kinds emitted at most once per
// PermanentRetry: retrying them at every sweep would only repeat the same
// answer. invalid_event is among them as the lead asked; see doc.go.
var permanentKinds = []string{events.KindPermanent, events.KindInvalidEvent}

// decision is what to do about one listed WABA.
type decision struct {
	emit   bool
	reason Reason
	id     string // event id and Nats-Msg-Id when emit
}

// decide is the sweep's rule for one listed WABA, given its ledger record
// (found false: none; corrupt true: unreadable), the wanted tasks, the
// sweep's time and the permanent-failure period. It is pure.
func decide(wabaID string, rec ledger.Record, found, corrupt bool, wanted []string, now time.Time, permanentRetry time.Duration) decision {
	switch {
	case corrupt:
		return emitDecision(wabaID, ReasonCorrupt, nil, wanted, "")
	case !found:
		return emitDecision(wabaID, ReasonMissing, nil, wanted, "")
	}
	switch rec.State {
	case ledger.StateAssigned:
		if holdsAll(rec.HeldTasks, wanted) {
			return decision{reason: ReasonOnboarded}
		}
		return emitDecision(wabaID, ReasonMissingTasks, &rec, wanted, "")
	case ledger.StateUnshared:
		return emitDecision(wabaID, ReasonReshared, &rec, wanted, "")
	case ledger.StateFailed:
		if !slices.Contains(permanentKinds, rec.ErrorKind) {
			return emitDecision(wabaID, ReasonFailed, &rec, wanted, "")
		}
		if now.Sub(rec.UpdatedAt) < permanentRetry {
			return decision{reason: ReasonFailedPermanentRecently}
		}
		return emitDecision(wabaID, ReasonFailedPermanent, &rec, wanted, now.UTC().Format("20060102"))
	}
	// Validate admits no other state; a future one is read as "not known".
	return emitDecision(wabaID, ReasonCorrupt, &rec, wanted, "")
}

func emitDecision(wabaID string, reason Reason, rec *ledger.Record, wanted []string, day string) decision {
	return decision{emit: true, reason: reason, id: MsgID(wabaID, reason, rec, wanted, day)}
}

// MsgID is the event id and Nats-Msg-Id of the sweep's waba.shared for a
// WABA: "sweep-<waba>-<hash>", or "sweep-<waba>-<yyyymmdd>-<hash>" for the
// daily retry of a permanent failure (day is the sweep's UTC date, "" for
// the others). The hash (16 hex digits of SHA-256) covers the reason, the
// ledger record as it was read (state, updated_at, event_id, error_kind,
// held_tasks; nil for no record) and the wanted tasks. So sweeps over an
// unchanged ledger derive the same id, which JetStream drops as a duplicate
// within the stream's duplicate window, and any change the worker makes to
// the record (a new attempt, a new failure) gives the next sweep a new id.
func MsgID(wabaID string, reason Reason, rec *ledger.Record, wanted []string, day string) string {
	h := sha256.New()
	field := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	field(string(reason))
	if rec != nil {
		field(string(rec.State))
		field(rec.UpdatedAt.UTC().Format(time.RFC3339Nano))
		field(rec.EventID)
		field(rec.ErrorKind)
		field(strings.Join(rec.HeldTasks, ","))
	}
	field(strings.Join(wanted, ","))
	sum := hex.EncodeToString(h.Sum(nil)[:8])
	if day != "" {
		return "sweep-" + wabaID + "-" + day + "-" + sum
	}
	return "sweep-" + wabaID + "-" + sum
}

// holdsAll reports whether held contains every wanted task (containment,
// as the worker verifies).
func holdsAll(held, wanted []string) bool {
	for _, w := range wanted {
		if !slices.Contains(held, w) {
			return false
		}
	}
	return true
}
