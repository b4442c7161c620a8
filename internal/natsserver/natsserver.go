// Package natsserver runs a NATS server with JetStream inside the process: for
// `worker dev`, the benchmark and tests. Production runs against a real
// NATS deployment.
package natsserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	Host     string // Defaults to 127.0.0.1.
	Port     int    // 0 or -1 picks a free port.
	StoreDir string // JetStream file store; required.
	// MaxPayload defaults to DefaultMaxPayload.
	MaxPayload int32
}

// DefaultMaxPayload is the embedded server's max_payload: 8 MiB, so that
// the webhook gateway can store one change of the largest body it accepts
// (4 MiB; Meta sends at most 3 MB), which NATS's own 1 MiB default cannot.
const DefaultMaxPayload = 8 << 20

// Start starts a JetStream-enabled server and waits until it takes
// connections.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	opts := &server.Options{
		ServerName: "waba-dev",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: o.MaxPayload,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return s, nil
}
