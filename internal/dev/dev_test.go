package dev

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/emulator"
)

// A taken default address falls back to a free port; a taken address given
// explicitly is an error naming it.
func TestListenFallsBackOnlyFromTheDefault(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := taken.Addr().String()

	ln, err := listen(addr, "graph emulator", true, log)
	if err != nil {
		t.Fatalf("default taken: %v", err)
	}
	if ln.Addr().String() == addr || !strings.HasPrefix(ln.Addr().String(), "127.0.0.1:") {
		t.Errorf("fell back to %s", ln.Addr())
	}
	ln.Close()

	if _, err := listen(addr, "graph emulator", false, log); err == nil || !strings.Contains(err.Error(), "graph emulator address "+addr) {
		t.Errorf("explicit taken: %v", err)
	}
	port := taken.Addr().(*net.TCPAddr).Port
	if _, err := natsPort(port, log); err == nil || !strings.Contains(err.Error(), "--nats-port 0") {
		t.Errorf("explicit NATS port taken: %v", err)
	}
	if p, err := natsPort(0, log); p != -1 || err != nil {
		t.Errorf("natsPort(0) = %d, %v; want -1 (a free port)", p, err)
	}
}

func TestWorkerConfigPointsAtTheEmulator(t *testing.T) {
	t.Parallel()
	cfg, err := WorkerConfig(Env{NATSURL: "nats://127.0.0.1:4222", GraphURL: "http://127.0.0.1:8090"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GraphBaseURL != "http://127.0.0.1:8090" || cfg.BusinessID != emulator.DevBusinessID ||
		cfg.SystemUserName != emulator.DevSystemUserName || cfg.AccessToken.Value != emulator.DevAdminToken ||
		cfg.HTTPAddr != "" || cfg.RetryMaxElapsed > cfg.AckWait {
		t.Errorf("config %+v", cfg)
	}
}
