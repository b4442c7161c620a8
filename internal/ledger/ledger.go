// Package ledger keeps the last known state of every WABA the worker has
// seen, one JSON record per WABA in the key-value bucket waba_state (key = the
// WABA id; shape: schemas/waba_state.json). The worker writes a record under
// the WABA's lease after its result's PubAck; `worker status` and the sweep
// read it. The result stream stays the source of truth: a write that fails is
// the caller's to log, and the next event of that WABA writes it again.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the KV bucket of the ledger (WORKER_STATE_BUCKET).
const DefaultBucket = "waba_state"

// State is a WABA's last known state.
type State string

// The states of a WABA.
const (
	// StateAssigned: the system user was verified to hold every wanted task.
	StateAssigned State = "assigned"
	// StateFailed: the last event of the WABA failed (see Record.ErrorKind).
	StateFailed State = "failed"
	// StateUnshared: the customer took the WABA back (waba.unshared).
	StateUnshared State = "unshared"
)

// States lists every State, in the order `worker status` counts them.
var States = []State{StateAssigned, StateFailed, StateUnshared}

// ErrorKinds are the failed event kinds a failed record may carry.
var ErrorKinds = []string{"invalid_event", "permanent", "retries_exhausted", "verification_failed"}

// Record is one WABA's entry, as SPEC "The WABA ledger" shows it.
type Record struct {
	WABAID       string `json:"waba_id"`
	State        State  `json:"state"`
	SystemUserID string `json:"system_user_id"`
	// HeldTasks is every task the system user holds on the WABA, as Graph
	// last read it (written as [] when none).
	HeldTasks []string `json:"held_tasks"`
	// EventID is the event that wrote the record.
	EventID string `json:"event_id"`
	// ErrorKind is the failed event's error.kind when State is failed, else "".
	ErrorKind string `json:"error_kind"`
	// UpdatedAt is when the record was written; Put sets it when zero.
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrInvalidRecord is matched (errors.Is) by the *FieldError of a record
// that Put refuses.
var ErrInvalidRecord = errors.New("invalid ledger record")

// ErrCorrupt is matched by the error for a stored value that is not a valid
// record.
var ErrCorrupt = errors.New("corrupt ledger record")

// FieldError names the field of a record that is wrong and why.
type FieldError struct {
	Field   string // the JSON name, e.g. "waba_id"
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrInvalidRecord, e.Field, e.Problem)
}

// Is makes errors.Is(err, ErrInvalidRecord) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidRecord }

// Validate reports the first field of r that breaks the record's contract
// (schemas/waba_state.json), or nil. A zero UpdatedAt is allowed here: Put
// fills it in.
func (r Record) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	if !IsWABAID(r.WABAID) {
		return bad("waba_id", "%q is not 1-32 digits", clip(r.WABAID))
	}
	switch r.State {
	case StateAssigned, StateFailed, StateUnshared:
	default:
		return bad("state", "%q is not one of assigned, failed, unshared", clip(string(r.State)))
	}
	if r.SystemUserID != "" && !isDigits(r.SystemUserID, 32) {
		return bad("system_user_id", "%q is not 1-32 digits", clip(r.SystemUserID))
	}
	if r.State == StateAssigned && r.SystemUserID == "" {
		return bad("system_user_id", "required when state is assigned")
	}
	for _, t := range r.HeldTasks {
		if !isTaskName(t) {
			return bad("held_tasks", "%q is not a task name (A-Z, 0-9, _)", clip(t))
		}
	}
	if r.State == StateAssigned && len(r.HeldTasks) == 0 {
		return bad("held_tasks", "empty, but state assigned means the user holds the wanted tasks")
	}
	if r.EventID == "" {
		return bad("event_id", "empty")
	}
	if r.State == StateFailed {
		if !knownKind(r.ErrorKind) {
			return bad("error_kind", "%q is not one of invalid_event, permanent, retries_exhausted, verification_failed", clip(r.ErrorKind))
		}
	} else if r.ErrorKind != "" {
		return bad("error_kind", "%q set, but state is %s (only failed records carry one)", clip(r.ErrorKind), r.State)
	}
	return nil
}

// BucketConfig is the configuration of the ledger's bucket: file storage,
// one value per key (the result stream keeps the history), no TTL.
func BucketConfig(name string, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "waba-worker ledger: the last known state of every WABA",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}
}

// Store reads and writes the ledger.
type Store struct {
	kv jetstream.KeyValue
}

// New returns a Store on kv, a bucket made with [BucketConfig].
func New(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Put writes r as its WABA's record (a plain put: the caller holds the WABA's
// lease). A zero UpdatedAt becomes now; nil HeldTasks are written as [].
func (s *Store) Put(ctx context.Context, r Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now()
	}
	r.UpdatedAt = r.UpdatedAt.UTC()
	if r.HeldTasks == nil {
		r.HeldTasks = []string{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ledger: put %s: %w", r.WABAID, err)
	}
	if _, err := s.kv.Put(ctx, r.WABAID, b); err != nil {
		return fmt.Errorf("ledger: put %s: %w", r.WABAID, err)
	}
	return nil
}

// Get returns the record of wabaID; ok is false when there is none.
func (s *Store) Get(ctx context.Context, wabaID string) (r Record, ok bool, err error) {
	if !IsWABAID(wabaID) {
		return Record{}, false, &FieldError{Field: "waba_id", Problem: fmt.Sprintf("%q is not 1-32 digits", clip(wabaID))}
	}
	e, err := s.kv.Get(ctx, wabaID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("ledger: get %s: %w", wabaID, err)
	}
	r, err = decode(wabaID, e.Value())
	if err != nil {
		return Record{}, false, err
	}
	return r, true, nil
}

// Each calls fn with every record, in the order they were last written,
// holding only a bounded window of them in memory (a watch of the bucket's
// latest values, stopped when they have all been seen). A record written
// during the walk may be seen in its old or new version. Keys that are not
// WABA ids are skipped: other keys may live in the bucket later. When fn
// returns an error, Each stops and returns it. A value that is not a valid
// record is skipped and the walk goes on; the returned error then lists them
// (errors.Is ErrCorrupt).
func (s *Store) Each(ctx context.Context, fn func(Record) error) error {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("ledger: list: %w", err)
	}
	defer stopWatch(w)
	var corrupt []error
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ledger: list: %w", err)
		}
		var e jetstream.KeyValueEntry
		var open bool
		select {
		case <-ctx.Done():
			return fmt.Errorf("ledger: list: %w", ctx.Err())
		case e, open = <-w.Updates():
		}
		if !open {
			return fmt.Errorf("ledger: list: the watch ended early (connection closed?)")
		}
		if e == nil { // every latest value has been delivered
			break
		}
		if !IsWABAID(e.Key()) {
			continue
		}
		r, err := decode(e.Key(), e.Value())
		if err != nil {
			if len(corrupt) < 10 {
				corrupt = append(corrupt, err)
			} else if len(corrupt) == 10 {
				corrupt = append(corrupt, fmt.Errorf("%w: more", ErrCorrupt))
			}
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return errors.Join(corrupt...)
}

// Counts is the number of records per state, every state present. Corrupt
// records are left out and reported as Each does, with the counts of the rest.
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	counts := make(map[State]int, len(States))
	for _, st := range States {
		counts[st] = 0
	}
	err := s.Each(ctx, func(r Record) error {
		counts[r.State]++
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return nil, err
	}
	return counts, err
}

// decode parses a stored value and checks it is a valid record of key.
func decode(key string, value []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(value, &r); err != nil {
		return Record{}, fmt.Errorf("%w %s: %v", ErrCorrupt, key, err)
	}
	if r.WABAID != key {
		return Record{}, fmt.Errorf("%w %s: its waba_id is %q", ErrCorrupt, key, clip(r.WABAID))
	}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("%w %s: %v", ErrCorrupt, key, err)
	}
	if r.UpdatedAt.IsZero() {
		return Record{}, fmt.Errorf("%w %s: no updated_at", ErrCorrupt, key)
	}
	return r, nil
}

// stopWatch stops w and drains it, so that nats.go's delivery goroutine,
// which blocks on a full updates channel, can finish.
func stopWatch(w jetstream.KeyWatcher) {
	_ = w.Stop()
	go func() {
		for range w.Updates() {
		}
	}()
}

// IsWABAID reports whether s is a WABA id: 1-32 ASCII digits.
func IsWABAID(s string) bool { return isDigits(s, 32) }

func isDigits(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isTaskName accepts any name shaped like Meta's tasks, not only the ones
// the worker assigns: held_tasks records what Graph reports, and Meta adds
// tasks.
func isTaskName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func knownKind(k string) bool { return slices.Contains(ErrorKinds, k) }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
