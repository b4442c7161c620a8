// Package health serves the worker's HTTP endpoints on HTTP_ADDR:
//
//   - /healthz answers 200 while the process runs;
//   - /readyz answers 200 only when the worker can take events (NATS
//     connected, consumer bound, credentials accepted, breaker not open),
//     503 otherwise, with a JSON body naming each check's state:
//     {"ready":false,"checks":{"breaker":"open","consumer":"ok",...}};
//   - /metrics serves the Prometheus registry it is given.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// DefaultAddr is where the endpoints listen unless HTTP_ADDR says otherwise.
const DefaultAddr = ":8080"

// OK is the state of a check that passes.
const OK = "ok"

// Sources are what readiness looks at. *nats.Conn, *worker.Worker and
// *breaker.Breaker are the real ones.
type Sources struct {
	NATS    interface{ Status() nats.Status }
	Worker  interface{ Status() worker.Status }
	Breaker interface{ State() breaker.State }
	// Buckets, if set, says why a KV bucket the worker needs (waba_locks,
	// waba_state) is not there, "" when both are.
	Buckets func() string
	// Stopping, if set, reports that a shutdown has begun: the worker takes
	// no more events.
	Stopping func() bool
}

// Report is the body of /readyz.
type Report struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// Check evaluates readiness. Each check is "ok" or says what is wrong:
//
//	nats:        ok, or the connection's state (reconnecting, closed, ...)
//	consumer:    ok, unbound
//	credentials: ok, rejected (Graph rejects the token; probing)
//	breaker:     ok, open, half_open (intake paused until a probe
//	             succeeds), paused (a probe failed without opening it)
//	intake:      ok, stopping (a shutdown has begun)
//	stream:      ok, or "missing subject waba.unshared" (an existing
//	             stream that does not capture a subject the worker needs:
//	             an input, or a result subject)
//	buckets:     ok, or why a KV bucket is missing
func (s Sources) Check() Report {
	checks := map[string]string{}
	if s.NATS != nil {
		checks["nats"] = OK
		if st := s.NATS.Status(); st != nats.CONNECTED {
			checks["nats"] = strings.ToLower(st.String())
		}
	}
	var st worker.Status
	if s.Worker != nil {
		st = s.Worker.Status()
		checks["consumer"] = OK
		if !st.ConsumerBound {
			checks["consumer"] = "unbound"
		}
		checks["credentials"] = OK
		if st.Paused == wabatype.PauseCredentials {
			checks["credentials"] = "rejected"
		}
		checks["stream"] = OK
		if len(st.MissingSubjects) > 0 {
			checks["stream"] = "missing subject " + strings.Join(st.MissingSubjects, ", ")
		}
	}
	if s.Breaker != nil || s.Worker != nil {
		checks["breaker"] = OK
		state := breaker.Closed
		if s.Breaker != nil {
			state = s.Breaker.State()
		}
		switch {
		case state == breaker.Open:
			checks["breaker"] = "open"
		case st.Paused == wabatype.PauseBreaker && state == breaker.HalfOpen:
			checks["breaker"] = "half_open"
		case st.Paused == wabatype.PauseBreaker:
			checks["breaker"] = "paused"
		}
	}
	if s.Buckets != nil {
		checks["buckets"] = OK
		if p := s.Buckets(); p != "" {
			checks["buckets"] = p
		}
	}
	if s.Stopping != nil {
		checks["intake"] = OK
		if s.Stopping() {
			checks["intake"] = "stopping"
		}
	}
	r := Report{Ready: true, Checks: checks}
	for _, v := range checks {
		if v != OK {
			r.Ready = false
		}
	}
	return r
}

// Handler routes /healthz, /readyz (from ready) and /metrics (when metrics
// is not nil).
func Handler(ready func() Report, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := ready()
		body, err := json.Marshal(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(append(body, '\n'))
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// Server is a running HTTP server. Create it with Listen.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen listens on addr (host:port; port 0 picks a free one) and serves h
// until Shutdown. An error means nothing listens.
func Listen(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "addr", ln.Addr().String(), "error", err.Error())
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops listening and waits, within ctx, for requests under way.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return err
}
