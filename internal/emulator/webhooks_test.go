package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

const hookSecret = "emulator-app-secret"

// callback is the app's webhook endpoint: it checks each delivery's
// signature and answers the statuses it is given, then 200.
type callback struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte // deliveries answered 200, signature checked
	attempts int
}

func newCallback(t *testing.T, statuses ...int) *callback {
	c := &callback{t: t, statuses: statuses}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := metahook.Verify(hookSecret, body, r.Header.Get(metahook.SignatureHeader)); err != nil {
			t.Errorf("delivery signature: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.attempts++
		if len(c.statuses) > 0 {
			w.WriteHeader(c.statuses[0])
			c.statuses = c.statuses[1:]
			return
		}
		c.bodies = append(c.bodies, body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *callback) delivered() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

// control POSTs v as JSON to a control endpoint.
func (b *testBundle) control(t *testing.T, method, path string, v any) *result {
	t.Helper()
	var body io.Reader
	if v != nil {
		data, _ := json.Marshal(v)
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &result{status: resp.StatusCode, header: resp.Header, body: data}
}

// accountUpdate decodes the one account_update change of a delivery.
func accountUpdate(t *testing.T, body []byte) (entryID string, v metahook.AccountUpdate) {
	t.Helper()
	var e metahook.Envelope
	if err := json.Unmarshal(body, &e); err != nil || len(e.Entry) != 1 || len(e.Entry[0].Changes) != 1 {
		t.Fatalf("delivery %s: %v", body, err)
	}
	c := e.Entry[0].Changes[0]
	if e.Object != metahook.ObjectWhatsAppBusinessAccount || c.Field != metahook.FieldAccountUpdate || e.Entry[0].Time == 0 {
		t.Errorf("delivery %s", body)
	}
	if err := json.Unmarshal(c.Value, &v); err != nil || v.WABAInfo == nil {
		t.Fatalf("value %s: %v", c.Value, err)
	}
	return e.Entry[0].ID, v
}

// Through the control endpoints: a subscription, then a share "through
// Embedded Signup" that creates the WABA, shares it and delivers a signed
// PARTNER_ADDED (after two 503s, retried), then an unshare that delivers
// PARTNER_REMOVED and ends the business's access.
func TestControlShareAndUnshareDeliverWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cb := newCallback(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	const newWABA = "500000000000777"

	if r := b.control(t, http.MethodPost, "/_emulator/share", ShareRequest{BusinessID: bizID, WabaID: newWABA}); r.status != http.StatusConflict {
		t.Errorf("share without a subscription: %d %s, want 409", r.status, r.body)
	}
	if _, err := b.srv.UnshareWithWebhook(bizID, wabaA, ""); err != ErrNoWebhook {
		t.Errorf("UnshareWithWebhook without a subscription: %v, want ErrNoWebhook", err)
	}
	if r := b.control(t, http.MethodPost, "/_emulator/webhooks", map[string]string{"callback_url": cb.srv.URL + "/hook", "app_secret": hookSecret}); r.status != 200 {
		t.Fatalf("set the subscription: %d %s", r.status, r.body)
	}
	if r := b.control(t, http.MethodGet, "/_emulator/webhooks", nil); r.status != 200 ||
		!strings.Contains(string(r.body), `"callback_url":"`+cb.srv.URL+`/hook"`) || !strings.Contains(string(r.body), `"app_secret_set":true`) ||
		strings.Contains(string(r.body), hookSecret) {
		t.Errorf("GET the subscription: %d %s", r.status, r.body)
	}
	// Short retries for the test (the control endpoint keeps the defaults).
	sub := b.srv.Webhook()
	sub.InitialInterval, sub.MaxInterval = 10*time.Millisecond, 50*time.Millisecond
	if err := b.srv.SetWebhook(sub); err != nil {
		t.Fatal(err)
	}
	if r := b.get(t, "/"+newWABA+"/assigned_users", adminTok, url.Values{"business": {bizID}}); r.status == 200 {
		t.Fatalf("the WABA exists before the share: %s", r.body)
	}

	r := b.control(t, http.MethodPost, "/_emulator/share", ShareRequest{BusinessID: bizID, WabaID: newWABA, OwnerBusinessID: "300300300", Wait: "10s"})
	var ans ShareAnswer
	if err := json.Unmarshal(r.body, &ans); err != nil || r.status != 200 || ans.Delivery != "delivered" || ans.Attempts != 3 ||
		ans.Status != 200 || ans.Event != metahook.EventPartnerAdded || ans.WabaID != newWABA {
		t.Fatalf("share: %d %s", r.status, r.body)
	}
	got := cb.delivered()
	if len(got) != 1 {
		t.Fatalf("%d deliveries answered 200, want 1", len(got))
	}
	entry, v := accountUpdate(t, got[0])
	if entry != bizID || v.Event != metahook.EventPartnerAdded || v.WABAInfo.WabaID != newWABA || v.WABAInfo.OwnerBusinessID != "300300300" {
		t.Errorf("PARTNER_ADDED delivery %s", got[0])
	}
	if r := b.get(t, "/"+newWABA+"/assigned_users", adminTok, url.Values{"business": {bizID}}); r.status != 200 {
		t.Errorf("the shared WABA is not readable: %d %s", r.status, r.body)
	}

	// business_id defaults to the only business only when there is one.
	if r := b.control(t, http.MethodPost, "/_emulator/unshare", ShareRequest{WabaID: newWABA}); r.status != http.StatusBadRequest {
		t.Errorf("unshare without business_id among two businesses: %d %s, want 400", r.status, r.body)
	}
	r = b.control(t, http.MethodPost, "/_emulator/unshare", ShareRequest{BusinessID: bizID, WabaID: newWABA, Wait: "10s"})
	if err := json.Unmarshal(r.body, &ans); err != nil || r.status != 200 || ans.Delivery != "delivered" || ans.Event != metahook.EventPartnerRemoved {
		t.Fatalf("unshare: %d %s", r.status, r.body)
	}
	got = cb.delivered()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	if entry, v := accountUpdate(t, got[1]); entry != bizID || v.Event != metahook.EventPartnerRemoved || v.WABAInfo.WabaID != newWABA ||
		v.WABAInfo.OwnerBusinessID != DevOwnerBusinessID {
		t.Errorf("PARTNER_REMOVED delivery %s", got[1])
	}
	b.get(t, "/"+newWABA+"/assigned_users", adminTok, url.Values{"business": {bizID}}).wantError(t, http.StatusBadRequest, 100, 33, "")
}

// Bad control requests are refused with a message, and change nothing.
func TestControlRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{http.MethodPost, "/_emulator/webhooks", map[string]string{"callback_url": "ftp://x", "app_secret": "s"}, 400, "not an http(s) URL"},
		{http.MethodPost, "/_emulator/webhooks", map[string]string{"callback_url": "http://127.0.0.1:1/"}, 400, "app secret is required"},
		{http.MethodPost, "/_emulator/webhooks", map[string]string{"callback": "http://x"}, 400, "unknown field"},
		{http.MethodPost, "/_emulator/share", map[string]string{"waba_id": "1", "wait": "forever"}, 400, "wait must be a duration"},
		{http.MethodGet, "/_emulator/share", nil, 404, "no such control endpoint"},
		{http.MethodPost, "/_emulator/nope", map[string]string{}, 404, "no such control endpoint"},
	}
	for _, tt := range tests {
		r := b.control(t, tt.method, tt.path, tt.body)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("%s %s %v: %d %s, want %d with %q", tt.method, tt.path, tt.body, r.status, r.body, tt.status, tt.want)
		}
	}
	if sub := b.srv.Webhook(); sub.CallbackURL != "" {
		t.Errorf("a refused subscription was kept: %+v", sub)
	}
	// Share of an unknown business or a non-numeric id fails before any delivery.
	cb := newCallback(t)
	if err := b.srv.SetWebhook(WebhookSubscription{CallbackURL: cb.srv.URL, AppSecret: hookSecret}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []ShareRequest{{BusinessID: "999", WabaID: "500000000000888"}, {BusinessID: bizID, WabaID: "abc"}} {
		if r := b.control(t, http.MethodPost, "/_emulator/share", q); r.status != 400 {
			t.Errorf("share %+v: %d %s, want 400", q, r.status, r.body)
		}
	}
	if n := len(cb.delivered()); n != 0 {
		t.Errorf("%d deliveries for refused shares", n)
	}
}
