package health_test

import (
	"context"
	"encoding/json"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/worker"
)

type fakeConn nats.Status

func (c fakeConn) Status() nats.Status { return nats.Status(c) }

type fakeWorker worker.Status

func (w fakeWorker) Status() worker.Status { return worker.Status(w) }

type fakeBreaker breaker.State

func (b fakeBreaker) State() breaker.State { return breaker.State(b) }

func TestCheck(t *testing.T) {
	t.Parallel()
	working := fakeWorker{ConsumerBound: true}
	for _, c := range []struct {
		name   string
		src    health.Sources
		ready  bool
		failed map[string]string // the checks that are not ok
	}{
		{"all well", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: working, Breaker: fakeBreaker(breaker.Closed)}, true, nil},
		{"nats reconnecting", health.Sources{NATS: fakeConn(nats.RECONNECTING), Worker: working, Breaker: fakeBreaker(breaker.Closed)},
			false, map[string]string{"nats": "reconnecting"}},
		{"nats closed", health.Sources{NATS: fakeConn(nats.CLOSED), Worker: working, Breaker: fakeBreaker(breaker.Closed)},
			false, map[string]string{"nats": "closed"}},
		{"consumer unbound", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: fakeWorker{}, Breaker: fakeBreaker(breaker.Closed)},
			false, map[string]string{"consumer": "unbound"}},
		{"token rejected", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: fakeWorker{ConsumerBound: true, Paused: wabatype.PauseCredentials}, Breaker: fakeBreaker(breaker.Closed)},
			false, map[string]string{"credentials": "rejected"}},
		{"breaker open", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: fakeWorker{ConsumerBound: true, Paused: wabatype.PauseBreaker}, Breaker: fakeBreaker(breaker.Open)},
			false, map[string]string{"breaker": "open"}},
		{"breaker open, intake not paused yet", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: working, Breaker: fakeBreaker(breaker.Open)},
			false, map[string]string{"breaker": "open"}},
		{"breaker half-open, probing", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: fakeWorker{ConsumerBound: true, Paused: wabatype.PauseBreaker}, Breaker: fakeBreaker(breaker.HalfOpen)},
			false, map[string]string{"breaker": "half_open"}},
		{"half-open with intake running", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: working, Breaker: fakeBreaker(breaker.HalfOpen)}, true, nil},
		{"stopping", health.Sources{NATS: fakeConn(nats.CONNECTED), Worker: working, Breaker: fakeBreaker(breaker.Closed), Stopping: func() bool { return true }},
			false, map[string]string{"intake": "stopping"}},
		{"everything wrong", health.Sources{NATS: fakeConn(nats.DISCONNECTED), Worker: fakeWorker{Paused: wabatype.PauseCredentials}, Breaker: fakeBreaker(breaker.Open)},
			false, map[string]string{"nats": "disconnected", "consumer": "unbound", "credentials": "rejected", "breaker": "open"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := c.src.Check()
			if r.Ready != c.ready {
				t.Errorf("Ready = %v, want %v (%v)", r.Ready, c.ready, r.Checks)
			}
			for _, name := range []string{"nats", "consumer", "credentials", "breaker"} {
				want := health.OK
				if v, ok := c.failed[name]; ok {
					want = v
				}
				if r.Checks[name] != want {
					t.Errorf("check %s = %q, want %q", name, r.Checks[name], want)
				}
			}
			if v, ok := c.failed["intake"]; ok && r.Checks["intake"] != v {
				t.Errorf("check intake = %q, want %q", r.Checks["intake"], v)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	ready := health.Report{Ready: true, Checks: map[string]string{"nats": "ok"}}
	notReady := health.Report{Ready: false, Checks: map[string]string{"nats": "ok", "credentials": "rejected"}}
	current := make(chan health.Report, 1)
	report := func() health.Report { r := <-current; current <- r; return r }
	current <- ready
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "waba_ready 1\n") })
	srv := httptest.NewServer(health.Handler(report, metrics))
	t.Cleanup(srv.Close)

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	if code, body, _ := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body, h := get("/readyz")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Errorf("/readyz ready: %d %s", code, h.Get("Content-Type"))
	}
	var got health.Report
	if err := json.Unmarshal([]byte(body), &got); err != nil || !got.Ready || got.Checks["nats"] != "ok" {
		t.Errorf("/readyz body %q (%v)", body, err)
	}
	<-current
	current <- notReady
	code, body, _ = get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"ready":false`) || !strings.Contains(body, `"credentials":"rejected"`) {
		t.Errorf("/readyz not ready: %d %s", code, body)
	}
	if code, body, _ := get("/metrics"); code != 200 || body != "waba_ready 1\n" {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, _, _ := get("/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}
	resp, err := http.Post(srv.URL+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d", resp.StatusCode)
	}
}

func TestListenServesAndShutsDown(t *testing.T) {
	t.Parallel()
	s, err := health.Listen("127.0.0.1:0", health.Handler(func() health.Report { return health.Report{Ready: true} }, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still listening after Shutdown")
	}
}

func TestListenFailsOnABusyAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if _, err := health.Listen(ln.Addr().String(), http.NotFoundHandler(), nil); err == nil {
		t.Fatal("Listen on a busy address succeeded")
	}
}
