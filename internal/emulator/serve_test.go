package emulator_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
)

// The example seed (the README's) loads and is served; a request the
// emulator holds open does not hold up a graceful stop.
func TestServeExampleSeedAndStopWithAHungRequest(t *testing.T) {
	t.Parallel()
	seed, err := emulator.LoadSeedFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type listening struct {
		emu *emulator.Server
		url string
	}
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	go func() {
		done <- emulator.Serve(ctx, emulator.Options{Addr: "127.0.0.1:0", Seed: seed, Log: log,
			OnListen: func(emu *emulator.Server, url string) { ready <- listening{emu, url} }})
	}()
	var l listening
	select {
	case l = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}

	// A connection per request: Go's transport retries an idempotent request
	// that fails on a reused connection, and the stop must end the hung one.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", l.url+"/v25.0/102290129340399/assigned_users?business=100200300&limit=100", nil)
	req.Header.Set("Authorization", "Bearer dev-admin-token")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"1972555232742222"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}

	l.emu.InjectFault(graph.OpListSystemUsers, emulator.Fault{Hang: true})
	hung := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", l.url+"/v25.0/100200300/system_users", nil)
		req.Header.Set("Authorization", "Bearer dev-admin-token")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		hung <- err
	}()
	deadline := time.After(10 * time.Second)
	for l.emu.PendingFaults() > 0 { // until the request has taken the fault
		select {
		case err := <-hung:
			t.Fatalf("the hung request returned: %v", err)
		case <-deadline:
			t.Fatal("the request did not reach the emulator within 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of the stop")
	}
	if err := <-hung; err == nil {
		t.Error("the hung request got an answer")
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "graph request"); n != 2 {
		t.Errorf("%d request lines, want 2:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
