package webhook

import "time"

// Outcomes of a request, the values Observer.Request gets.
const (
	OutcomeAccepted         = "accepted"           // POST published and acknowledged: 200
	OutcomeVerified         = "verified"           // verification request answered with the challenge: 200
	OutcomeVerifyRejected   = "verify_rejected"    // verification request with a wrong mode or token: 403
	OutcomeUnsigned         = "unsigned"           // POST without X-Hub-Signature-256: 401
	OutcomeBadSignature     = "bad_signature"      // POST with a wrong or malformed signature: 403
	OutcomeTooLarge         = "too_large"          // body over MaxBody: 413
	OutcomeBadEnvelope      = "bad_envelope"       // signed body that is not Meta's envelope: 400
	OutcomeUnavailable      = "unavailable"        // JetStream did not take every publish: 503
	OutcomeConfigError      = "config_error"       // app secret or verify token unreadable or empty: 503
	OutcomeReadError        = "read_error"         // body could not be read: 400
	OutcomeMethodNotAllowed = "method_not_allowed" // neither GET nor POST: 405
	OutcomeNotFound         = "not_found"          // another path: 404
)

// Outcomes of a change, the values of Observer.Change's result.
const (
	ResultRaw      = "raw"      // published raw only (not an event the gateway maps)
	ResultShared   = "shared"   // also published as waba.shared
	ResultUnshared = "unshared" // also published as waba.unshared
	ResultUnmapped = "unmapped" // an event the gateway maps, that it could not (e.g. no valid waba_id): raw only
)

// Signature failure reasons, the values Observer.SignatureFailure gets.
const (
	SignatureMissing  = "missing"
	SignatureMismatch = "mismatch"
)

// Observer is told what the gateway does, for metrics. Calls come from the
// request goroutines, concurrently. NewPrometheus returns one.
type Observer interface {
	// Request: one per request, with its outcome (Outcome*) and the time to
	// answer.
	Request(outcome string, d time.Duration)
	// Change: one per change of an accepted POST, with its field, its
	// account_update event ("" for other fields) and its result (Result*).
	// Changes of a request that got 503 are not reported (Meta delivers them
	// again).
	Change(field, event, result string)
	// SignatureFailure: one per POST refused for its signature (Signature*).
	SignatureFailure(reason string)
	// Published: one per POST that published, with the number of messages,
	// the time from the first publish to the last PubAck (or the failure),
	// and the failure (nil when every message was acknowledged).
	Published(messages int, d time.Duration, err error)
}

type nopObserver struct{}

func (nopObserver) Request(string, time.Duration)       {}
func (nopObserver) Change(string, string, string)       {}
func (nopObserver) SignatureFailure(string)             {}
func (nopObserver) Published(int, time.Duration, error) {}
