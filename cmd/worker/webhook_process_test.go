package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/resultstest"
)

// SIGTERM to `worker webhook` with a delivery in flight (its body half
// sent): the gateway stops accepting, finishes that request (200, after its
// PubAck), drains NATS and exits 0.
func TestWebhookSIGTERMFinishesDeliveryInFlight(t *testing.T) {
	t.Parallel()
	n := natstest.Start(t)
	_, js := n.Connect()
	cmd := exec.Command(binary, "webhook")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NATS_URL=" + n.URL(), "WEBHOOK_ADDR=127.0.0.1:0", "HTTP_ADDR=127.0.0.1:0",
		"WEBHOOK_VERIFY_TOKEN=proc-verify", "GRAPH_APP_SECRET=proc-secret", "LOG_FORMAT=json"}
	out := &resultstest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if strings.Contains(out.String(), "proc-secret") || strings.Contains(out.String(), "proc-verify") {
			t.Error("a secret appears in the output")
		}
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	})
	logLine := func(msg string) map[string]any {
		for _, l := range strings.Split(out.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		return nil
	}
	resultstest.WaitFor(t, "the gateway listening and its streams", 15*time.Second, func() bool {
		return logLine("webhook gateway listening") != nil && strings.Count(out.String(), `"msg":"stream ready"`) >= 1
	})
	addr := logLine("webhook gateway listening")["addr"].(string)
	metricsURL := "http://" + logLine("HTTP endpoints listening")["addr"].(string) + "/metrics"
	inFlight := func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nwaba_webhook_requests_in_flight 1\n")
	}

	body, _ := metahook.PartnerAdded("100200300", "102290129340888", "100900900", time.Now()).Marshal()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set(metahook.SignatureHeader, metahook.Sign("proc-secret", body))
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("the delivery in flight failed: %v", err)
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil { // returns once the transport took it
		t.Fatal(err)
	}
	// The kernel may hold the connection in the listen backlog a while; a
	// stop closes the listener, and Go's server resets what it had not
	// accepted (Meta delivers again). The request is in flight once the
	// handler runs.
	resultstest.WaitFor(t, "the handler to have the request", 10*time.Second, inFlight)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	resultstest.WaitFor(t, "the stop to begin", 10*time.Second, func() bool { return logLine("webhook gateway stopping: finishing the requests in flight") != nil })
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case s := <-status:
		if s != http.StatusOK {
			t.Errorf("the delivery in flight got %d, want 200", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to the delivery in flight")
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("worker webhook still running 20s after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || logLine("webhook gateway stopped") == nil {
		t.Errorf("exit %d after SIGTERM, want 0 and a stopped line", code)
	}
	s, err := js.Stream(t.Context(), "WABA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLastMsgForSubject(t.Context(), "waba.shared"); err != nil {
		t.Errorf("the delivery finished at the stop was not stored as waba.shared: %v", err)
	}
}
