package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultAddr is where the emulator listens unless told otherwise.
const DefaultAddr = ":8090"

// Options configure Serve.
type Options struct {
	Addr string       // listen address. Defaults to DefaultAddr.
	Seed Seed         // the world to serve
	Log  *slog.Logger // required: one line per request, and the start and stop
	// Webhook, when its CallbackURL is set, is the app's webhook
	// subscription: shares and unshares through the control endpoints
	// deliver signed account_update webhooks to it (webhooks.go).
	Webhook WebhookSubscription
	// OnListen, if set, is called with the emulator and its base URL once it
	// listens (tests use it).
	OnListen func(emu *Server, url string)
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
	opts := []Option{WithLogger(o.Log), WithRecordLimit(10000)}
	if o.Webhook.CallbackURL != "" {
		opts = append(opts, WithWebhook(o.Webhook))
	}
	emu, err := New(o.Seed, opts...)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	url := "http://" + displayAddr(ln.Addr())
	srv := ServeListener(emu, ln, nil)

	wabas, users := 0, 0
	for _, b := range o.Seed.Businesses {
		wabas += len(b.WABAs)
		users += len(b.SystemUsers)
	}
	o.Log.Info("graph emulator listening", "url", url, "businesses", len(o.Seed.Businesses),
		"system_users", users, "wabas", wabas, "appsecret_proof", o.Seed.AppSecret != "", "webhook_callback", o.Webhook.CallbackURL)
	if o.OnListen != nil {
		o.OnListen(emu, url)
	}

	select {
	case err := <-srv.Failed():
		emu.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	o.Log.Info("graph emulator stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	o.Log.Info("graph emulator stopped")
	return nil
}

// Serving is the emulator answering on a listener. Create it with
// ServeListener and end it with Stop.
type Serving struct {
	emu    *Server
	hs     *http.Server
	failed chan error    // the error that ended Serve early
	done   chan struct{} // closed once Serve returned
}

// ServeListener serves emu on ln with hs until Stop. A nil hs is a plain
// http.Server; a nil hs.Handler is emu (a caller may wrap emu instead).
func ServeListener(emu *Server, ln net.Listener, hs *http.Server) *Serving {
	if hs == nil {
		hs = &http.Server{ReadHeaderTimeout: 10 * time.Second}
	}
	if hs.Handler == nil {
		hs.Handler = emu
	}
	s := &Serving{emu: emu, hs: hs, failed: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.failed <- err
		}
	}()
	return s
}

// Failed delivers the error that ended serving before Stop, if any.
func (s *Serving) Failed() <-chan error { return s.failed }

// Stop ends hung and sleeping requests first (Shutdown waits for handlers),
// then shuts the HTTP server down within ctx, closing it when ctx ends
// first, and waits for it to stop.
func (s *Serving) Stop(ctx context.Context) error {
	s.emu.Close()
	err := s.hs.Shutdown(ctx)
	if err != nil {
		_ = s.hs.Close()
	}
	<-s.done
	return err
}

// displayAddr turns a wildcard listen address into one a client can use.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
