// Package wabatype is the worker's vocabulary: the words the consumer
// (internal/worker), the handler (internal/handlers), the observers
// (health, metrics, tracing) and the operator commands (emit, replay) share.
//
//   - a delivery (Message) and what should become of it (Outcome, Verdict,
//     PauseReason);
//   - the names of the stream, consumer and subjects (Topology) and the
//     headers the worker reads (HeaderReplayOf);
//   - the grammar of message ids: a result's (ResultMsgID,
//     ValidResultMsgID) and a replay's (ReplayMsgID);
//   - a result event read back from the stream (Result, DecodeResult).
//
// It is a leaf: it imports no other package of the worker but
// internal/events, so that any package may depend on it without pulling in
// Graph, the breaker or JetStream's consumer. River's rivertype is the
// model.
package wabatype
