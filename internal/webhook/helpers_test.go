package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

const (
	appSecret   = "test-app-secret"
	verifyToken = "meatyhamhock"
	eventsName  = "WABA"
)

// testBundle is one gateway on a real HTTP server in front of a real,
// in-process NATS JetStream server.
type testBundle struct {
	nats *natstest.Server
	js   jetstream.JetStream
	obs  *webhook.Prometheus
	srv  *httptest.Server
	url  string // the callback URL
}

type setupOpts struct {
	noRawStream bool // leave META_WEBHOOKS missing
	cfg         func(*webhook.Config)
}

func setup(t *testing.T, opts ...setupOpts) *testBundle {
	t.Helper()
	var o setupOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	ns := natstest.Start(t)
	_, js := ns.Connect()
	ctx := testCtx(t)
	if !o.noRawStream {
		if _, err := js.CreateStream(ctx, webhook.StreamConfig(webhook.DefaultStream, webhook.DefaultMaxAge, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: eventsName, Subjects: []string{"waba.shared", "waba.unshared"},
		Storage: jetstream.FileStorage, Duplicates: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	obs := webhook.NewPrometheus()
	cfg := webhook.Config{
		JetStream:   js,
		AppSecret:   webhook.Static(appSecret),
		VerifyToken: webhook.Static(verifyToken),
		Observer:    obs,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	h, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testBundle{nats: ns, js: js, obs: obs, srv: srv, url: srv.URL + webhook.DefaultPath}
}

// testCtx bounds every wait of a test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// post sends body with the given signature header ("" for none) and
// returns the status and the answer's body.
func (b *testBundle) post(t testing.TB, body []byte, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(metahook.SignatureHeader, signature)
	}
	return do(t, req)
}

// deliver posts body signed like Meta.
func (b *testBundle) deliver(t testing.TB, body []byte) (int, string) {
	t.Helper()
	return b.post(t, body, metahook.Sign(appSecret, body))
}

func do(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// stored returns every message of stream, in order, optionally only those
// on subject.
func (b *testBundle) stored(t testing.TB, stream string, subject ...string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := testCtx(t)
	s, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(subject) == 0 || m.Subject == subject[0] {
			out = append(out, m)
		}
	}
	return out
}

func (b *testBundle) expectNothingPublished(t *testing.T) {
	t.Helper()
	if n := len(b.stored(t, webhook.DefaultStream)); n != 0 {
		t.Errorf("%d raw messages published", n)
	}
	if n := len(b.stored(t, eventsName)); n != 0 {
		t.Errorf("%d events published", n)
	}
}

// metric returns the value of the counter (or a histogram's count) name
// with exactly labels, 0 when absent.
func (b *testBundle) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(b.obs); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels)/2 {
				continue
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if v, ok := got[labels[i]]; !ok || v != labels[i+1] {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

var (
	fixedTime = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	errTest   = errors.New("test: unavailable")
)

// newServer serves h on a real HTTP server for the test and returns its URL.
func newServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
