// Command bench measures the worker's throughput and latency against the
// limit Graph's latency sets. `make bench` runs it; `bench -h` lists its
// flags. See internal/bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wabaworker/waba-worker/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
