package webhook_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/webhook"
	"github.com/wabaworker/waba-worker/schemas"
)

// The SPEC's mapping, over Meta's examples.
func TestMapMetaExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		example  string
		event    string
		result   string
		shared   *events.Shared   // ID is checked against the change's MsgID
		unshared *events.Unshared // likewise
	}{
		{"partner_added", "PARTNER_ADDED", webhook.ResultShared,
			&events.Shared{WabaID: "980198427658004", BusinessID: "2949482758682047", OwnerBusinessID: "2329417887457253",
				Source: "webhook", OccurredAt: "2025-04-16T17:18:52Z"}, nil},
		{"partner_app_installed", "PARTNER_APP_INSTALLED", webhook.ResultShared,
			&events.Shared{WabaID: "1191624265890717", BusinessID: "2949482758682047", OwnerBusinessID: "2329417887457253",
				Source: "webhook", OccurredAt: "2025-04-22T15:52:54Z"}, nil},
		{"partner_app_uninstalled", "PARTNER_APP_UNINSTALLED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "184943124712545", BusinessID: "2949482758682047", OwnerBusinessID: "1284923862322270",
				Reason: "PARTNER_APP_UNINSTALLED", Source: "webhook", OccurredAt: "2025-05-29T00:09:19Z"}},
		{"partner_removed", "PARTNER_REMOVED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "980198427658004", BusinessID: "2949482758682047", OwnerBusinessID: "2329417887457253",
				Reason: "PARTNER_REMOVED", Source: "webhook"}},
		{"partner_removed_disconnection", "PARTNER_REMOVED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "980198427658004", BusinessID: "2949482758682047", OwnerBusinessID: "2329417887457253",
				Reason: "PARTNER_REMOVED", Source: "webhook"}},
		{"partner_removed_no_waba_info", "PARTNER_REMOVED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "102290129340398", Reason: "PARTNER_REMOVED", Source: "webhook", OccurredAt: "2025-03-31T20:11:43Z"}},
		{"account_offboarded", "ACCOUNT_OFFBOARDED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "102290129340398", Reason: "ACCOUNT_OFFBOARDED", Source: "webhook"}},
		{"account_deleted", "ACCOUNT_DELETED", webhook.ResultUnshared, nil,
			&events.Unshared{WabaID: "102290129340398", Reason: "ACCOUNT_DELETED", Source: "webhook", OccurredAt: "2025-03-31T20:11:43Z"}},
		{"account_violation", "ACCOUNT_VIOLATION", webhook.ResultRaw, nil, nil},
		{"messages", "", webhook.ResultRaw, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			t.Parallel()
			ch := parseOne(t, metaExample(t, c.example))
			m := webhook.Map(ch)
			if m.Event != c.event || m.Result != c.result {
				t.Fatalf("Map = event %q result %q (%s), want %q %q", m.Event, m.Result, m.Problem, c.event, c.result)
			}
			switch {
			case c.shared != nil:
				want := *c.shared
				want.ID = ch.MsgID()
				if m.Shared == nil || !reflect.DeepEqual(*m.Shared, want) {
					t.Fatalf("shared %+v, want %+v", m.Shared, want)
				}
				b, _ := json.Marshal(m.Shared)
				if _, err := events.Decode(b); err != nil {
					t.Fatalf("the worker would refuse %s: %v", b, err)
				}
				if err := schemas.Validate(schemas.Shared, b); err != nil {
					t.Fatalf("schema: %v", err)
				}
			case c.unshared != nil:
				want := *c.unshared
				want.ID = ch.MsgID()
				if m.Unshared == nil || *m.Unshared != want {
					t.Fatalf("unshared %+v, want %+v", m.Unshared, want)
				}
				b, _ := m.Unshared.Encode()
				if _, err := events.DecodeUnshared(b); err != nil {
					t.Fatalf("the worker would refuse %s: %v", b, err)
				}
				if err := schemas.Validate(schemas.Unshared, b); err != nil {
					t.Fatalf("schema: %v", err)
				}
			default:
				if m.Shared != nil || m.Unshared != nil {
					t.Fatalf("raw change mapped: %+v", m)
				}
			}
		})
	}
}

// What cannot be mapped is said, never guessed.
func TestMapUnmappable(t *testing.T) {
	t.Parallel()
	au := func(entryID, value string) webhook.Change {
		return webhook.Change{Object: "whatsapp_business_account", EntryID: entryID, Field: "account_update", Value: json.RawMessage(value)}
	}
	cases := []struct {
		name   string
		change webhook.Change
		result string
	}{
		{"added without waba_info", au("2949482758682047", `{"event":"PARTNER_ADDED"}`), webhook.ResultUnmapped},
		{"added with a bad waba id", au("2949482758682047", `{"event":"PARTNER_ADDED","waba_info":{"waba_id":"98x"}}`), webhook.ResultUnmapped},
		{"added with a 33-digit waba id", au("1", `{"event":"PARTNER_ADDED","waba_info":{"waba_id":"123456789012345678901234567890123"}}`), webhook.ResultUnmapped},
		{"added with waba_info null", au("1", `{"event":"PARTNER_ADDED","waba_info":null}`), webhook.ResultUnmapped},
		{"removed with a bad waba id: entry.id is not the WABA then", au("2949482758682047", `{"event":"PARTNER_REMOVED","waba_info":{"waba_id":""}}`), webhook.ResultUnmapped},
		{"removed, no waba_info, bad entry id", au("abc", `{"event":"PARTNER_REMOVED"}`), webhook.ResultUnmapped},
		{"added with a numeric waba id", au("1", `{"event":"PARTNER_ADDED","waba_info":{"waba_id":980198427658004}}`), webhook.ResultShared},
		{"lower-case event", au("1", `{"event":"partner_added","waba_info":{"waba_id":"5"}}`), webhook.ResultShared},
		{"other object", webhook.Change{Object: "page", EntryID: "1", Field: "account_update", Value: json.RawMessage(`{"event":"PARTNER_ADDED","waba_info":{"waba_id":"5"}}`)}, webhook.ResultRaw},
		{"value not an object", au("1", `"PARTNER_ADDED"`), webhook.ResultRaw},
		{"no event", au("1", `{"waba_info":{"waba_id":"5"}}`), webhook.ResultRaw},
		{"unknown event", au("1", `{"event":"SOMETHING_NEW","waba_info":{"waba_id":"5"}}`), webhook.ResultRaw},
	}
	for _, c := range cases {
		m := webhook.Map(c.change)
		if m.Result != c.result {
			t.Errorf("%s: result %q (%s), want %q", c.name, m.Result, m.Problem, c.result)
		}
		if m.Result == webhook.ResultUnmapped && m.Problem == "" {
			t.Errorf("%s: no problem given", c.name)
		}
	}
	// A business id that is not one is left out, not a reason to drop the share.
	m := webhook.Map(au("partner", `{"event":"PARTNER_ADDED","waba_info":{"waba_id":"5","owner_business_id":"x"}}`))
	if m.Result != webhook.ResultShared || m.Shared.BusinessID != "" || m.Shared.OwnerBusinessID != "" || m.Shared.OccurredAt != "" {
		t.Fatalf("got %+v", m.Shared)
	}
}
