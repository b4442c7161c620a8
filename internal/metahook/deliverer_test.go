package metahook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

const secret = "app-secret"

// callback is a test callback URL that answers each delivery with the next
// of a list of statuses (the last one repeats) and records what it got.
type callback struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	headers  []http.Header
	calls    atomic.Int32
}

func newCallback(t *testing.T, statuses ...int) *callback {
	t.Helper()
	c := &callback{statuses: statuses}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, body)
		c.headers = append(c.headers, r.Header.Clone())
		status := c.statuses[min(len(c.bodies), len(c.statuses))-1]
		c.mu.Unlock()
		c.calls.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// fast retries, so tests take milliseconds.
func fast(cfg metahook.DelivererConfig) metahook.DelivererConfig {
	cfg.Secret = secret
	cfg.InitialInterval = time.Millisecond
	cfg.MaxInterval = 5 * time.Millisecond
	return cfg
}

func newDeliverer(t *testing.T, cfg metahook.DelivererConfig) *metahook.Deliverer {
	t.Helper()
	d, err := metahook.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func wait(t *testing.T, dl *metahook.Delivery) metahook.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := dl.Wait(ctx)
	if err != nil {
		t.Fatalf("delivery did not end: %v", err)
	}
	return res
}

// A delivery is signed like Meta's and carries Meta's headers; the
// signature verifies with the same helper the gateway uses.
func TestDeliverSigns(t *testing.T) {
	t.Parallel()
	cb := newCallback(t, http.StatusOK)
	d := newDeliverer(t, fast(metahook.DelivererConfig{}))
	env := metahook.PartnerAdded("2949482758682047", "980198427658004", "2329417887457253", time.Unix(1744823932, 0))
	res := wait(t, d.DeliverEnvelope(cb.srv.URL, env))
	if !res.Delivered() || res.Attempts != 1 || res.Status != 200 {
		t.Fatalf("result %+v", res)
	}
	body, h := cb.bodies[0], cb.headers[0]
	if err := metahook.Verify(secret, body, h.Get(metahook.SignatureHeader)); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if h.Get(metahook.LegacySignatureHeader) != metahook.SignLegacy(secret, body) {
		t.Errorf("legacy signature %q", h.Get(metahook.LegacySignatureHeader))
	}
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != metahook.UserAgent {
		t.Errorf("headers %v", h)
	}
	var got struct {
		Object string `json:"object"`
		Entry  []struct {
			ID      string `json:"id"`
			Time    int64  `json:"time"`
			Changes []struct {
				Field string `json:"field"`
				Value struct {
					Event    string `json:"event"`
					WABAInfo struct {
						WabaID          string `json:"waba_id"`
						OwnerBusinessID string `json:"owner_business_id"`
					} `json:"waba_info"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	e := got.Entry[0]
	c := e.Changes[0]
	if got.Object != "whatsapp_business_account" || e.ID != "2949482758682047" || e.Time != 1744823932 ||
		c.Field != "account_update" || c.Value.Event != "PARTNER_ADDED" ||
		c.Value.WABAInfo.WabaID != "980198427658004" || c.Value.WABAInfo.OwnerBusinessID != "2329417887457253" {
		t.Fatalf("envelope %s", body)
	}
}

// Like Meta, it retries while the answer is not 200, and the same body
// every time.
func TestDeliverRetriesUntil200(t *testing.T) {
	t.Parallel()
	cb := newCallback(t, 503, 500, 429, 403, 200)
	d := newDeliverer(t, fast(metahook.DelivererConfig{}))
	res := wait(t, d.Deliver(cb.srv.URL, []byte(`{"object":"x","entry":[]}`)))
	if !res.Delivered() || res.Attempts != 5 || res.Status != 200 {
		t.Fatalf("result %+v", res)
	}
	for i, b := range cb.bodies {
		if string(b) != `{"object":"x","entry":[]}` {
			t.Errorf("attempt %d sent %q", i+1, b)
		}
	}
	// A 2xx that is not 200 is not good enough either.
	cb = newCallback(t, 204, 200)
	if res := wait(t, d.Deliver(cb.srv.URL, []byte(`{}`))); !res.Delivered() || res.Attempts != 2 {
		t.Fatalf("204 then 200: %+v", res)
	}
}

func TestDeliverGivesUp(t *testing.T) {
	t.Parallel()
	t.Run("after MaxAttempts", func(t *testing.T) {
		t.Parallel()
		cb := newCallback(t, 503)
		d := newDeliverer(t, fast(metahook.DelivererConfig{MaxAttempts: 3}))
		res := wait(t, d.Deliver(cb.srv.URL, []byte(`{}`)))
		if !errors.Is(res.Err, metahook.ErrGaveUp) || res.Attempts != 3 || res.Status != 503 || cb.calls.Load() != 3 {
			t.Fatalf("result %+v, calls %d", res, cb.calls.Load())
		}
	})
	t.Run("after MaxElapsedTime", func(t *testing.T) {
		t.Parallel()
		cb := newCallback(t, 500)
		d := newDeliverer(t, fast(metahook.DelivererConfig{MaxElapsedTime: 30 * time.Millisecond}))
		res := wait(t, d.Deliver(cb.srv.URL, []byte(`{}`)))
		if !errors.Is(res.Err, metahook.ErrGaveUp) || res.Attempts < 2 {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("unreachable URL", func(t *testing.T) {
		t.Parallel()
		cb := newCallback(t, 200)
		url := cb.srv.URL
		cb.srv.Close()
		d := newDeliverer(t, fast(metahook.DelivererConfig{MaxAttempts: 2}))
		res := wait(t, d.Deliver(url, []byte(`{}`)))
		if !errors.Is(res.Err, metahook.ErrGaveUp) || res.Status != 0 || res.Attempts != 2 {
			t.Fatalf("result %+v", res)
		}
	})
}

// Deliver never blocks on the callback; Close ends pending deliveries with
// ErrClosed, and later ones fail at once.
func TestDeliverCloseCancels(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(503)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d, err := metahook.NewDeliverer(metahook.DelivererConfig{Secret: secret, InitialInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var dls []*metahook.Delivery
	for range 3 {
		dls = append(dls, d.Deliver(srv.URL, []byte(`{}`))) // returns while the callback hangs
	}
	d.Close()
	for _, dl := range dls {
		select {
		case <-dl.Done():
		default:
			t.Fatal("Close returned before a delivery ended")
		}
		if res := wait(t, dl); !errors.Is(res.Err, metahook.ErrClosed) {
			t.Fatalf("result %+v", res)
		}
	}
	if res := wait(t, d.Deliver(srv.URL, []byte(`{}`))); !errors.Is(res.Err, metahook.ErrClosed) || res.Attempts != 0 {
		t.Fatalf("after Close: %+v", res)
	}
}

func TestNewDelivererValidates(t *testing.T) {
	t.Parallel()
	if _, err := metahook.NewDeliverer(metahook.DelivererConfig{}); err == nil {
		t.Error("no secret accepted")
	}
	if _, err := metahook.NewDeliverer(metahook.DelivererConfig{Secret: "s", MaxElapsedTime: -1}); err == nil {
		t.Error("unbounded deliveries accepted")
	}
}
