// Package bench is the end-to-end benchmark behind `make bench`: how fast the
// worker drains a backlog of waba.shared events, against the limit that
// Graph's latency sets.
//
// Each row of its table runs on a fresh world: an in-process NATS JetStream
// server (file store in a temp dir) and the Graph emulator on a loopback
// HTTP server, both in the bench process, and a backlog of events for new
// WABAs published before the worker starts. The worker runs as a child
// process (this binary re-executed as `bench child worker`, which is the
// `worker run` code path, or any worker binary given with -worker-bin), so
// that its CPU time and peak RSS are its own. A ceiling row replaces the
// worker with a minimal loop with the same JetStream pattern (Fetch as many
// as there are free slots, publish a result with Nats-Msg-Id and wait for
// its PubAck, Ack) and no Graph work. The Graph-only ceiling (graphonly.go)
// is the other half: the worker's three round trips per event alone, with
// no NATS, which bounds what any program reaches on the machine.
//
// The scale row runs the worker at 1,024 in flight and 100ms, beside the
// -inflight rows at that latency; the replicas row runs two worker
// processes (each its own child, with the row's in-flight) against the same
// NATS, stream and durable consumer, draining one backlog, and reads each
// one's /metrics for its share of the events and Graph calls (replicas.go).
//
// The sweep rows (sweep.go) run `worker sweep --dry-run --json` the same
// way, as a child process, over a business the emulator lists thousands of
// WABAs for, most of them already assigned in the ledger: its time to list
// and decide, the WABAs it finds to emit, its Graph calls and its peak RSS,
// at a tenth of the listed and at all of them.
//
// The bench process watches, without taking part: results on
// waba.assignment.> (core subscription: the time each result was
// published), acks on $JS.ACK.> (the server's delivery time is in the ack
// subject), pull requests on $JS.API.CONSUMER.MSG.NEXT (the start of the
// run, and how many messages each pull asked for).
//
// With L per Graph call, C events in flight and 3 calls per new WABA, no
// worker beats C/(3·L) events per second; the table prints each row's ratio
// to that ideal, and the 0-latency rows' ratio to the ceiling. The targets
// are printed beside the figures; the benchmark reports, it does not fail.
package bench
