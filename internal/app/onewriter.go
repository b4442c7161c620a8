package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/metrics"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// ledgerWriteTimeout bounds one ledger write: it runs before the input's
// ack, after the result is stored, and must not hold the event up for long.
const ledgerWriteTimeout = 3 * time.Second

// buckets gives the worker its per-WABA leases (a worker.Locker) and its
// ledger (a worker.Recorder) on the two KV buckets. It binds them in
// prepare, before each bind of the consumer, so that the worker consumes
// only once both exist (created when provisioning).
type buckets struct {
	js  jetstream.JetStream
	cfg config.Config
	log *slog.Logger
	mx  *metrics.Metrics

	locker  atomic.Pointer[lease.Locker]
	ledger  atomic.Pointer[ledger.Store]
	marks   atomic.Pointer[jetstream.KeyValue] // the ledger bucket (the sweep's mark)
	problem atomic.Pointer[string]             // why a bucket is not there, "" when both are
}

func newBuckets(js jetstream.JetStream, cfg config.Config, log *slog.Logger, mx *metrics.Metrics) *buckets {
	b := &buckets{js: js, cfg: cfg, log: log, mx: mx}
	none := ""
	b.problem.Store(&none)
	return b
}

// prepare binds both buckets, creating them when provisioning; it is
// worker.Config.Prepare.
func (b *buckets) prepare(ctx context.Context) error {
	if b.locker.Load() != nil && b.ledger.Load() != nil {
		return nil
	}
	replicas := 1
	if s, err := b.js.Stream(ctx, b.cfg.Stream); err == nil {
		replicas = max(1, s.CachedInfo().Config.Replicas) // replicated like the stream
	}
	locks, err := b.bucket(ctx, lease.BucketConfig(b.cfg.LockBucket, b.cfg.LeaseTTL, replicas))
	if err != nil {
		return b.fail(err)
	}
	state, err := b.bucket(ctx, ledger.BucketConfig(b.cfg.StateBucket, replicas))
	if err != nil {
		return b.fail(err)
	}
	ttl := b.cfg.LeaseTTL
	if st, err := locks.Status(ctx); err == nil && st.TTL() > 0 && st.TTL() != ttl {
		b.log.Warn("the lock bucket's TTL differs from WORKER_LEASE_TTL: leases follow the bucket's (recreate the bucket to change it)",
			"bucket", b.cfg.LockBucket, "bucket_ttl", st.TTL(), "WORKER_LEASE_TTL", ttl)
		ttl = st.TTL()
	}
	b.locker.Store(lease.New(locks, lease.Options{TTL: ttl, Observer: b.mx, Logger: b.log}))
	b.ledger.Store(ledger.New(state))
	b.marks.Store(&state)
	none := ""
	b.problem.Store(&none)
	return nil
}

// bucket returns the bucket of cfg, creating it when it is missing and the
// worker provisions. An existing bucket is never changed.
func (b *buckets) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := b.js.KeyValue(ctx, cfg.Bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		if err != nil {
			return nil, fmt.Errorf("KV bucket %s: %w", cfg.Bucket, err)
		}
		return kv, nil
	}
	if !b.cfg.Provision {
		return nil, fmt.Errorf("KV bucket %s does not exist and WORKER_PROVISION is false: create it (deploy/ has its definition), the worker waits for it", cfg.Bucket)
	}
	kv, err = b.js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		kv, err = b.js.KeyValue(ctx, cfg.Bucket) // another replica won the race
	}
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", cfg.Bucket, err)
	}
	b.log.Info("KV bucket created", "bucket", cfg.Bucket, "replicas", cfg.Replicas)
	return kv, nil
}

// fail keeps err for readiness (the consumer's bind loop logs it).
func (b *buckets) fail(err error) error {
	msg := err.Error()
	b.problem.Store(&msg)
	return err
}

// Problem is why the worker cannot consume for lack of a bucket, "" when
// it can (for /readyz).
func (b *buckets) Problem() string { return *b.problem.Load() }

// Acquire is worker.Locker's.
func (b *buckets) Acquire(ctx context.Context, key string) (worker.Lease, error) {
	l := b.locker.Load()
	if l == nil {
		return nil, errors.New("the lock bucket is not bound yet")
	}
	ls, err := l.Acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// Record writes the outcome's ledger record, under the WABA's lease and
// after its result's PubAck; it is worker.Recorder's. A failed write is
// logged and counted: the stream holds the result, and the next event of
// the WABA writes the record again.
func (b *buckets) Record(ctx context.Context, out wabatype.Outcome) {
	store := b.ledger.Load()
	rec, ok := ledgerRecord(out)
	if store == nil || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	err := store.Put(ctx, rec)
	b.mx.LedgerWritten(err)
	if err != nil {
		b.log.Warn("cannot write the WABA's ledger record; the result is stored, the next event of this WABA writes it again",
			"event_id", out.EventID, "waba_id", out.WabaID, "state", string(rec.State), "error", err.Error())
	}
}

// ledgerRecord is the ledger record of an outcome: assigned, failed or
// unshared. An invalid event says nothing about its WABA and leaves the
// ledger alone.
func ledgerRecord(out wabatype.Outcome) (ledger.Record, bool) {
	switch {
	case out.Verdict == wabatype.Done && out.Succeeded != nil:
		s := out.Succeeded
		return ledger.Record{WABAID: s.WabaID, State: ledger.StateAssigned, SystemUserID: s.SystemUserID,
			HeldTasks: s.HeldTasks, EventID: s.EventID, UpdatedAt: s.CompletedAt}, true
	case out.Verdict == wabatype.Failed && out.Failed != nil && out.Failed.Error.Kind != events.KindInvalidEvent:
		f := out.Failed
		return ledger.Record{WABAID: f.WabaID, State: ledger.StateFailed, SystemUserID: f.SystemUserID,
			HeldTasks: []string{}, EventID: f.EventID, ErrorKind: f.Error.Kind, UpdatedAt: f.FailedAt}, true
	case out.Verdict == wabatype.Recorded && out.Unshared != nil:
		return ledger.Record{WABAID: out.Unshared.WabaID, State: ledger.StateUnshared, HeldTasks: []string{},
			EventID: out.EventID, UpdatedAt: time.Now().UTC()}, true
	}
	return ledger.Record{}, false
}
