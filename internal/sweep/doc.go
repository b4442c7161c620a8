// Package sweep is the discovery sweep: it finds every WABA shared with the
// business that the ledger does not show as onboarded, and publishes a
// waba.shared event (source "sweep") for it, so that a lost webhook, a WABA
// shared before the worker was deployed or a migration from another BSP
// does not leave a WABA un-onboarded. SPEC "Discovery sweep".
//
// [Sweeper.Sweep] sweeps once (`worker sweep [--dry-run]`); [Run] sweeps
// every interval under a lease, one replica at a time (`worker run`).
//
// # One sweep
//
// It lists GET /{business-id}/client_whatsapp_business_accounts page by page
// through the caller's [Lister] (the caller's pacing, breaker and
// credentials handling), reads each listed WABA's ledger record, and decides:
//
//	no record                          emit, reason missing
//	unreadable record                  emit, reason corrupt
//	failed, retries_exhausted or
//	  verification_failed              emit, reason failed
//	failed, permanent or invalid_event emit, reason failed_permanent, once
//	                                   the record is PermanentRetry (a day)
//	                                   old; before: skip, failed_permanent_recently
//	assigned, lacking a wanted task    emit, reason missing_tasks
//	unshared, but listed               emit, reason reshared
//	assigned with every wanted task    skip, reason onboarded
//
// Then it walks the ledger: an assigned WABA that was not listed is reported
// as not_listed (log, Observer, Line) and left alone.
//
// # Message ids
//
// Each event's id, also its Nats-Msg-Id, is [MsgID]: "sweep-<waba>-<hash>",
// the hash over the reason, the ledger record as read and the wanted tasks.
// Two sweeps over an unchanged ledger derive the same id, and JetStream
// drops the second publish (PubAck Duplicate: [ActionAlreadyEmitted]); the
// worker's next write of the record (a new attempt) changes the id. A
// permanent failure's id also carries the UTC date ("sweep-<waba>-<yyyymmdd>-<hash>").
//
// The dedupe holds within the stream's duplicate window (1h when the worker
// creates the stream, at least 10 minutes per SPEC). Beyond it an unchanged
// record is published again, which only happens when the worker has not
// worked the previous event by the next sweep (a backlog, or a ledger write
// that failed); the duplicate is harmless (one writer per WABA, and the
// worker's read finds the tasks held). That is also why the once-a-day rule
// for permanent failures is the record's age and not the id alone: with a
// 1h interval and a shorter window, an id alone would not hold for a day.
//
// invalid_event is treated like permanent, as asked. The sweep's own events
// are valid by construction, so an invalid_event record came from another
// publisher and a sweep event would likely succeed; if a faster heal is
// wanted, drop invalid_event from permanentKinds.
//
// # Pacing
//
// Publishing is paced by a token bucket, [DefaultPublishRate] (5 events a
// second) unless configured; see that constant for why. A publish answered
// as a duplicate gives its token back, since it costs the worker nothing.
//
// # Memory
//
// A sweep holds one page of WABAs (at most 100) and their ledger records,
// plus the set of listed ids that the not-listed walk needs. The walk cannot
// be a merge (Graph's order is not the ledger's, and neither can be asked
// for sorted), and holding the listing or the ledger would grow with either.
// The set keeps Meta's numeric ids as uint64 map keys (see idSet): it is the
// one part that grows with the number listed, by 24-30 bytes a WABA (about
// 300 kB for 10,000), half of a set of strings (BenchmarkIDSet).
// BenchmarkSweep measures a first sweep over 10,000 listed WABAs, 9,000 of
// them onboarded: 100 list calls, 1,000 events, the live heap growing by
// about that set from the first page to the last.
//
// # Run
//
// [Run] wakes up, reads the mark of the last successful sweep ([MarkKey] in
// the ledger bucket, which has no TTL), sleeps while that is younger than the
// interval, else takes the lease [LeaseKey] in the lock bucket with
// TryAcquire, checks the mark again, sweeps and writes the mark. So N
// replicas sweep once per interval between them; a replica killed mid-sweep
// writes no mark and leaves its lease to expire, and the next replica whose
// turn comes sweeps.
package sweep
