package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/cli"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// listenAddr waits (bounded) for the JSON log line msg and returns its addr.
func listenAddr(t *testing.T, logs *syncBuffer, msg string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg {
				return l.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q log line within 10s:\n%s", msg, logs.String())
	return ""
}

// `worker webhook` end to end through cli.Run with an in-process NATS: the
// verification handshake (the verify token read from a file, re-read when
// it changes), a signed PARTNER_ADDED stored raw and as a waba.shared on the
// WABA stream, readiness and metrics, and a clean stop.
func TestWebhookCommand(t *testing.T) {
	t.Parallel()
	n := natstest.Start(t)
	_, js := n.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The WABA stream as the worker provisions it once it consumes
	// waba.unshared (the gateway creates META_WEBHOOKS itself).
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WABA",
		Subjects: []string{"waba.shared", "waba.unshared", "waba.assignment.succeeded", "waba.assignment.failed"},
		Storage:  jetstream.FileStorage, Duplicates: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "verify-token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"NATS_URL":                  n.URL(),
		"WEBHOOK_ADDR":              "127.0.0.1:0",
		"HTTP_ADDR":                 "127.0.0.1:0",
		"WEBHOOK_VERIFY_TOKEN_FILE": tokenFile,
		"GRAPH_APP_SECRET":          "cli-app-secret",
		"LOG_FORMAT":                "json",
	}
	var stdout, stderr syncBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cli.Run(runCtx, []string{"webhook"}, config.MapEnv(env), &stdout, &stderr) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if code := cli.ExitCode(err, &stderr); code != 0 {
				t.Errorf("worker webhook exited %d: %v", code, err)
			}
		case <-time.After(20 * time.Second):
			t.Error("worker webhook did not stop within 20s")
		}
		if !strings.Contains(stderr.String(), "webhook gateway stopped") {
			t.Errorf("no stop line:\n%s", stderr.String())
		}
	}()
	callback := "http://" + listenAddr(t, &stderr, "webhook gateway listening") + webhook.DefaultPath
	httpURL := "http://" + listenAddr(t, &stderr, "HTTP endpoints listening")

	do := func(req *http.Request) (int, string) {
		t.Helper()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	verify := func(mode, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, callback+"?hub.mode="+mode+"&hub.verify_token="+token+"&hub.challenge=1158201444", nil)
		return do(req)
	}
	if status, body := verify("subscribe", "first-token"); status != 200 || body != "1158201444" {
		t.Errorf("handshake: %d %q", status, body)
	}
	if status, _ := verify("subscribe", "wrong"); status != http.StatusForbidden {
		t.Errorf("wrong token: %d, want 403", status)
	}
	if status, _ := verify("", "first-token"); status != http.StatusForbidden {
		t.Errorf("missing hub.mode: %d, want 403", status)
	}
	// A rotated token file is read again, no restart.
	if err := os.WriteFile(tokenFile, []byte("second-token-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _ := verify("subscribe", "second-token-longer"); status != 200 {
		t.Errorf("rotated token: %d, want 200", status)
	}

	body, err := metahook.PartnerAdded("100200300", "102290129340777", "100900900", time.Unix(1764547200, 0)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	post := func(sig string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, callback, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(metahook.SignatureHeader, sig)
		}
		return do(req)
	}
	if status, _ := post(""); status != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", status)
	}
	if status, _ := post(metahook.Sign("another-secret", body)); status != http.StatusForbidden {
		t.Errorf("wrong signature: %d, want 403", status)
	}
	// Readiness: META_WEBHOOKS is provisioned in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, httpURL+"/readyz", nil)
		status, body := do(req)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, body := post(metahook.Sign("cli-app-secret", body)); status != 200 {
		t.Fatalf("signed PARTNER_ADDED: %d %s", status, body)
	}
	s, err := js.Stream(ctx, "WABA")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "waba.shared")
	if err != nil {
		t.Fatalf("no waba.shared on the WABA stream: %v", err)
	}
	var ev events.Shared
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.WabaID != "102290129340777" || ev.BusinessID != "100200300" ||
		ev.Source != "webhook" || ev.OccurredAt != "2025-12-01T00:00:00Z" {
		t.Errorf("waba.shared %s: %v", m.Data, err)
	}
	raw, err := js.Stream(ctx, "META_WEBHOOKS")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := raw.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("META_WEBHOOKS: %+v, %v", info, err)
	}
	req, _ := http.NewRequest(http.MethodGet, httpURL+"/metrics", nil)
	if _, metrics := do(req); !strings.Contains(metrics, `waba_webhook_requests_total{outcome="accepted"} 1`) ||
		!strings.Contains(metrics, `waba_webhook_signature_failures_total{reason="missing"} 1`) {
		t.Errorf("/metrics:\n%s", metrics)
	}
}

// A missing or malformed setting stops `worker webhook` at start with exit
// status 2 and one line per setting, each naming its variable; a secret is
// never echoed. It needs no Graph token and no BUSINESS_ID.
func TestWebhookBadSettings(t *testing.T) {
	t.Parallel()
	ok := map[string]string{"WEBHOOK_VERIFY_TOKEN": "v-secret", "GRAPH_APP_SECRET": "a-secret"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing", nil, []string{
			"worker: configuration: WEBHOOK_VERIFY_TOKEN: required for worker webhook (or WEBHOOK_VERIFY_TOKEN_FILE)",
			"worker: configuration: GRAPH_APP_SECRET: required for worker webhook (or GRAPH_APP_SECRET_FILE)"}},
		{"no app secret", with("GRAPH_APP_SECRET", "<unset>"), []string{"worker: configuration: GRAPH_APP_SECRET: required"}},
		{"both token forms", with("WEBHOOK_VERIFY_TOKEN_FILE", "/etc/hostname"), []string{"WEBHOOK_VERIFY_TOKEN: set WEBHOOK_VERIFY_TOKEN or WEBHOOK_VERIFY_TOKEN_FILE, not both"}},
		{"token file missing", with("WEBHOOK_VERIFY_TOKEN", "<unset>", "WEBHOOK_VERIFY_TOKEN_FILE", "/nonexistent/token"), []string{"WEBHOOK_VERIFY_TOKEN_FILE: cannot read the file"}},
		{"max age", with("WEBHOOK_MAX_AGE", "a week"), []string{`WEBHOOK_MAX_AGE: must be a duration such as 500ms, 30s or 2m (got "a week")`}},
		{"path", with("WEBHOOK_PATH", "webhooks"), []string{`WEBHOOK_PATH: must be a URL path starting with / (got "webhooks")`}},
		{"addr", with("WEBHOOK_ADDR", "8081"), []string{`WEBHOOK_ADDR: must be host:port or :port (got "8081")`}},
		{"same addr", with("WEBHOOK_ADDR", ":9000", "HTTP_ADDR", ":9000"), []string{"WEBHOOK_ADDR: must differ from HTTP_ADDR"}},
		{"same stream", with("WEBHOOK_STREAM", "WABA"), []string{"WEBHOOK_STREAM: must differ from WORKER_STREAM"}},
		{"stream name", with("WEBHOOK_STREAM", "meta webhooks"), []string{"WEBHOOK_STREAM: must be 1-64 letters"}},
		{"nats url", with("NATS_URL", "http://nats:4222"), []string{`NATS_URL: scheme "http" is not nats`}},
		{"two at once", with("WEBHOOK_MAX_AGE", "x", "LOG_LEVEL", "loud"), []string{"WEBHOOK_MAX_AGE:", "LOG_LEVEL:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t.Context(), tt.env, "webhook")
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, "worker: configuration: ") {
					t.Errorf("not a configuration line: %q", l)
				}
			}
			if len(lines) != len(tt.want) {
				t.Errorf("%d lines, want %d:\n%s", len(lines), len(tt.want), r.stderr)
			}
			if strings.Contains(r.stderr, "v-secret") || strings.Contains(r.stderr, "a-secret") {
				t.Errorf("a secret is echoed:\n%s", r.stderr)
			}
		})
	}
}

// `worker webhook --help` lists every variable of its settings table, with
// its default, and an example.
func TestWebhookHelp(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), nil, "webhook", "--help")
	if !errors.Is(r.err, flag.ErrHelp) || r.code != 0 {
		t.Fatalf("--help: %v, exit %d", r.err, r.code)
	}
	for _, v := range config.WebhookVariables() {
		want := "[$" + v[0] + "]"
		if v[1] != "" {
			want = `(default "` + v[1] + `") ` + want
		}
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %s:\n%s", want, r.stdout)
		}
	}
	for _, w := range []string{"Usage: worker webhook", "Example:"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("help lacks %q", w)
		}
	}
	if strings.Contains(r.stdout, "GRAPH_ACCESS_TOKEN") || strings.Contains(r.stdout, "BUSINESS_ID") {
		t.Errorf("worker webhook needs no Graph token nor business id:\n%s", r.stdout)
	}
}

// `worker graph-emulator share` asks a running emulator to share a WABA
// through Embedded Signup: the signed PARTNER_ADDED reaches the callback
// and the command prints the emulator's answer; without --waba-id, or with
// --webhook-url but no secret, it is a usage error.
func TestGraphEmulatorShareCommand(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if metahook.Verify("cmd-secret", body, r.Header.Get(metahook.SignatureHeader)) != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		select {
		case got <- body:
		default:
		}
	}))
	defer cb.Close()
	emu := graphtest.NewTestServer(t, emulator.DefaultSeed())
	if err := emu.SetWebhook(emulator.WebhookSubscription{CallbackURL: cb.URL, AppSecret: "cmd-secret"}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t.Context(), nil, "graph-emulator", "share", "--url", emu.URL(), "--waba-id", "102290129340600", "--wait", "10s")
	if r.code != 0 || !strings.Contains(r.stdout, `"delivery":"delivered"`) || !strings.Contains(r.stdout, `"event":"PARTNER_ADDED"`) {
		t.Fatalf("share: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	select {
	case body := <-got:
		if !strings.Contains(string(body), `"waba_id":"102290129340600"`) || !strings.Contains(string(body), `"id":"`+emulator.DevBusinessID+`"`) {
			t.Errorf("delivery %s", body)
		}
	default:
		t.Error("no signed delivery reached the callback")
	}
	if r := runCLI(t.Context(), nil, "graph-emulator", "unshare", "--url", emu.URL(), "--waba-id", "102290129340600", "--wait", "10s"); r.code != 0 ||
		!strings.Contains(r.stdout, `"event":"PARTNER_REMOVED"`) {
		t.Errorf("unshare: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t.Context(), nil, "graph-emulator", "share", "--url", emu.URL()); r.code != 2 || !strings.Contains(r.stderr, "--waba-id is required") {
		t.Errorf("no --waba-id: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t.Context(), nil, "graph-emulator", "--webhook-url", "http://127.0.0.1:1/hook"); r.code != 2 || !strings.Contains(r.stderr, "--webhook-secret") {
		t.Errorf("--webhook-url without a secret: exit %d %s", r.code, r.stderr)
	}
}

// startWebhook runs `worker webhook` through cli.Run until the test ends,
// checks that it then stops with exit 0, and returns its callback URL.
func startWebhook(t *testing.T, env map[string]string) (callback string) {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, []string{"webhook"}, config.MapEnv(env), &stdout, &stderr) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if code := cli.ExitCode(err, &stderr); code != 0 {
				t.Errorf("worker webhook exited %d: %v", code, err)
			}
		case <-time.After(20 * time.Second):
			t.Error("worker webhook did not stop within 20s")
		}
		if t.Failed() {
			t.Logf("worker webhook logs:\n%s", stderr.String())
		}
	})
	return "http://" + listenAddr(t, &stderr, "webhook gateway listening") + webhook.DefaultPath
}

// The automatic path end to end: the emulator shares a WABA through
// Embedded Signup, its signed PARTNER_ADDED reaches `worker webhook` over
// real HTTP, becomes a waba.shared, and the worker assigns the system user
// (succeeded, ledger assigned); the unshare's PARTNER_REMOVED becomes a
// waba.unshared and the ledger says unshared, with no Graph call and no
// result.
func TestWebhookToWorkerEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorker()
	results := resultstest.Collect(t, b.js, wabatype.DefaultStream)
	callback := startWebhook(t, map[string]string{"NATS_URL": b.nats.URL(), "WEBHOOK_ADDR": "127.0.0.1:0", "HTTP_ADDR": "",
		"WEBHOOK_VERIFY_TOKEN": "e2e-verify", "GRAPH_APP_SECRET": "e2e-secret", "LOG_FORMAT": "json"})
	if err := b.graph.SetWebhook(emulator.WebhookSubscription{CallbackURL: callback, AppSecret: "e2e-secret",
		InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const waba = "102290129340900"

	dl, err := b.graph.ShareWithWebhook(emulator.DevBusinessID, waba, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := dl.Wait(ctx); err != nil || !res.Delivered() {
		t.Fatalf("PARTNER_ADDED delivery: %+v, %v", res, err)
	}
	s, err := b.js.Stream(ctx, wabatype.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "waba.shared")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.Shared
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.WabaID != waba || ev.Source != "webhook" {
		t.Fatalf("waba.shared %s: %v", m.Data, err)
	}
	results.Wait(1, 20*time.Second)
	if got := results.Succeeded(ev.ID); len(got) != 1 || got[0].WabaID != waba || got[0].SystemUserID != emulator.DevSystemUserID {
		t.Fatalf("results for %s: %+v\n%s", ev.ID, got, results.Raw())
	}
	if tasks := b.graph.Assignments(waba)[emulator.DevSystemUserID]; len(tasks) == 0 {
		t.Errorf("the emulator shows no assignment on %s", waba)
	}
	status := func() string {
		r := runCLI(ctx, map[string]string{"NATS_URL": b.nats.URL()}, "status", "--waba-id", waba, "--json")
		return r.stdout
	}
	resultstest.WaitFor(t, "the ledger to say assigned", 10*time.Second, func() bool { return strings.Contains(status(), `"state":"assigned"`) })

	graphCalls := len(b.graph.Requests())
	dl, err = b.graph.UnshareWithWebhook(emulator.DevBusinessID, waba, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := dl.Wait(ctx); err != nil || !res.Delivered() {
		t.Fatalf("PARTNER_REMOVED delivery: %+v, %v", res, err)
	}
	resultstest.WaitFor(t, "the ledger to say unshared", 10*time.Second, func() bool { return strings.Contains(status(), `"state":"unshared"`) })
	if n := len(b.graph.Requests()) - graphCalls; n != 0 {
		t.Errorf("%d Graph calls for a waba.unshared, want none", n)
	}
	if n := results.Count(); n != 1 {
		t.Errorf("%d results, want 1 (a waba.unshared publishes none):\n%s", n, results.Raw())
	}
}
