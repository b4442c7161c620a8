package app_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/resultstest"
)

// closedURL is a nats:// URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "nats://" + addr
}

// With no NATS, the worker says so at once, in one line naming the URL, and
// keeps trying: the line comes before the first JetStream request gives up
// (10s), not after it.
func TestUnreachableNATSIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	url := closedURL(t)
	cfg, err := config.Load(nil, config.MapEnv(map[string]string{
		"NATS_URL": url, "GRAPH_BASE_URL": "http" + strings.TrimPrefix(closedURL(t), "nats"), "GRAPH_ACCESS_TOKEN": "test-token-never-used",
		"BUSINESS_ID": "100200300", "SYSTEM_USER_ID": "1972555232742222", "HTTP_ADDR": "",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &resultstest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app.Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("app.Run did not return within 20s of the stop")
		}
	}()

	want := "NATS at " + url + " is unreachable: still trying"
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := logs.String()
		if i := strings.Index(out, want); i >= 0 {
			if strings.Contains(out[:i], "cannot bind") {
				t.Fatalf("the unreachable line came after a bind attempt gave up:\n%s", out)
			}
			if n := strings.Count(out, "unreachable"); n != 1 {
				t.Errorf("%d unreachable lines, want 1:\n%s", n, out)
			}
			return
		}
		if strings.Contains(out, "cannot bind") || time.Now().After(deadline) {
			t.Fatalf("no line %q before the first bind attempt gave up:\n%s", want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
