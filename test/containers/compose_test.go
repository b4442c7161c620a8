package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	wabaevents "github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/resultstest"
)

// TestCompose brings docker-compose.yml's stack up under a project of its
// own (host ports picked free), waits for both workers' health checks,
// emits events with `worker emit --wait` from a container on the stack's
// network, checks the results, and tears the stack down, volume included,
// also when the test fails.
func TestCompose(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c := newCompose(t)

	if _, err := c.run(ctx, "up", "-d"); err != nil {
		t.Fatalf("up: %v", err)
	}
	for _, svc := range []string{"worker-1", "worker-2"} {
		c.waitHealthy(ctx, svc, 2*time.Minute)
	}

	// Watch the results from the host, through NATS's published port.
	addr, err := c.run(ctx, "port", "nats", "4222")
	if err != nil {
		t.Fatalf("port: %v", err)
	}
	nc, err := nats.Connect("nats://"+strings.TrimSpace(addr), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect to the stack's NATS at %s: %v", addr, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The workers provisioned the stream before they reported healthy.
	if _, err := js.Stream(ctx, stream); err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	results := resultstest.Collect(t, js, stream)

	// Four WABAs of the emulator's default world succeed; one it does not
	// know fails (Graph code 100). Each emit runs in a container of its own.
	type emitted struct {
		id, waba string
		code     int
		out      string
	}
	var runs []*emitted
	for _, waba := range emulator.DevWABAIDs()[:4] {
		runs = append(runs, &emitted{id: "evt-compose-" + waba, waba: waba})
	}
	runs = append(runs, &emitted{id: "evt-compose-unknown", waba: "109999999999999"})
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			out, err := c.run(ctx, "run", "--rm", "-T", "--no-deps", "worker-1",
				"emit", "--waba-id", r.waba, "--id", r.id, "--wait", "60s")
			r.out = out
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				r.code = ee.ExitCode()
			case err != nil:
				r.code = -1
				r.out += err.Error()
			}
		})
	}
	wg.Wait()

	var ids []string
	for _, r := range runs {
		ids = append(ids, r.id)
		want := 0
		if r.waba == "109999999999999" {
			want = 1
		}
		if r.code != want || !strings.Contains(r.out, `"event_id":"`+r.id+`"`) {
			t.Errorf("worker emit --waba-id %s exited %d, want %d, and printed:\n%s", r.waba, r.code, want, r.out)
		}
	}
	// Wait for these events' own results: the replicas' first discovery
	// sweep (a random moment in their first 30 s) onboards the rest of the
	// emulator's world meanwhile, so a count of results proves nothing.
	results.WaitEach(ids, time.Minute)
	results.ExactlyOne(t, ids)
	for _, r := range runs[:4] {
		if len(results.Succeeded(r.id)) != 1 {
			t.Errorf("event %s did not succeed", r.id)
		}
	}
	if f := results.Failed("evt-compose-unknown"); len(f) != 1 || f[0].Error.Kind != "permanent" || f[0].Error.GraphCode == nil || *f[0].Error.GraphCode != 100 {
		t.Errorf("the unknown WABA's result is %+v, want one failed event of kind permanent with Graph code 100", f)
	}

	// The automatic path: the emulator shares a WABA "through Embedded
	// Signup" and delivers the signed webhook to the gateway, whose
	// waba.shared the workers assign.
	const signup = "102290129340500"
	// Watch waba.shared from before the share: the sweep may publish
	// waba.shared for other WABAs at the same time (or for this one, if it
	// lists it before the webhook's event is onboarded), so the test looks
	// for the webhook's own event rather than the stream's last one.
	fromWebhook := make(chan wabaevents.Shared, 1)
	shares, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"waba.shared"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := shares.Consume(func(m jetstream.Msg) {
		var ev wabaevents.Shared
		if json.Unmarshal(m.Data(), &ev) == nil && ev.WabaID == signup && ev.Source == "webhook" {
			select {
			case fromWebhook <- ev:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	if out, err := c.run(ctx, "run", "--rm", "-T", "--no-deps", "graph",
		"graph-emulator", "share", "--url", "http://graph:8090", "--waba-id", signup, "--wait", "60s"); err != nil {
		t.Fatalf("graph-emulator share: %v\n%s", err, out)
	}
	var ev wabaevents.Shared
	select {
	case ev = <-fromWebhook:
	case <-time.After(time.Minute):
		t.Fatalf("no waba.shared with source webhook for %s within a minute of the share", signup)
	}
	results.WaitEach([]string{ev.ID}, time.Minute)
	if len(results.Succeeded(ev.ID)) != 1 {
		t.Errorf("the WABA shared through the webhook (event %s) did not succeed once:\n%s", ev.ID, results.Raw())
	}
	for _, svc := range []string{"worker-1", "worker-2", "webhook"} {
		if st := c.health(ctx, svc); st != "healthy" {
			t.Errorf("%s is %s at the end of the test", svc, st)
		}
	}
}

// compose runs docker-compose (v2's `docker compose` when it is there) on
// the repository's docker-compose.yml, as a project of the test's own.
type compose struct {
	t       *testing.T
	command []string
	file    string
	project string
	env     []string
}

func newCompose(t *testing.T) *compose {
	t.Helper()
	c := &compose{
		t:       t,
		file:    filepath.Join(repoRoot, "docker-compose.yml"),
		project: fmt.Sprintf("wabatest%d", time.Now().UnixNano()%1e9),
		env: append(os.Environ(), "WORKER_IMAGE="+workerImage, "NATS_IMAGE="+natsImage,
			"NATS_PORT=0", "GRAPH_PORT=0", "WORKER_1_PORT=0", "WORKER_2_PORT=0", "WEBHOOK_PORT=0"),
	}
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		c.command = []string{"docker", "compose"}
	default:
		path, err := exec.LookPath("docker-compose")
		if err != nil {
			t.Fatalf("neither `docker compose` nor docker-compose is installed (.ci/run installs docker-compose): %v", err)
		}
		c.command = []string{path}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := c.run(ctx, "logs", "--no-color", "--tail", "100")
			t.Logf("---- docker-compose logs ----\n%s", out)
		}
		if out, err := c.run(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
	})
	return c
}

// run runs one docker-compose command and returns its stdout and stderr.
func (c *compose) run(ctx context.Context, args ...string) (string, error) {
	full := slices.Concat(c.command[1:], []string{"-f", c.file, "-p", c.project}, args)
	cmd := exec.CommandContext(ctx, c.command[0], full...)
	cmd.Env = c.env
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	if err != nil || args[0] == "run" {
		out += stderr.String()
	}
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", strings.Join(c.command, " "), strings.Join(args, " "), err)
	}
	return out, nil
}

// health is the health status of a service's container ("starting",
// "healthy", "unhealthy"), or what went wrong asking.
func (c *compose) health(ctx context.Context, svc string) string {
	id, err := c.run(ctx, "ps", "-q", svc)
	if err != nil || strings.TrimSpace(id) == "" {
		return fmt.Sprintf("not running (%v)", err)
	}
	out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.Health.Status}}", strings.TrimSpace(id)).Output()
	if err != nil {
		return fmt.Sprintf("not inspectable (%v)", err)
	}
	return strings.TrimSpace(string(out))
}

func (c *compose) waitHealthy(ctx context.Context, svc string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := c.health(ctx, svc)
		if st == "healthy" {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.t.Fatalf("%s is %s, not healthy, after %s", svc, st, timeout)
		}
		time.Sleep(time.Second)
	}
}
