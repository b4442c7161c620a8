// Package cli is the worker's command line: it parses the subcommand and its
// flags, reads the environment through the lookup function it is given, and runs the
// command. cmd/worker only adds signals and the exit code, so tests drive
// every command through Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/version"
)

// ExitError carries a specific exit code (emit's 1 and 2, usage errors).
type ExitError struct {
	Code int
	Err  error // printed on stderr when set
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a mistake on the command line: exit 2.
func usageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// ExitCode prints err (if any) on stderr, each of its lines prefixed
// "worker: ", and returns the process's exit code.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *ExitError
	if errors.As(err, &ee) {
		code, err = ee.Code, ee.Err
	}
	if err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "worker:", l)
		}
	}
	return code
}

// linePrefixed prefixes each line of err's message (errors.Join puts one
// problem on each), keeping err's chain.
type linePrefixed struct {
	prefix string
	err    error
}

func (e *linePrefixed) Error() string {
	return e.prefix + strings.ReplaceAll(e.err.Error(), "\n", "\n"+e.prefix)
}

func (e *linePrefixed) Unwrap() error { return e.err }

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the worker (the default command)", runWorker},
		{"dev", "run NATS, the Graph emulator and the worker on this machine (try --demo 5)", runDev},
		{"webhook", "the gateway from Meta's webhooks into JetStream (point the app's callback URL at it)", runWebhook},
		{"emit", "publish one waba.shared event; --wait for its result", runEmit},
		{"replay", "republish the input of failed events", runReplay},
		{"sweep", "sweep once: emit waba.shared for each shared WABA the ledger does not show as onboarded", runSweep},
		{"status", "print the WABA ledger: each WABA's last known state, and counts", runStatus},
		{"graph-emulator", "serve the Graph API emulator (docker-compose, manual tests)", runEmulator},
		{"healthcheck", "exit 0 when the worker's /readyz answers 200 (the image's health check)", runHealthcheck},
		{"version", "print version, commit, build date and Go version", printVersion},
	}
}

// Run runs the command named by args[0] ("run" when there is none).
func Run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	name := "run"
	switch {
	case len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		printUsage(stdout)
		return nil
	case len(args) > 0 && (args[0] == "-version" || args[0] == "--version"):
		name, args = "version", args[1:]
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, lookupEnv, stdout, stderr)
		}
	}
	printUsage(stderr)
	return usageError("unknown command %q", name)
}

// getter turns a LookupEnv into the plain getenv most commands need.
func getter(env config.LookupEnv) func(string) string {
	return func(k string) string {
		v, _ := env(k)
		return v
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: worker [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'worker <command> --help' for a command's flags.")
}

func runWorker(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	TuneGC(env)
	cfg, err := config.Load(args, env, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		var ce *config.Error
		if errors.As(err, &ce) {
			return &ExitError{Code: 2, Err: &linePrefixed{prefix: "configuration: ", err: err}}
		}
		return usageError("%v (see 'worker run --help')", err)
	}
	log, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError("LOG_FORMAT: %v", err)
	}
	return app.Run(ctx, cfg, app.Options{Logger: log, Getenv: getter(env)})
}

func printVersion(_ context.Context, args []string, _ config.LookupEnv, stdout, _ io.Writer) error {
	fs := newFlagSet("worker version")
	h := help{
		usage:   "worker version",
		about:   []string{"Prints the version, commit, build date and Go version of this binary (set by the", "Makefile; from the module's build information otherwise)."},
		example: []string{"worker version"},
	}
	if err := parse(fs, h, args, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, version.Get())
	return nil
}
