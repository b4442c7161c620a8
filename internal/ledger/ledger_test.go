package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/goleak"

	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/schemas"
)

// An Each stopped early leaves no watch behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	bucket   = "waba_state"
	schemaID = "https://github.com/wabaworker/waba-worker/schemas/waba_state.json"
)

// schema is schemas/waba_state.json, compiled as schemas.Validate compiles
// the event schemas (formats asserted).
var schema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	b, err := fs.ReadFile(schemas.FS, "waba_state.json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaID)
})

func validateSchema(t *testing.T, doc []byte) error {
	t.Helper()
	s, err := schema()
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}

type testBundle struct {
	kv    jetstream.KeyValue
	store *ledger.Store
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	kv, err := js.CreateKeyValue(context.Background(), ledger.BucketConfig(bucket, 1))
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return &testBundle{kv: kv, store: ledger.New(kv)}
}

func assigned(id string) ledger.Record {
	return ledger.Record{
		WABAID: id, State: ledger.StateAssigned, SystemUserID: "1972555232742222",
		HeldTasks: []string{"MANAGE"}, EventID: "evt-" + id,
	}
}

func TestBucketConfig(t *testing.T) {
	t.Parallel()
	cfg := ledger.BucketConfig("waba_state", 3)
	if cfg.Bucket != "waba_state" || cfg.Replicas != 3 || cfg.History != 1 || cfg.TTL != 0 ||
		cfg.Storage != jetstream.FileStorage {
		t.Errorf("config = %+v", cfg)
	}
}

// Validate and the schema agree: each bad record is refused by both, naming
// the field; each good one passes both.
func TestValidateAgreesWithSchema(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 24, 12, 0, 1, 0, time.UTC)
	good := []ledger.Record{
		assigned("102290129340398"),
		{WABAID: "1", State: ledger.StateFailed, ErrorKind: "invalid_event", EventID: "seq-7"},
		{WABAID: "2", State: ledger.StateFailed, SystemUserID: "3", HeldTasks: []string{"DEVELOP"}, ErrorKind: "verification_failed", EventID: "e"},
		{WABAID: "12345678901234567890123456789012", State: ledger.StateUnshared, EventID: "wamid.x"},
		{WABAID: "4", State: ledger.StateAssigned, SystemUserID: "5", HeldTasks: []string{"MANAGE", "SOME_TASK_META_ADDED_2027"}, EventID: "e"},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", r, err)
		}
		r.UpdatedAt = at
		if r.HeldTasks == nil {
			r.HeldTasks = []string{}
		}
		doc, _ := json.Marshal(r)
		if err := validateSchema(t, doc); err != nil {
			t.Errorf("schema refuses %s: %v", doc, err)
		}
	}

	bad := []struct {
		field string
		edit  func(*ledger.Record)
	}{
		{"waba_id", func(r *ledger.Record) { r.WABAID = "" }},
		{"waba_id", func(r *ledger.Record) { r.WABAID = "../x" }},
		{"waba_id", func(r *ledger.Record) { r.WABAID = strings.Repeat("1", 33) }},
		{"state", func(r *ledger.Record) { r.State = "" }},
		{"state", func(r *ledger.Record) { r.State = "ASSIGNED" }},
		{"system_user_id", func(r *ledger.Record) { r.SystemUserID = "me" }},
		{"system_user_id", func(r *ledger.Record) { r.SystemUserID = "" }},
		{"held_tasks", func(r *ledger.Record) { r.HeldTasks = []string{"manage"} }},
		{"held_tasks", func(r *ledger.Record) { r.HeldTasks = []string{""} }},
		{"held_tasks", func(r *ledger.Record) { r.HeldTasks = nil }},
		{"event_id", func(r *ledger.Record) { r.EventID = "" }},
		{"error_kind", func(r *ledger.Record) { r.ErrorKind = "permanent" }},
		{"error_kind", func(r *ledger.Record) { r.State, r.ErrorKind = ledger.StateFailed, "" }},
		{"error_kind", func(r *ledger.Record) { r.State, r.ErrorKind = ledger.StateFailed, "oops" }},
		{"error_kind", func(r *ledger.Record) { r.State, r.ErrorKind = ledger.StateUnshared, "permanent" }},
	}
	for _, c := range bad {
		r := assigned("102290129340398")
		c.edit(&r)
		err := r.Validate()
		var fe *ledger.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ledger.ErrInvalidRecord) {
			t.Errorf("Validate(%+v) = %v, want a FieldError on %s", r, err, c.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid ledger record: "+c.field+": ") {
			t.Errorf("error text %q", err)
		}
		r.UpdatedAt = at
		if r.HeldTasks == nil {
			r.HeldTasks = []string{}
		}
		doc, _ := json.Marshal(r)
		if err := validateSchema(t, doc); err == nil {
			t.Errorf("schema accepts %s (Validate: %v)", doc, fe)
		}
	}
}

// The schema's own examples are valid records.
func TestSchemaExamples(t *testing.T) {
	t.Parallel()
	b, err := fs.ReadFile(schemas.FS, "waba_state.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Examples []json.RawMessage }
	if err := json.Unmarshal(b, &s); err != nil || len(s.Examples) < 3 {
		t.Fatalf("examples: %d, %v", len(s.Examples), err)
	}
	for _, ex := range s.Examples {
		if err := validateSchema(t, ex); err != nil {
			t.Errorf("example %s: %v", ex, err)
		}
		var r ledger.Record
		if err := json.Unmarshal(ex, &r); err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("example %s: Validate: %v", ex, err)
		}
	}
}

// What Put stores is what Get returns, and it validates against the schema.
func TestPutGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	r := assigned("102290129340398")
	before := time.Now()
	if err := b.store.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.store.Get(ctx, r.WABAID)
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if got.UpdatedAt.Before(before.Add(-time.Second)) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt %v", got.UpdatedAt)
	}
	got.UpdatedAt = time.Time{}
	if fmt.Sprint(got) != fmt.Sprint(r) {
		t.Errorf("Get = %+v, want %+v", got, r)
	}

	// A rewrite replaces the record; nil tasks are stored as [].
	failed := ledger.Record{WABAID: r.WABAID, State: ledger.StateFailed, ErrorKind: "permanent", EventID: "evt-2",
		UpdatedAt: time.Date(2026, 11, 24, 12, 0, 1, 0, time.FixedZone("CET", 3600))}
	if err := b.store.Put(ctx, failed); err != nil {
		t.Fatal(err)
	}
	e, err := b.kv.Get(ctx, r.WABAID)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"waba_id":"102290129340398","state":"failed","system_user_id":"","held_tasks":[],"event_id":"evt-2","error_kind":"permanent","updated_at":"2026-11-24T11:00:01Z"}`
	if string(e.Value()) != want {
		t.Errorf("stored\n%s\nwant\n%s", e.Value(), want)
	}
	for _, rec := range []ledger.Record{r, failed, {WABAID: "7", State: ledger.StateUnshared, EventID: "x"}} {
		if err := b.store.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		e, err := b.kv.Get(ctx, rec.WABAID)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateSchema(t, e.Value()); err != nil {
			t.Errorf("stored %s does not validate: %v", e.Value(), err)
		}
	}

	if _, ok, err := b.store.Get(ctx, "999"); ok || err != nil {
		t.Errorf("Get of a WABA never seen: %v %v", ok, err)
	}
	if _, _, err := b.store.Get(ctx, "sweep"); !errors.Is(err, ledger.ErrInvalidRecord) {
		t.Errorf("Get(sweep) = %v", err)
	}
	if err := b.store.Put(ctx, ledger.Record{WABAID: "1", State: "done", EventID: "e"}); !errors.Is(err, ledger.ErrInvalidRecord) ||
		!strings.Contains(err.Error(), "state") {
		t.Errorf("Put of a bad record = %v", err)
	}
	if _, err := b.kv.PutString(ctx, "5", "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.store.Get(ctx, "5"); !errors.Is(err, ledger.ErrCorrupt) {
		t.Errorf("Get of a corrupt value = %v", err)
	}
}

// Each walks more records than the watch buffers, skips keys that are not
// WABA ids and deleted records, reports corrupt ones after the walk, and
// stops when fn says so.
func TestEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 700
	for i := range n {
		r := assigned(fmt.Sprint(100000 + i))
		switch i % 7 {
		case 1:
			r.State, r.ErrorKind = ledger.StateFailed, "retries_exhausted"
		case 2:
			r.State, r.HeldTasks = ledger.StateUnshared, nil
		}
		if err := b.store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][2]string{{"sweep", "not a record"}, {"meta.last_sweep", "2026"}, {"42", `{"waba_id":"42","state":"lost"}`}, {"43", `{"waba_id":"44"}`}} {
		if _, err := b.kv.PutString(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.store.Put(ctx, assigned("55")); err != nil {
		t.Fatal(err)
	}
	if err := b.kv.Delete(ctx, "55"); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	err := b.store.Each(ctx, func(r ledger.Record) error {
		if seen[r.WABAID] {
			t.Errorf("%s seen twice", r.WABAID)
		}
		seen[r.WABAID] = true
		return nil
	})
	if len(seen) != n {
		t.Errorf("Each saw %d records, want %d", len(seen), n)
	}
	if seen["55"] {
		t.Error("Each returned a deleted record")
	}
	if !errors.Is(err, ledger.ErrCorrupt) || !strings.Contains(err.Error(), "corrupt ledger record 42") ||
		!strings.Contains(err.Error(), `corrupt ledger record 43: its waba_id is "44"`) || strings.Contains(err.Error(), "sweep") {
		t.Errorf("Each = %v, want the corrupt records 42 and 43 named", err)
	}

	counts, err := b.store.Counts(ctx)
	if !errors.Is(err, ledger.ErrCorrupt) {
		t.Errorf("Counts err = %v", err)
	}
	if counts[ledger.StateAssigned] != 500 || counts[ledger.StateFailed] != 100 || counts[ledger.StateUnshared] != 100 {
		t.Errorf("Counts = %v", counts)
	}

	stop := errors.New("enough")
	calls := 0
	err = b.store.Each(ctx, func(ledger.Record) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Each stopped by fn: %v after %d calls", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	err = b.store.Each(cctx, func(ledger.Record) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Each with its context canceled: %v", err)
	}
}

func TestCountsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	counts, err := b.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 3 || counts[ledger.StateAssigned]+counts[ledger.StateFailed]+counts[ledger.StateUnshared] != 0 {
		t.Errorf("Counts of an empty ledger = %v", counts)
	}
}
