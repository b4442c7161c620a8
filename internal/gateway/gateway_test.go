package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	appSecret   = "gateway-test-secret"
	verifyToken = "gateway-verify-token"
	newWABA     = "102290129340500"
)

// testBundle is one test's world: an in-process NATS JetStream server, the
// gateway (gateway.Run) on real HTTP, and the Graph emulator subscribed to
// the gateway's callback URL.
type testBundle struct {
	nats     *natstest.Server
	js       jetstream.JetStream
	callback string // the gateway's callback URL
	httpURL  string // its /healthz, /readyz, /metrics
	emu      *emulator.Server
	outcomes chan string // each request's outcome
	logs     *syncBuffer
}

type setupOpts struct {
	publishTimeout time.Duration
	noEventsStream bool                    // leave the WABA stream to the gateway's provisioning
	webhookStream  *jetstream.StreamConfig // create it before the gateway starts
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	n := natstest.Start(t)
	_, js := n.Connect()
	b := &testBundle{nats: n, js: js, outcomes: make(chan string, 1000), logs: &syncBuffer{}}
	if !o.noEventsStream {
		// The WABA stream as the worker provisions it once it consumes
		// waba.unshared too.
		if _, err := js.CreateStream(ctxFor(t), jetstream.StreamConfig{
			Name: "WABA", Subjects: []string{"waba.shared", "waba.unshared", "waba.assignment.succeeded", "waba.assignment.failed"},
			Storage: jetstream.FileStorage, Duplicates: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if o.webhookStream != nil {
		if _, err := js.CreateStream(ctxFor(t), *o.webhookStream); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.LoadWebhook(nil, config.MapEnv(map[string]string{
		"NATS_URL":             n.URL(),
		"WEBHOOK_ADDR":         "127.0.0.1:0",
		"HTTP_ADDR":            "127.0.0.1:0",
		"WEBHOOK_VERIFY_TOKEN": verifyToken,
		"GRAPH_APP_SECRET":     appSecret,
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, cfg, gateway.Options{
			Logger:              slog.New(slog.NewJSONHandler(b.logs, nil)),
			StreamCheckInterval: 100 * time.Millisecond,
			PublishTimeout:      o.publishTimeout,
			Observer:            outcomeObserver(b.outcomes),
			OnListen: func(wa, ha net.Addr) {
				b.callback = "http://" + wa.String() + webhook.DefaultPath
				b.httpURL = "http://" + ha.String()
				close(listening)
			},
		})
	}()
	select {
	case <-listening:
	case err := <-done:
		cancel()
		t.Fatalf("gateway.Run returned at start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the gateway did not listen within 10s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway.Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the gateway did not stop within 20s")
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", b.logs.String())
		}
	})
	b.emu = graphtest.NewTestServer(t, emulator.DefaultSeed())
	if err := b.emu.SetWebhook(emulator.WebhookSubscription{CallbackURL: b.callback, AppSecret: appSecret,
		InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsed: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitReady waits (bounded) for /readyz to answer 200.
func (b *testBundle) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := get(t, b.httpURL+"/readyz")
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns the messages of stream on subject.
func (b *testBundle) stored(t *testing.T, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := ctxFor(t)
	s, err := b.js.Stream(ctx, stream)
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
		if err != nil {
			continue
		}
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The emulator shares a WABA "through Embedded Signup": its signed
// PARTNER_ADDED reaches the gateway over real HTTP and becomes one
// waba.shared; the unshare's PARTNER_REMOVED becomes one waba.unshared.
func TestEmulatorShareBecomesWabaShared(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.waitReady(t)
	ctx := ctxFor(t)

	dl, err := b.emu.ShareWithWebhook(emulator.DevBusinessID, newWABA, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := dl.Wait(ctx); err != nil || !res.Delivered() || res.Attempts != 1 {
		t.Fatalf("delivery: %+v, %v", res, err)
	}
	shared := b.stored(t, "WABA", "waba.shared")
	if len(shared) != 1 {
		t.Fatalf("%d waba.shared, want 1", len(shared))
	}
	var ev events.Shared
	if err := json.Unmarshal(shared[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.WabaID != newWABA || ev.BusinessID != emulator.DevBusinessID || ev.OwnerBusinessID != emulator.DevOwnerBusinessID ||
		ev.Source != webhook.Source || ev.ID == "" || shared[0].Header.Get("Nats-Msg-Id") != ev.ID {
		t.Errorf("waba.shared %s (Nats-Msg-Id %q)", shared[0].Data, shared[0].Header.Get("Nats-Msg-Id"))
	}
	if n := len(b.stored(t, webhook.DefaultStream, "meta.webhook.whatsapp_business_account.account_update")); n != 1 {
		t.Errorf("%d raw changes, want 1", n)
	}
	if got := b.emu.Assignments(newWABA); got == nil {
		t.Errorf("the emulator did not share %s", newWABA)
	}

	dl, err = b.emu.UnshareWithWebhook(emulator.DevBusinessID, newWABA, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := dl.Wait(ctx); err != nil || !res.Delivered() {
		t.Fatalf("unshare delivery: %+v, %v", res, err)
	}
	unshared := b.stored(t, "WABA", "waba.unshared")
	if len(unshared) != 1 {
		t.Fatalf("%d waba.unshared, want 1", len(unshared))
	}
	u, err := events.DecodeUnshared(unshared[0].Data)
	if err != nil || u.WabaID != newWABA || u.Reason != events.ReasonPartnerRemoved {
		t.Errorf("waba.unshared %s: %v", unshared[0].Data, err)
	}

	_, metrics := get(t, b.httpURL+"/metrics")
	for _, want := range []string{`waba_webhook_requests_total{outcome="accepted"} 2`, "waba_webhook_ready 1", "waba_nats_connected 1", "waba_webhook_requests_in_flight 0", "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// With NATS stopped the gateway answers 503 and says it is not ready; the
// emulator (Meta) delivers again with backoff and, once NATS is back, the
// share is stored exactly once.
func TestNATSDownThenTheEmulatorRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{publishTimeout: 300 * time.Millisecond})
	b.waitReady(t)
	ctx := ctxFor(t)

	b.nats.Shutdown()
	dl, err := b.emu.ShareWithWebhook(emulator.DevBusinessID, newWABA, "")
	if err != nil {
		t.Fatal(err)
	}
	for unavailable := 0; unavailable < 2; {
		select {
		case o := <-b.outcomes:
			if o != webhook.OutcomeUnavailable {
				t.Fatalf("outcome %s while NATS is down", o)
			}
			unavailable++
		case <-dl.Done():
			res, _ := dl.Wait(ctx)
			t.Fatalf("delivery ended while NATS was down: %+v", res)
		case <-ctx.Done():
			t.Fatal("no 503 seen")
		}
	}
	if status, body := get(t, b.httpURL+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, `"nats":"`) {
		t.Errorf("/readyz with NATS down: %d %s", status, body)
	}
	b.nats.Restart()
	res, err := dl.Wait(ctx)
	if err != nil || !res.Delivered() || res.Attempts < 3 {
		t.Fatalf("delivery after the restart: %+v, %v", res, err)
	}
	t.Logf("delivered after %d attempts in %s", res.Attempts, res.Elapsed)
	if n := len(b.stored(t, "WABA", "waba.shared")); n != 1 {
		t.Errorf("%d waba.shared, want exactly 1", n)
	}
	if n := len(b.stored(t, webhook.DefaultStream, "meta.webhook.whatsapp_business_account.account_update")); n != 1 {
		t.Errorf("%d raw changes, want exactly 1", n)
	}
}

// With WORKER_PROVISION (the default) the gateway creates META_WEBHOOKS and
// the WABA stream when they are missing.
func TestProvisionsMissingStreams(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noEventsStream: true})
	ctx := ctxFor(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errW := b.js.Stream(ctx, webhook.DefaultStream)
		_, errE := b.js.Stream(ctx, "WABA")
		if errW == nil && errE == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams not provisioned: %v, %v", errW, errE)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, err := b.js.Stream(ctx, webhook.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != webhook.DefaultMaxAge || cfg.Storage != jetstream.FileStorage || cfg.Duplicates < 10*time.Minute ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "meta.webhook.>" {
		t.Errorf("META_WEBHOOKS: %+v", cfg)
	}
	// The WABA stream takes a share at once.
	dl, err := b.emu.ShareWithWebhook(emulator.DevBusinessID, newWABA, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := dl.Wait(ctx); err != nil || !res.Delivered() {
		t.Fatalf("delivery: %+v, %v", res, err)
	}
	if n := len(b.stored(t, "WABA", "waba.shared")); n != 1 {
		t.Errorf("%d waba.shared, want 1", n)
	}
}

// outcomeObserver passes each request's outcome to a channel.
type outcomeObserver chan<- string

func (o outcomeObserver) Request(outcome string, _ time.Duration) {
	select {
	case o <- outcome:
	default:
	}
}
func (outcomeObserver) Change(string, string, string)       {}
func (outcomeObserver) SignatureFailure(string)             {}
func (outcomeObserver) Published(int, time.Duration, error) {}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An existing META_WEBHOOKS is never changed: one that does not capture
// meta.webhook.> fails /readyz, naming the subject, and a weak one (memory,
// a short duplicate window) gets one warning line.
func TestExistingStreamIsNotChanged(t *testing.T) {
	t.Parallel()
	weak := jetstream.StreamConfig{Name: webhook.DefaultStream, Subjects: []string{"meta.other.>"},
		Storage: jetstream.MemoryStorage, Duplicates: time.Minute}
	b := setup(t, setupOpts{webhookStream: &weak})
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := get(t, b.httpURL+"/readyz")
		if status == http.StatusServiceUnavailable && strings.Contains(body, `"webhook_stream":"lacks subject meta.webhook.\u003e"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, err := b.js.Stream(ctxFor(t), webhook.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.Storage != jetstream.MemoryStorage || cfg.Duplicates != time.Minute || cfg.Subjects[0] != "meta.other.>" {
		t.Errorf("the existing stream was changed: %+v", cfg)
	}
	logs := b.logs.String()
	if n := strings.Count(logs, "is weaker than the gateway needs"); n != 1 || !strings.Contains(logs, "memory storage") || !strings.Contains(logs, "duplicate window 1m0s") {
		t.Errorf("%d weak-stream warnings, want 1:\n%s", n, logs)
	}
}
