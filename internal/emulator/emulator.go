// Package emulator serves the Graph emulator (internal/graph/graphtest) as a
// standalone HTTP server, as `worker graph-emulator` does for
// docker-compose and manual tests: one log line per request, a graceful
// stop when the context ends.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
)

// DefaultAddr is where the emulator listens unless told otherwise.
const DefaultAddr = ":8090"

// Options configure Serve.
type Options struct {
	Addr string         // listen address. Defaults to DefaultAddr.
	Seed graphtest.Seed // the world to serve
	Log  *slog.Logger   // required: one line per request, and the start and stop
	// OnListen, if set, is called with the emulator and its base URL once it
	// listens (tests use it).
	OnListen func(emu *graphtest.Server, url string)
}

// Serve runs the emulator until ctx ends, then stops taking requests, ends
// hung ones and waits up to 5s for the rest. It returns nil after a clean
// stop.
func Serve(ctx context.Context, o Options) error {
	if o.Log == nil {
		return errors.New("emulator: Log is required")
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	emu, err := graphtest.New(o.Seed, graphtest.WithLogger(o.Log), graphtest.WithRecordLimit(10000))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	url := "http://" + displayAddr(ln.Addr())
	hs := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	wabas, users := 0, 0
	for _, b := range o.Seed.Businesses {
		wabas += len(b.WABAs)
		users += len(b.SystemUsers)
	}
	o.Log.Info("graph emulator listening", "url", url, "businesses", len(o.Seed.Businesses),
		"system_users", users, "wabas", wabas, "appsecret_proof", o.Seed.AppSecret != "")
	if o.OnListen != nil {
		o.OnListen(emu, url)
	}

	select {
	case err := <-served:
		emu.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	o.Log.Info("graph emulator stopping")
	emu.Close() // ends hung requests: Shutdown waits for handlers
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	o.Log.Info("graph emulator stopped")
	return nil
}

// displayAddr turns a wildcard listen address into one a client can use.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
