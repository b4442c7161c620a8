package schemas_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/schemas"
)

// Every example validates against its event's schema.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	examples, err := fs.Glob(schemas.FS, "examples/*.json")
	if err != nil || len(examples) < 3 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, ex := range examples {
		base := strings.TrimPrefix(ex, "examples/")
		var schema string
		switch {
		case strings.HasPrefix(base, "waba.shared"):
			schema = schemas.Shared
		case strings.HasPrefix(base, "waba.assignment.succeeded"):
			schema = schemas.Succeeded
		case strings.HasPrefix(base, "waba.assignment.failed"):
			schema = schemas.Failed
		case strings.HasPrefix(base, "waba.unshared"):
			schema = schemas.Unshared
		case strings.HasPrefix(base, "meta.webhook.change"):
			schema = schemas.WebhookChange
		default:
			t.Fatalf("example %s names no event", ex)
		}
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			doc, err := fs.ReadFile(schemas.FS, ex)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(schema, doc); err != nil {
				t.Errorf("%s does not validate against %s: %v", ex, schema, err)
			}
		})
	}
}

// The schemas reject what they must: a wrong type, a missing field, an
// unknown task, an unknown failure kind.
func TestSchemasReject(t *testing.T) {
	t.Parallel()
	cases := []struct{ schema, doc string }{
		{schemas.Shared, `{}`},
		{schemas.Shared, `{"waba_id": 102290129340398}`},
		{schemas.Shared, `{"waba_id": "../me"}`},
		{schemas.Shared, `{"waba_id": "1", "tasks": ["OWN_EVERYTHING"]}`},
		{schemas.Shared, `{"waba_id": "1", "tasks": []}`},
		{schemas.Shared, `{"waba_id": "1", "occurred_at": "yesterday"}`},
		{schemas.Succeeded, `{"event_id": "e", "waba_id": "1", "system_user_id": "2", "tasks": ["MANAGE"], "already_assigned": false, "attempts": 0, "completed_at": "2026-11-24T12:00:01Z"}`},
		{schemas.Failed, `{"event_id": "e", "attempts": 1, "failed_at": "2026-11-24T12:00:01Z", "error": {"kind": "oops", "message": "m", "retryable": false}, "event": {}}`},
		{schemas.Failed, `{"event_id": "e", "attempts": 1, "failed_at": "2026-11-24T12:00:01Z", "error": {"kind": "permanent", "message": "m", "retryable": false}}`},
		{schemas.Failed, `{"event_id": "e", "attempts": 1, "failed_at": "2026-11-24T12:00:01Z", "error": {"kind": "invalid_event", "message": "m", "retryable": false}, "event": "x", "event_base64": "not base64!"}`},
		{schemas.Failed, `{"event_id": "e", "attempts": 1, "failed_at": "2026-11-24T12:00:01Z", "error": {"kind": "invalid_event", "message": "m", "retryable": false}, "event": "x", "event_base64": "eA"}`},
		{schemas.Failed, `{"event_id": "e", "attempts": 1, "failed_at": "2026-11-24T12:00:01Z", "error": {"kind": "invalid_event", "message": "m", "retryable": false}, "event": "x", "event_base64": 7}`},
	}
	for _, c := range cases {
		if err := schemas.Validate(c.schema, []byte(c.doc)); err == nil {
			t.Errorf("%s accepted %s", c.schema, c.doc)
		}
	}
}
