package webhook_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/webhook"
	"github.com/wabaworker/waba-worker/schemas"
)

// metaExample reads a delivery from testdata/meta.
func metaExample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "meta", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseOne(t *testing.T, body []byte) webhook.Change {
	t.Helper()
	cs, err := webhook.ParseEnvelope(body)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ParseEnvelope = %d changes, %v", len(cs), err)
	}
	return cs[0]
}

// Meta's examples parse, their irregularities included, and each change
// keeps its value byte for byte.
func TestParseMetaExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, object, entryID, time, field, valueHas string
	}{
		{"partner_added", "", "2949482758682047", "1744823932", "account_update", `"PARTNER_ADDED"`},
		{"partner_app_installed", "whatsapp_business_account", "2949482758682047", "1745337174", "account_update", `"partner_app_id": "5731794616896507"`},
		{"partner_app_uninstalled", "whatsapp_business_account", "2949482758682047", "1748477359", "account_update", `"PARTNER_APP_UNINSTALLED"`},
		{"partner_removed", "whatsapp_business_account", "2949482758682047", "", "account_update", `"PARTNER_REMOVED"`},
		{"partner_removed_disconnection", "whatsapp_business_account", "2949482758682047", "", "account_update", `"PRIMARY_INACTIVITY"`},
		{"partner_removed_no_waba_info", "whatsapp_business_account", "102290129340398", "1743451903", "account_update", `"PARTNER_REMOVED"`},
		{"account_offboarded", "whatsapp_business_account", "102290129340398", "", "account_update", `"ACCOUNT_OFFBOARDED"`},
		{"account_deleted", "whatsapp_business_account", "102290129340398", "1743451903", "account_update", `"ACCOUNT_DELETED"`},
		{"account_violation", "whatsapp_business_account", "102290129340398", "1743451903", "account_update", `"ADULT"`},
		{"messages", "whatsapp_business_account", "102290129340398", "", "messages", `"Does it come in another color?"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			body := metaExample(t, c.name)
			ch := parseOne(t, body)
			if ch.Object != c.object || ch.EntryID != c.entryID || string(ch.Time) != c.time || ch.Field != c.field {
				t.Fatalf("got object %q entry %q time %q field %q", ch.Object, ch.EntryID, ch.Time, ch.Field)
			}
			if !strings.Contains(string(body), string(ch.Value)) || !strings.Contains(string(ch.Value), c.valueHas) {
				t.Fatalf("value is not the body's bytes: %s", ch.Value)
			}
			enc := ch.Encode()
			if err := schemas.Validate(schemas.WebhookChange, enc); err != nil {
				t.Fatalf("published message %s: %v", enc, err)
			}
			if !strings.HasSuffix(string(enc), `,"value":`+string(ch.Value)+`}`) {
				t.Fatalf("value not kept verbatim in %s", enc)
			}
		})
	}
}

func TestParseEnvelopeLenient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body          string
		object, entry, time string
		field, value        string
	}{
		{"numeric id and string time", `{"object":"page","entry":[{"id":123,"time":"1744823932","changes":[{"field":"feed","value":{"a":1}}]}]}`,
			"page", "123", `"1744823932"`, "feed", `{"a":1}`},
		{"no value", `{"object":"o","entry":[{"id":"1","changes":[{"field":"f"}]}]}`, "o", "1", "", "f", `null`},
		{"no field anywhere", `{"object":"o","entry":[{"id":"1","changes":[{"value":1}]}]}`, "o", "1", "", "", `1`},
		{"time of a wrong type dropped", `{"object":"o","entry":[{"id":"1","time":{"x":1},"changes":[{"field":"f","value":2}]}]}`, "o", "1", "", "f", `2`},
		{"whitespace in time compacted", `{"object":"o","entry":[{"id":"1","time": 17 ,"changes":[{"field":"f","value":2}]}]}`, "o", "1", "17", "f", `2`},
		{"messenger entry without changes", `{"object":"page","entry":[{"id":"9","time":1458692752478,"messaging":[{"message":{"text":"hi"}}]}]}`,
			"page", "9", "1458692752478", webhook.EntryField, `{"id":"9","time":1458692752478,"messaging":[{"message":{"text":"hi"}}]}`},
		{"null changes", `{"object":"o","entry":[{"id":"1","changes":null}]}`, "o", "1", "", webhook.EntryField, `{"id":"1","changes":null}`},
	}
	for _, c := range cases {
		ch := parseOne(t, []byte(c.body))
		if ch.Object != c.object || ch.EntryID != c.entry || string(ch.Time) != c.time || ch.Field != c.field || string(ch.Value) != c.value {
			t.Errorf("%s: got %q %q %q %q %s", c.name, ch.Object, ch.EntryID, ch.Time, ch.Field, ch.Value)
		}
	}
	// Several entries and changes, in order; an empty changes array adds none.
	cs, err := webhook.ParseEnvelope([]byte(`{"object":"o","entry":[{"id":"1","changes":[{"field":"a","value":1},{"field":"b","value":2}]},{"id":"2","changes":[]},{"id":"3","changes":[{"field":"c","value":3}]}]}`))
	if err != nil || len(cs) != 3 || cs[0].Field != "a" || cs[1].Field != "b" || cs[2].Field != "c" || cs[2].EntryID != "3" {
		t.Fatalf("got %+v, %v", cs, err)
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``, `not json`, `null`, `[]`, `"x"`, `{}`, `{"object":"o"}`, `{"entry":{}}`, `{"entry":null}`,
		`{"entry":[1]}`, `{"entry":[{"changes":{}}]}`, `{"entry":[{"changes":[1]}]}`, `{"entry":[{"changes":["x"]}]}`,
		`{"entry":[]} trailing`, `{"entry":[{"changes":[{"field":"f","value":}]}]}`,
	} {
		if _, err := webhook.ParseEnvelope([]byte(body)); !errors.Is(err, webhook.ErrNotEnvelope) {
			t.Errorf("ParseEnvelope(%q) = %v, want ErrNotEnvelope", body, err)
		}
	}
	if cs, err := webhook.ParseEnvelope([]byte(`{"object":"o","entry":[]}`)); err != nil || len(cs) != 0 {
		t.Errorf("empty entry: %v %v", cs, err)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"whatsapp_business_account": "whatsapp_business_account",
		"account_update":            "account_update",
		"":                          "unknown",
		"a.b":                       "a_b",
		"*":                         "_",
		">":                         "_",
		"a b\tc":                    "a_b_c",
		"café":                      "caf__",
		"Mixed-Case_1":              "Mixed-Case_1",
		strings.Repeat("x", 100):    strings.Repeat("x", webhook.MaxTokenLen),
	} {
		if got := webhook.Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
	ch := webhook.Change{Object: "whatsapp_business_account", Field: "account_update"}
	if got := ch.Subject("meta.webhook"); got != "meta.webhook.whatsapp_business_account.account_update" {
		t.Errorf("Subject = %s", got)
	}
}

// The message id depends on the content only: the same change batched
// differently or indented differently keeps it; any other change gets
// another.
func TestMsgID(t *testing.T) {
	t.Parallel()
	alone := parseOne(t, []byte(`{"object":"o","entry":[{"id":"1","time":5,"changes":[{"field":"f","value":{"a":1,"b":[2]}}]}]}`))
	cs, err := webhook.ParseEnvelope([]byte(`{
	  "object": "o",
	  "entry": [
	    {"id": "0", "changes": [{"field": "f", "value": 0}]},
	    {"id": "1", "time": 5, "changes": [{"field": "f", "value": { "a": 1, "b": [ 2 ] }}]}
	  ]}`))
	if err != nil {
		t.Fatal(err)
	}
	id := alone.MsgID()
	if cs[1].MsgID() != id {
		t.Errorf("same change, other batch and layout: %s != %s", cs[1].MsgID(), id)
	}
	if !strings.HasPrefix(id, webhook.MsgIDPrefix) || len(id) != len(webhook.MsgIDPrefix)+32 || !events.ValidID(id) {
		t.Errorf("id %q", id)
	}
	others := []webhook.Change{
		{Object: "p", EntryID: "1", Time: json.RawMessage("5"), Field: "f", Value: alone.Value},
		{Object: "o", EntryID: "2", Time: json.RawMessage("5"), Field: "f", Value: alone.Value},
		{Object: "o", EntryID: "1", Time: json.RawMessage("6"), Field: "f", Value: alone.Value},
		{Object: "o", EntryID: "1", Field: "f", Value: alone.Value},
		{Object: "o", EntryID: "1", Time: json.RawMessage("5"), Field: "g", Value: alone.Value},
		{Object: "o", EntryID: "1", Time: json.RawMessage("5"), Field: "f", Value: json.RawMessage(`{"a":2,"b":[2]}`)},
		// Fields run into each other differently: length prefixes tell them apart.
		{Object: "o1", EntryID: "", Time: json.RawMessage("5"), Field: "f", Value: alone.Value},
	}
	for _, o := range others {
		if o.MsgID() == id {
			t.Errorf("%+v has the same id", o)
		}
	}
}

func TestOccurredAt(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`1744823932`:                  "2025-04-16T17:18:52Z",
		`"1744823932"`:                "2025-04-16T17:18:52Z",
		`1458692752478`:               "2016-03-23T00:25:52Z", // Messenger's milliseconds
		`1744823932.5`:                "2025-04-16T17:18:52Z",
		`"2025-04-16T19:18:52+02:00"`: "2025-04-16T17:18:52Z",
		`0`:                           "",
		`-5`:                          "",
		`1e300`:                       "",
		`"soon"`:                      "",
		`null`:                        "",
		``:                            "",
	} {
		got := ""
		if tm, ok := (webhook.Change{Time: json.RawMessage(raw)}).OccurredAt(); ok {
			got = tm.Format(time.RFC3339)
		}
		if got != want {
			t.Errorf("OccurredAt(%s) = %q, want %q", raw, got, want)
		}
	}
}

// The published message keeps the value byte for byte, even where JSON
// re-encoding would change it.
func TestEncodeKeepsValueVerbatim(t *testing.T) {
	t.Parallel()
	body := []byte("{\"object\":\"o\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"f\",\"value\":{ \"b\" : 1.50, \"a\":\"\\u00e9<>\" }}]}]}")
	ch := parseOne(t, body)
	want := `{ "b" : 1.50, "a":"\u00e9<>" }`
	if string(ch.Value) != want {
		t.Fatalf("value %s", ch.Value)
	}
	if got := string(ch.Encode()); got != `{"object":"o","entry_id":"1","field":"f","value":`+want+`}` {
		t.Fatalf("Encode = %s", got)
	}
}
