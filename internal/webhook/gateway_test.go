package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/webhook"
	"github.com/wabaworker/waba-worker/schemas"
)

// Meta's verification request: the challenge back only for the right mode
// and token.
func TestVerificationRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	get := func(q url.Values) (int, string, string) {
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, b.url+"?"+q.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), body.String()
	}
	status, ctype, body := get(url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"1158201444"}})
	if status != 200 || body != "1158201444" || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("right token: %d %q %q", status, ctype, body)
	}
	for name, q := range map[string]url.Values{
		"wrong token":    {"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken + "x"}, "hub.challenge": {"42"}},
		"token prefix":   {"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken[:5]}, "hub.challenge": {"42"}},
		"no token":       {"hub.mode": {"subscribe"}, "hub.challenge": {"42"}},
		"missing mode":   {"hub.verify_token": {verifyToken}, "hub.challenge": {"42"}},
		"other mode":     {"hub.mode": {"unsubscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"42"}},
		"nothing at all": {},
	} {
		if status, _, body := get(q); status != http.StatusForbidden || strings.Contains(body, "42") {
			t.Errorf("%s: %d %q, want 403 without the challenge", name, status, body)
		}
	}
	if got := b.metric(t, "waba_webhook_requests_total", "outcome", webhook.OutcomeVerifyRejected); got != 6 {
		t.Errorf("verify_rejected = %v", got)
	}
	if got := b.metric(t, "waba_webhook_requests_total", "outcome", webhook.OutcomeVerified); got != 1 {
		t.Errorf("verified = %v", got)
	}
}

// Missing, wrong and re-serialised-body signatures: 401, 403, 403, and
// nothing published.
func TestSignatureRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := metaExample(t, "partner_added")
	var reserialised bytes.Buffer
	if err := json.Compact(&reserialised, body); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		body      []byte
		signature string
		status    int
	}{
		{"missing", body, "", http.StatusUnauthorized},
		{"wrong secret", body, metahook.Sign("not-the-secret", body), http.StatusForbidden},
		// The same JSON, re-serialised: the signature is over the raw bytes.
		{"re-serialised body", body, metahook.Sign(appSecret, reserialised.Bytes()), http.StatusForbidden},
		{"malformed", body, "sha256=xyz", http.StatusForbidden},
		{"sha1 only", body, metahook.SignLegacy(appSecret, body), http.StatusForbidden},
	}
	for _, c := range cases {
		if status, _ := b.post(t, c.body, c.signature); status != c.status {
			t.Errorf("%s: %d, want %d", c.name, status, c.status)
		}
	}
	b.expectNothingPublished(t)
	if got := b.metric(t, "waba_webhook_signature_failures_total", "reason", webhook.SignatureMissing); got != 1 {
		t.Errorf("missing = %v", got)
	}
	if got := b.metric(t, "waba_webhook_signature_failures_total", "reason", webhook.SignatureMismatch); got != 4 {
		t.Errorf("mismatch = %v", got)
	}
}

// A signed body that is not Meta's envelope: 400, nothing published. Too
// large: 413. Other methods and paths: 405, 404.
func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cfg: func(c *webhook.Config) { c.MaxBody = 1 << 10 }})
	for _, body := range []string{`not json`, `[]`, `{"object":"whatsapp_business_account"}`, `{"entry":{}}`, `{"entry":[{"changes":["x"]}]}`} {
		if status, _ := b.deliver(t, []byte(body)); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, status)
		}
	}
	big := []byte(`{"object":"x","entry":[],"pad":"` + strings.Repeat("x", 2<<10) + `"}`)
	if status, _ := b.deliver(t, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d, want 413", status)
	}
	// Without a Content-Length (chunked), the cap holds while reading.
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, b.url, struct{ *bytes.Reader }{bytes.NewReader(big)})
	req.Header.Set(metahook.SignatureHeader, metahook.Sign(appSecret, big))
	if status, _ := do(t, req); status != http.StatusRequestEntityTooLarge {
		t.Errorf("large chunked body: %d, want 413", status)
	}
	req, _ = http.NewRequestWithContext(testCtx(t), http.MethodPut, b.url, nil)
	if status, _ := do(t, req); status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", status)
	}
	req, _ = http.NewRequestWithContext(testCtx(t), http.MethodPost, b.srv.URL+"/other", nil)
	if status, _ := do(t, req); status != http.StatusNotFound {
		t.Errorf("other path: %d, want 404", status)
	}
	b.expectNothingPublished(t)
	if got := b.metric(t, "waba_webhook_requests_total", "outcome", webhook.OutcomeBadEnvelope); got != 5 {
		t.Errorf("bad_envelope = %v", got)
	}
}

// Without a usable secret or token the gateway refuses everything with 503
// (Meta delivers again once it is fixed) and never takes an empty secret as
// a key anyone could sign with.
func TestUnusableSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cfg: func(c *webhook.Config) {
		c.AppSecret = webhook.Static("")
		c.VerifyToken = func() (string, error) { return "", errTest }
	}})
	body := metaExample(t, "partner_added")
	if status, _ := b.post(t, body, metahook.Sign("", body)); status != http.StatusServiceUnavailable {
		t.Errorf("empty secret: %d, want 503", status)
	}
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, b.url+"?hub.mode=subscribe&hub.verify_token=&hub.challenge=1", nil)
	if status, _ := do(t, req); status != http.StatusServiceUnavailable {
		t.Errorf("unreadable token: %d, want 503", status)
	}
	b.expectNothingPublished(t)
}

// Meta's examples map as the SPEC says, each change is stored raw on its
// subject, and the events are what the worker accepts.
func TestMetaExamplesPublished(t *testing.T) {
	t.Parallel()
	cases := []struct {
		example, subject string
		event            string // subject of the event it becomes, "" for none
		wabaID           string
	}{
		{"partner_added", "meta.webhook.unknown.account_update", "waba.shared", "980198427658004"},
		{"partner_app_installed", "meta.webhook.whatsapp_business_account.account_update", "waba.shared", "1191624265890717"},
		{"partner_removed", "meta.webhook.whatsapp_business_account.account_update", "waba.unshared", "980198427658004"},
		{"partner_removed_no_waba_info", "meta.webhook.whatsapp_business_account.account_update", "waba.unshared", "102290129340398"},
		{"account_offboarded", "meta.webhook.whatsapp_business_account.account_update", "waba.unshared", "102290129340398"},
		{"account_violation", "meta.webhook.whatsapp_business_account.account_update", "", ""},
		{"messages", "meta.webhook.whatsapp_business_account.messages", "", ""},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := metaExample(t, c.example)
			if status, answer := b.deliver(t, body); status != http.StatusOK {
				t.Fatalf("answer %d %q", status, answer)
			}
			raw := b.stored(t, webhook.DefaultStream)
			if len(raw) != 1 || raw[0].Subject != c.subject {
				t.Fatalf("raw messages %v", subjects(raw))
			}
			if err := schemas.Validate(schemas.WebhookChange, raw[0].Data); err != nil {
				t.Fatalf("raw message %s: %v", raw[0].Data, err)
			}
			id := raw[0].Header.Get("Nats-Msg-Id")
			if !strings.HasPrefix(id, webhook.MsgIDPrefix) {
				t.Fatalf("raw Nats-Msg-Id %q", id)
			}
			evs := b.stored(t, eventsName)
			if c.event == "" {
				if len(evs) != 0 {
					t.Fatalf("events %v for an unmapped change", subjects(evs))
				}
				return
			}
			if len(evs) != 1 || evs[0].Subject != c.event || evs[0].Header.Get("Nats-Msg-Id") != id {
				t.Fatalf("events %v", subjects(evs))
			}
			switch c.event {
			case "waba.shared":
				ev, err := events.Decode(evs[0].Data)
				if err != nil || ev.WabaID != c.wabaID || ev.ID != id || ev.Source != "webhook" {
					t.Fatalf("shared %s: %v", evs[0].Data, err)
				}
			case "waba.unshared":
				ev, err := events.DecodeUnshared(evs[0].Data)
				if err != nil || ev.WabaID != c.wabaID || ev.ID != id || ev.Reason == "" {
					t.Fatalf("unshared %s: %v", evs[0].Data, err)
				}
				if err := schemas.Validate(schemas.Unshared, evs[0].Data); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A change that cannot be mapped is stored raw and counted, and the answer
// is still 200.
func TestUnmappableStillAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	env := metahook.PartnerAdded("2949482758682047", "not-a-waba", "2329417887457253", fixedTime)
	body, _ := env.Marshal()
	if status, _ := b.deliver(t, body); status != http.StatusOK {
		t.Fatalf("answer %d", status)
	}
	if n := len(b.stored(t, webhook.DefaultStream)); n != 1 {
		t.Fatalf("%d raw messages", n)
	}
	if n := len(b.stored(t, eventsName)); n != 0 {
		t.Fatalf("%d events", n)
	}
	if got := b.metric(t, "waba_webhook_changes_total", "field", "account_update", "event", "PARTNER_ADDED", "result", webhook.ResultUnmapped); got != 1 {
		t.Fatalf("unmapped = %v", got)
	}
}

// Meta redelivers: the same payload three times is stored once and becomes
// one waba.shared.
func TestRedeliveryStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := metaExample(t, "partner_added")
	for i := range 3 {
		if status, _ := b.deliver(t, body); status != http.StatusOK {
			t.Fatalf("delivery %d: %d", i+1, status)
		}
	}
	// The same change batched with another one, as Meta may on a retry.
	batch := metahook.PartnerAdded("2949482758682047", "1", "2", fixedTime)
	var again metahook.Envelope
	if err := json.Unmarshal(body, &again); err != nil {
		t.Fatal(err)
	}
	batch = batch.Add(again)
	batch.Object = "" // as in Meta's example, which names no object
	rebatched, _ := batch.Marshal()
	if status, _ := b.deliver(t, rebatched); status != http.StatusOK {
		t.Fatalf("rebatched: %d", status)
	}
	if shared := b.stored(t, eventsName, "waba.shared"); len(shared) != 2 {
		t.Fatalf("%d waba.shared, want 2 (980198427658004 once, 1 once): %v", len(shared), subjects(shared))
	}
	if raw := b.stored(t, webhook.DefaultStream); len(raw) != 2 {
		t.Fatalf("%d raw messages, want 2", len(raw))
	}
}

// One POST of 1,000 changes answers 200 with 1,000 messages stored.
func TestThousandChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body, _ := metahook.Messages("102290129340398", "106540352242922", 1000, fixedTime).Marshal()
	start := time.Now()
	status, _ := b.deliver(t, body)
	elapsed := time.Since(start)
	if status != http.StatusOK {
		t.Fatalf("answer %d", status)
	}
	t.Logf("1,000 changes (%d bytes) answered in %s", len(body), elapsed)
	if n := len(b.stored(t, webhook.DefaultStream, "meta.webhook.whatsapp_business_account.messages")); n != 1000 {
		t.Fatalf("%d messages stored, want 1000", n)
	}
	if got := b.metric(t, "waba_webhook_changes_total", "field", "messages", "event", "", "result", webhook.ResultRaw); got != 1000 {
		t.Fatalf("changes counted %v", got)
	}
}

func subjects(msgs []*jetstream.RawStreamMsg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Subject
	}
	return out
}

// Meta sends bodies of up to 3 MB, and one change may be most of one: it is
// stored (one message over NATS's default 1 MiB max_payload; the servers
// the project runs, and the README's, allow 8 MiB) and answered 200.
func TestThreeMegabyteChangeStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	blob := strings.Repeat("x", 3<<20-512)
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"2949482758682047","time":1732449600,"changes":[{"field":"message_template_status_update","value":{"blob":"` + blob + `"}}]}]}`)
	if status, msg := b.deliver(t, body); status != http.StatusOK {
		t.Fatalf("a %d-byte delivery: %d %s", len(body), status, msg)
	}
	msgs := b.stored(t, webhook.DefaultStream)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), blob) {
		t.Fatalf("%d raw messages stored, want the whole change once", len(msgs))
	}
}
