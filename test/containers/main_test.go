package containers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

var (
	// The images under test: the Makefile exports WORKER_IMAGE and
	// NATS_IMAGE; these are its defaults.
	workerImage = envOr("WORKER_IMAGE", "waba-worker:dev")
	natsImage   = os.Getenv("NATS_IMAGE") // default set by setup

	repoRoot string // holds go.mod, the Makefile and docker-compose.yml

	// noDocker says why no Docker engine can be used (the tests skip, or
	// fail under WABA_REQUIRE_DOCKER=1); setupErr says why the images are
	// not there (the tests fail).
	noDocker error
	setupErr error
)

// requireDockerEnv makes the suite fail instead of skipping without Docker.
const requireDockerEnv = "WABA_REQUIRE_DOCKER"

func TestMain(m *testing.M) {
	// The reaper (ryuk) is an image to pull, and nothing can be pulled here:
	// every test terminates its own containers and network with t.Cleanup.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// The engine runs on this host (the Graph emulator is served on the
	// test network's gateway, which must be a local address). Without the
	// override, testcontainers sees /.dockerenv on a CI machine that is
	// itself a container and looks for published ports on a gateway.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	flag.Parse()
	if !testing.Short() {
		setup()
	}
	os.Exit(m.Run())
}

// setup finds the repository, checks that a Docker engine answers, and
// builds the images with `make images` when one of them is missing.
func setup() {
	var err error
	if repoRoot, err = findRepoRoot(); err != nil {
		setupErr = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if noDocker = dockerCLI(ctx); noDocker != nil {
		return
	}
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		noDocker = err
		return
	}
	defer docker.Close()
	if _, err := docker.Ping(ctx, client.PingOptions{}); err != nil {
		noDocker = err
		return
	}
	if natsImage == "" {
		out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
		if err != nil {
			setupErr = fmt.Errorf("nats-server version from go.mod: %w", err)
			return
		}
		natsImage = "waba-nats:" + strings.TrimSpace(string(out))
	}
	var missing []string
	for _, img := range []string{workerImage, natsImage} {
		if _, err := docker.ImageInspect(ctx, img); err != nil {
			missing = append(missing, img)
		}
	}
	if len(missing) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "containers: building the missing images %v with `make images`\n", missing)
	mk := exec.CommandContext(ctx, "make", "images", "WORKER_IMAGE="+workerImage, "NATS_IMAGE="+natsImage)
	mk.Dir, mk.Stdout, mk.Stderr = repoRoot, os.Stderr, os.Stderr
	if err := mk.Run(); err != nil {
		setupErr = fmt.Errorf("make images: %w", err)
		return
	}
	for _, img := range []string{workerImage, natsImage} {
		if _, err := docker.ImageInspect(ctx, img); err != nil {
			setupErr = fmt.Errorf("image %s is still missing after `make images`: %w", img, err)
		}
	}
}

// requireDocker skips t without Docker (fails it under
// WABA_REQUIRE_DOCKER=1), and fails it when the images could not be built.
func requireDocker(t *testing.T) {
	t.Helper()
	switch {
	case testing.Short():
		t.Skip("container test: skipped in -short mode")
	case noDocker != nil && os.Getenv(requireDockerEnv) == "1":
		t.Fatalf("container test: no Docker engine answers, and %s=1 requires one: %v", requireDockerEnv, noDocker)
	case noDocker != nil:
		t.Skipf("container test: skipped, no Docker engine answers (%v); set %s=1 to make this a failure", noDocker, requireDockerEnv)
	case setupErr != nil:
		t.Fatalf("container test: %v", setupErr)
	}
}

// dockerCLI checks that the docker CLI reaches an engine. The compose test
// and `make images` use it, and it takes DOCKER_HOST as it is, while
// testcontainers falls back to the local socket when DOCKER_HOST does not
// answer: without this check an unreachable DOCKER_HOST let the suite run
// and docker-compose fail with a page of traceback. The error is one line.
func dockerCLI(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return nil
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if msg == "" {
		msg = err.Error()
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return fmt.Errorf("the docker CLI cannot reach DOCKER_HOST=%s: %s", h, msg)
	}
	return fmt.Errorf("the docker CLI: %s", msg)
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
