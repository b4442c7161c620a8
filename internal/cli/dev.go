package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/dev"
)

func devHelp() help {
	return help{
		usage: "worker dev [flags]",
		about: []string{
			"Runs everything on this machine, with no service, network or configuration: an embedded",
			"NATS JetStream server, the Graph emulator (business 100200300, system user \"waba-worker\",",
			"21 WABAs) and the worker, wired together. It prints where each part listens, how to emit",
			"an event from another terminal, and one line per result as it happens. --demo N emits N",
			"events itself and keeps running after their results; with N of 2 or more the last is for",
			"a WABA the business does not have, so it fails. It also runs the webhook gateway",
			"(`worker webhook`) with the emulator's callback URL pointed at it, and the demo shares one",
			"more WABA \"through Embedded Signup\": the log shows the webhook arriving, the waba.shared",
			"it became and its result.",
			"",
			"The worker sweeps every minute (SWEEP_INTERVAL), the first time 2s after start (with --demo,",
			"2s after the demo's own events have their results, so it does not emit them again): it lists",
			"the WABAs shared with the business and publishes a waba.shared (source sweep) for each the",
			"ledger does not show onboarded. The seeded WABAs the demo does not use start onboarded",
			"(assigned in the emulator and in the ledger), so the sweep finds only what is new: the demo",
			"shares 102290129340499 \"while the webhook was down\" (no webhook, no event), the sweep",
			"finds it and the worker assigns it. Every result line names its event's source",
			"(worker-dev-demo, webhook, sweep, worker-emit). Ctrl-C stops everything (exit 0).",
			"",
			"A default address that is taken falls back to a free port (printed); one given explicitly",
			"must be free.",
		},
		env: []string{
			"SWEEP_INTERVAL  the discovery sweep's period: 1m unless set; 0 disables the sweep (and",
			"                the demo's WABA shared while the webhook was down)",
			"LOG_LEVEL       dev's lines at info; the worker's own logs at warn unless set; debug",
			"                adds one line per Graph request",
			"LOG_FORMAT      auto (tint on a terminal, JSON otherwise), json or text",
		},
		example: []string{
			"worker dev --demo 5",
		},
	}
}

// selfCommand is how another terminal runs this binary: its name when PATH
// finds it, else its path (relative to the working directory when under
// it, as bin/worker from `make run`). A binary not named worker (a test)
// is called worker.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil || filepath.Base(exe) != "worker" {
		return "worker"
	}
	if found, err := exec.LookPath("worker"); err == nil && sameFile(found, exe) {
		return "worker"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			if !strings.Contains(rel, string(filepath.Separator)) {
				rel = "." + string(filepath.Separator) + rel // a shell looks up a bare name in PATH
			}
			return rel
		}
	}
	return exe
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func runDev(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	TuneGC(env)
	getenv := getter(env)
	fs := newFlagSet("worker dev")
	o := dev.Options{Out: stdout, Command: selfCommand()}
	fs.IntVar(&o.Demo, "demo", 0, "emit `n` demo events at start and print their results")
	fs.StringVar(&o.StoreDir, "store", "", "JetStream store `directory`, kept at exit (default: a temporary one, removed at exit)")
	fs.IntVar(&o.NATSPort, "nats-port", dev.DefaultNATSPort, "NATS client `port` (0: a free one)")
	fs.StringVar(&o.GraphAddr, "graph-addr", dev.DefaultGraphAddr, "Graph emulator listen `address` (port 0: a free one)")
	fs.StringVar(&o.WebhookAddr, "webhook-addr", dev.DefaultWebhookAddr, "webhook gateway listen `address`, the emulator's callback URL (port 0: a free one)")
	fs.StringVar(&o.HTTPAddr, "http-addr", dev.DefaultHTTPAddr, "`address` of the worker's /healthz, /readyz, /metrics (\"\" disables)")
	if err := parse(fs, devHelp(), args, stdout); err != nil {
		return err
	}
	if o.Demo < 0 || o.Demo > 10000 {
		return usageError("--demo must be from 0 to 10000")
	}
	if o.NATSPort < 0 || o.NATSPort > 65535 {
		return usageError("--nats-port must be from 0 to 65535")
	}
	if v := getenv("SWEEP_INTERVAL"); v != "" {
		d, err := config.ParseSweepInterval(v)
		if err != nil {
			return usageError("configuration: SWEEP_INTERVAL: %v (got %q)", err, v)
		}
		o.SweepInterval = d
		if d == 0 {
			o.SweepInterval = dev.NoSweep
		}
	}
	var err error
	if o.Log, err = logger(stderr, getenv, slog.LevelInfo); err != nil {
		return err
	}
	if o.WorkerLog, err = logger(stderr, getenv, slog.LevelWarn); err != nil {
		return err
	}
	if o.Log.Enabled(ctx, slog.LevelDebug) {
		o.GraphLog = o.Log.With("component", "graph")
	}
	o.WorkerLog = o.WorkerLog.With("component", "worker")
	return dev.Run(ctx, o)
}
