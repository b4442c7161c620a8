package cli_test

import (
	"cmp"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/dev"
	"github.com/wabaworker/waba-worker/internal/emulator"
)

// worker dev --demo N: N results appear (and two more: the WABA shared
// "through Embedded Signup": the emulator's webhook, the gateway's
// waba.shared, the worker's result; and the WABA shared "while the webhook
// was down", which the sweep finds), one of them a failure that shows its
// kind, Graph code and message; every result line names its source; another
// terminal can emit against it; a cancelled context (Ctrl-C) stops
// everything with a nil error (exit 0) and removes the temporary store.
func TestDevDemoShowsResultsAndStopsCleanly(t *testing.T) {
	t.Parallel()
	const n = 4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, &stdout, &stderr, "dev", "--demo", "4", "--nats-port", "0", "--graph-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--webhook-addr", "127.0.0.1:0")
	}()

	results := func() (ok, failed []map[string]any) {
		for _, l := range jsonLines(stderr.String()) {
			switch l["outcome"] {
			case "succeeded":
				ok = append(ok, l)
			case "failed":
				failed = append(failed, l)
			}
		}
		return ok, failed
	}
	waitFor(t, "the demo's results", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev returned early: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		default:
		}
		ok, failed := results()
		return len(ok)+len(failed) >= n+2 && strings.Contains(stderr.String(), "demo: done")
	})
	ok, failed := results()
	if len(ok) != n+1 || len(failed) != 1 {
		t.Fatalf("%d succeeded and %d failed, want %d and 1:\n%s", len(ok), len(failed), n+1, stderr.String())
	}
	wantSource := map[string]string{dev.SignupWABAID: "webhook", dev.SweepWABAID: "sweep"}
	for _, l := range append(append([]map[string]any(nil), ok...), failed...) {
		if want := cmp.Or(wantSource[l["waba_id"].(string)], "worker-dev-demo"); l["source"] != want {
			t.Errorf("result line with source %v, want %s: %v", l["source"], want, l)
		}
	}
	// The automatic path: the webhook arrived, became a waba.shared, and
	// the worker assigned the WABA.
	var viaWebhook map[string]any
	for _, l := range jsonLines(stderr.String()) {
		if l["msg"] == "webhook: WABA shared" {
			viaWebhook = l
		}
	}
	if viaWebhook == nil || viaWebhook["waba_id"] != dev.SignupWABAID || viaWebhook["event"] != "PARTNER_ADDED" {
		t.Fatalf("no gateway line for the Embedded Signup share:\n%s", stderr.String())
	}
	signup := ok[:0:0]
	for _, s := range ok {
		if s["waba_id"] == dev.SignupWABAID {
			signup = append(signup, s)
		}
	}
	if len(signup) != 1 || signup[0]["event_id"] != viaWebhook["event_id"] {
		t.Errorf("the signup WABA's results %v, want one for event %v", signup, viaWebhook["event_id"])
	}
	if !strings.Contains(stdout.String(), "webhook gateway http://127.0.0.1:") {
		t.Errorf("the banner lacks the gateway:\n%s", stdout.String())
	}
	f := failed[0]
	if f["kind"] != "permanent" || f["graph_code"] != float64(100) || f["graph_subcode"] != float64(33) ||
		!strings.Contains(f["message"].(string), "does not exist") || f["waba_id"] != "999000000000001" || f["level"] != "WARN" {
		t.Errorf("the failure's line: %v", f)
	}
	// One line per result: the handler's own "assignment failed" line does
	// not repeat the failure, and the long Graph message is cut.
	if n := strings.Count(stderr.String(), `"event_id":"`+f["event_id"].(string)+`"`); n != 1 {
		t.Errorf("%d lines for the failed event, want 1:\n%s", n, stderr.String())
	}
	if m := f["message"].(string); len(m) > 90 || !strings.HasSuffix(m, "…") {
		t.Errorf("the failure's message is not cut: %q", m)
	}
	seeded := map[string]bool{}
	for _, id := range emulator.DevWABAIDs() {
		seeded[id] = true
	}
	already := 0
	for _, s := range ok {
		if (!seeded[s["waba_id"].(string)] && s["waba_id"] != dev.SignupWABAID && s["waba_id"] != dev.SweepWABAID) || s["system_user_id"] != emulator.DevSystemUserID {
			t.Errorf("a success line: %v", s)
		}
		if s["already_assigned"] == true {
			already++
		}
	}
	if already != 1 {
		t.Errorf("%d already-assigned successes, want 1", already)
	}

	// The banner says where things listen and how to emit from elsewhere.
	out := stdout.String()
	natsURL := regexp.MustCompile(`NATS JetStream  (nats://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	graphURL := regexp.MustCompile(`Graph emulator  (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	store := regexp.MustCompile(`store (\S+), removed at exit`).FindStringSubmatch(out)
	if natsURL == nil || graphURL == nil || store == nil || !strings.Contains(out, "worker emit --nats-url "+natsURL[1]+" --waba-id ") {
		t.Fatalf("banner:\n%s", out)
	}
	if _, err := os.Stat(store[1]); err != nil {
		t.Fatalf("store %s: %v", store[1], err)
	}
	// The worker's readiness, where the banner says.
	readyz := regexp.MustCompile(`worker HTTP     (http://127\.0\.0\.1:\d+)/healthz`).FindStringSubmatch(out)
	if readyz == nil {
		t.Fatalf("banner has no worker HTTP line:\n%s", out)
	}
	if code, body := get(t, readyz[1]+"/readyz", ""); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, body := get(t, graphURL[1]+"/v25.0/"+emulator.DevBusinessID+"/system_users", emulator.DevAdminToken); code != 200 {
		t.Errorf("the emulator at %s: %d %s", graphURL[1], code, body)
	}
	// Another terminal: emit against the printed URL, and its result line
	// appears in dev's output.
	waba := emulator.DevWABAIDs()[emulator.DevWABACount-1]
	r := runCLI(t.Context(), map[string]string{"NATS_URL": natsURL[1]}, "emit", "--waba-id", waba, "--id", "evt-other", "--wait", "30s")
	if r.code != 0 {
		t.Fatalf("emit from another terminal: exit %d, %s", r.code, r.stderr)
	}
	waitFor(t, "dev's line for evt-other", 10*time.Second, func() bool { return strings.Contains(stderr.String(), `"event_id":"evt-other"`) })
	for _, l := range jsonLines(stderr.String()) {
		if l["event_id"] == "evt-other" && (l["source"] != "worker-emit" || l["already_assigned"] != true) {
			t.Errorf("evt-other's line, want source worker-emit and already assigned (dev starts with it onboarded): %v", l)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev returned %v after Ctrl-C, want nil (exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of Ctrl-C")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stop line:\n%s", stderr.String())
	}
	if _, err := os.Stat(store[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary store %s left behind (%v)", store[1], err)
	}
}

// runDev runs the command line with JSON logs, writing to stdout and stderr.
func runDev(ctx context.Context, stdout, stderr *syncBuffer, args ...string) error {
	env := map[string]string{"LOG_FORMAT": "json"}
	return cliRun(ctx, env, stdout, stderr, args...)
}

// With --store, the store is kept; an address given explicitly must be free.
func TestDevStoreIsKeptAndTakenAddressFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, &stdout, &stderr, "dev", "--store", dir, "--nats-port", "0", "--graph-addr", "127.0.0.1:0", "--http-addr", "", "--webhook-addr", "127.0.0.1:0")
	}()
	waitFor(t, "the banner", 30*time.Second, func() bool { return strings.Contains(stdout.String(), "Ctrl-C stops everything") })
	if !strings.Contains(stdout.String(), "store "+dir+")") {
		t.Errorf("banner does not name the store %s:\n%s", dir, stdout.String())
	}
	graphAddr := regexp.MustCompile(`Graph emulator  http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(stdout.String())
	if graphAddr == nil {
		t.Fatalf("banner:\n%s", stdout.String())
	}
	// A second dev asking for the first one's emulator address explicitly.
	r := runCLI(t.Context(), map[string]string{"LOG_FORMAT": "json"}, "dev", "--nats-port", "0", "--graph-addr", graphAddr[1], "--http-addr", "", "--webhook-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "graph emulator address "+graphAddr[1]) {
		t.Errorf("taken address: exit %d, stderr %q", r.code, r.stderr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Errorf("store %s is empty after dev (%v)", dir, err)
	}
}

// Ctrl-C while dev is still starting is a clean stop too.
func TestDevStoppedWhileStarting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr syncBuffer
	if err := runDev(ctx, &stdout, &stderr, "dev", "--nats-port", "0", "--graph-addr", "127.0.0.1:0", "--http-addr", "", "--webhook-addr", "127.0.0.1:0"); err != nil {
		t.Errorf("dev returned %v, want nil\n%s", err, stderr.String())
	}
}

// worker dev reads SWEEP_INTERVAL as worker run does: a bad value is a
// configuration error (exit 2, naming the variable); 0 turns the sweep off,
// which the banner says.
func TestDevSweepInterval(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), map[string]string{"SWEEP_INTERVAL": "500ms"}, "dev", "--nats-port", "0", "--graph-addr", "127.0.0.1:0", "--http-addr", "", "--webhook-addr", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "worker: configuration: SWEEP_INTERVAL: must be at least 1s") {
		t.Errorf("SWEEP_INTERVAL=500ms: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, c := range []struct{ value, banner string }{
		{"0", "discovery sweep off (SWEEP_INTERVAL=0)"},
		{"5m", "discovery sweep every 5m, the first 2s after start"},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- cliRun(ctx, map[string]string{"LOG_FORMAT": "json", "SWEEP_INTERVAL": c.value}, &stdout, &stderr,
				"dev", "--nats-port", "0", "--graph-addr", "127.0.0.1:0", "--http-addr", "", "--webhook-addr", "127.0.0.1:0")
		}()
		waitFor(t, "the banner", 30*time.Second, func() bool { return strings.Contains(stdout.String(), "Ctrl-C stops everything") })
		if !strings.Contains(stdout.String(), c.banner) {
			t.Errorf("SWEEP_INTERVAL=%s: banner lacks %q:\n%s", c.value, c.banner, stdout.String())
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("SWEEP_INTERVAL=%s: %v", c.value, err)
		}
	}
}
