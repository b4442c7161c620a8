package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/logging"
)

// runWebhook is `worker webhook`: the gateway from Meta's webhooks into
// JetStream (internal/gateway).
func runWebhook(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	TuneGC(env)
	cfg, err := config.LoadWebhook(args, env, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		if errs := configErrors(err); len(errs) > 0 {
			// One line per setting at fault, each naming its variable.
			for _, e := range errs {
				fmt.Fprintln(stderr, "worker: configuration:", e)
			}
			return &ExitError{Code: 2}
		}
		return usageError("%v (see 'worker webhook --help')", err)
	}
	log, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError("LOG_FORMAT: %v", err)
	}
	return gateway.Run(ctx, cfg, gateway.Options{Logger: log})
}

// configErrors returns the *config.Error values err holds, a joined error's
// each.
func configErrors(err error) []*config.Error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*config.Error
		for _, e := range j.Unwrap() {
			out = append(out, configErrors(e)...)
		}
		return out
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return []*config.Error{ce}
	}
	return nil
}
