// Package lease gives one holder at a time a per-key lease that holds across
// processes, on a JetStream key-value bucket (waba_locks): the worker takes
// the lease of a WABA around its read-assign-verify sequence, and the
// discovery sweep takes the lease "sweep" so that one replica sweeps at a time.
//
// # How a lease is held
//
// A lease is a key in the bucket. [Locker.Acquire] creates it with
// [jetstream.KeyValue.Create], which succeeds only when the key is absent
// (or deleted); the value names the holder (Options.Owner) and a random token
// that identifies this one lease. While held, the lease renews itself every
// TTL/3 with [jetstream.KeyValue.Update] at its revision; [Lease.Release]
// deletes it with [jetstream.LastRevision], so a lease that has meanwhile
// passed to someone else is never deleted.
//
// The bucket's TTL (its stream's MaxAge) is the lease TTL: every write,
// renewals included, restarts the entry's age, and an entry nobody renews is
// removed by the server TTL after its last write. A holder killed with
// kill -9 therefore blocks its key for at most TTL ([DefaultTTL], 15s), plus
// the time a waiter takes to notice (at once with the bucket's limit markers,
// see [BucketConfig]; else within Options.PollMax). Update has no per-key TTL
// option, which is why the TTL lives on the bucket and Options.TTL must equal
// it ([Locker.Verify] checks).
//
// # Waiting
//
// Inside one process the callers of one key queue FIFO. Only the head of that
// queue talks to the bucket; the others wait on a channel and cost nothing.
// When another process holds the key, the head watches the key for its
// delete or expiry marker and also retries Create with capped, jittered
// backoff (Options.PollInitial up to Options.PollMax), so a release elsewhere
// wakes it within milliseconds and a dead holder's lease is taken about TTL
// after its last renewal. A waiter whose context ends leaves the queue with
// the context's error and the next one becomes head.
//
// The local queue is fair; processes are not fair to each other: a process
// whose queue for a key is long hands the key from one local caller to the
// next as fast as the other process's head can notice it is free. Callers
// that must bound a wait do so with the context they pass.
//
// # Losing a lease
//
// A lease is lost when a renewal finds another revision in the bucket (the
// key was deleted, taken over after an outage longer than TTL, or
// overwritten) or when renewals kept failing until the lease would have
// expired. Then [Lease.Lost] closes and [Lease.Err] says why (errors.Is
// ErrLost). A renewal that failed while its write reached the server is
// recognised by the token in the value, not taken for a loss.
package lease
