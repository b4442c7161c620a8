package events

import (
	"reflect"
	"testing"
)

// quickCases are payloads where the quick path and the slow one could part:
// names in another case, nulls, wrong types, duplicates, escapes, tasks
// that do not normalize, trailing bytes.
var quickCases = []string{
	`{"id": "evt-7f3c", "waba_id": "102290129340398", "business_id": "100200300", "tasks": ["MANAGE"], "source": "embedded_signup", "occurred_at": "2026-11-24T12:00:00Z"}`,
	`{"waba_id": "102290129340398"}`,
	`{"WABA_ID": "102290129340398"}`,
	`{"Waba_Id": "1", "waba_id": "2"}`,
	`{"waba_id": "1", "waba_id": "2"}`,
	`{"waba_id": null}`,
	`{"waba_id": "1", "id": null}`,
	`{"waba_id": "1", "note": "null"}`,
	`{"waba_id": 102290129340398}`,
	`{"waba_id": "1", "tasks": "MANAGE"}`,
	`{"waba_id": "1", "tasks": []}`,
	`{"waba_id": "1", "tasks": ["MANAGE", "MANAGE", "DEVELOP"]}`,
	`{"waba_id": "1", "tasks": ["OWNER"]}`,
	`{"waba_id": "1", "tasks": [1]}`,
	`{"waba_id": "1", "business_id": "x"}`,
	`{"waba_id": "1", "id": "has space"}`,
	`{"waba_id": "\u0031\u0032"}`,
	`{"waba_id": "1", "occurred_at": "2026-11-24 12:00:00"}`,
	`{"waba_id": "1", "source": {"nested": [1, {"a": "b"}]}}`,
	`{"waba_id": "1"} {"waba_id": "2"}`,
	`{"waba_id": "1"`,
	`["waba_id", "1"]`,
	`null`,
	`"waba_id"`,
	``,
	` {"waba_id":"1"} `,
}

// The quick path gives what the slow one gives: the same event, the same
// error text.
func TestQuickDecodeAgrees(t *testing.T) {
	t.Parallel()
	for _, c := range quickCases {
		agree(t, []byte(c))
	}
}

func FuzzQuickDecode(f *testing.F) {
	for _, c := range quickCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { agree(t, data) })
}

func agree(t *testing.T, data []byte) {
	t.Helper()
	quick, qerr := decode(data, true)
	slow, serr := decode(data, false)
	if (qerr == nil) != (serr == nil) || qerr != nil && qerr.Error() != serr.Error() {
		t.Fatalf("%q: quick error %v, slow %v", data, qerr, serr)
	}
	if !reflect.DeepEqual(quick, slow) {
		t.Fatalf("%q: quick %+v, slow %+v", data, quick, slow)
	}
}
