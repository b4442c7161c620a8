package webhook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// No body makes the parser or the mapping panic, and what they produce is
// publishable: valid subjects and message ids, JSON messages, and events the
// worker accepts.
func FuzzParseEnvelope(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "meta", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `{"entry":[]}`, `{"entry":[{}]}`, `{"entry":[{"changes":[{}]}]}`,
		`{"object":"a.b *>","entry":[{"id":1e400,"time":-1,"changes":[{"field":" ","value":{"event":"PARTNER_ADDED","waba_info":{"waba_id":"1"}}}]}]}`,
		`{"entry":[{"id":"1","time":"99999999999999999999","changes":[{"value":{"event":"ACCOUNT_DELETED","field":"account_update"}}]}]}`,
		"{\"entry\":[{\"id\":\"\xff\",\"changes\":[{\"field\":\"\xfe\",\"value\":\"\xff\"}]}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := webhook.ParseEnvelope(body)
		if err != nil {
			return
		}
		for _, c := range changes {
			subject := c.Subject("meta.webhook")
			tokens := strings.Split(subject, ".")
			if len(tokens) != 4 {
				t.Fatalf("subject %q has %d tokens", subject, len(tokens))
			}
			for _, tok := range tokens {
				if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
					t.Fatalf("subject %q has a bad token %q", subject, tok)
				}
			}
			if id := c.MsgID(); !events.ValidID(id) {
				t.Fatalf("msg id %q", id)
			}
			if msg := c.Encode(); !json.Valid(msg) {
				t.Fatalf("published message is not JSON: %q", msg)
			}
			m := webhook.Map(c)
			switch m.Result {
			case webhook.ResultShared:
				b, _ := json.Marshal(m.Shared)
				if _, err := events.Decode(b); err != nil {
					t.Fatalf("shared %s refused by the worker: %v", b, err)
				}
			case webhook.ResultUnshared:
				b, _ := m.Unshared.Encode()
				if _, err := events.DecodeUnshared(b); err != nil {
					t.Fatalf("unshared %s refused by the worker: %v", b, err)
				}
			case webhook.ResultRaw, webhook.ResultUnmapped:
			default:
				t.Fatalf("result %q", m.Result)
			}
		}
	})
}
