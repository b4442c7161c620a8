// Command worker assigns a BSP's system user to the WhatsApp Business
// Accounts its customers share, driven by waba.shared events on NATS
// JetStream. See the README for its commands and configuration.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wabaworker/waba-worker/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	err := cli.Run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(cli.ExitCode(err, os.Stderr))
}
