package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/sweep"
)

func sweepHelp() help {
	return help{
		usage: "worker sweep [--dry-run] [--json]",
		about: []string{
			"Sweeps once: lists the WABAs shared with BUSINESS_ID (GET /{business-id}/",
			"client_whatsapp_business_accounts, all pages) and publishes a waba.shared (source \"sweep\")",
			"for each one the ledger does not show as onboarded: no record, failed (a permanent failure",
			"at most once a day), or lacking one of ASSIGN_TASKS. It prints a line per WABA it emitted",
			"or would emit, or skipped, and why, and those the ledger shows as assigned that Graph no",
			"longer lists (\"not listed any more\": reported, never touched), then a summary. With",
			"--dry-run it publishes nothing. It reads `worker run`'s settings from the environment",
			"(NATS, Graph, BUSINESS_ID, ASSIGN_TASKS, WORKER_STATE_BUCKET). Exit status: 0, 1 when Graph",
			"or NATS failed, 2 for a bad flag or setting.",
		},
		example: []string{
			"worker sweep --dry-run",
			"worker sweep --json | jq -c 'select(.action == \"emitted\")'",
		},
	}
}

func runSweep(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker sweep")
	var dryRun, asJSON bool
	fs.BoolVar(&dryRun, "dry-run", false, "decide and print, publish nothing")
	fs.BoolVar(&asJSON, "json", false, "one JSON object per line: each WABA, then the summary")
	if err := parse(fs, sweepHelp(), args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (see 'worker sweep --help')", fs.Arg(0))
	}
	cfg, err := config.Load(nil, env, io.Discard)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("configuration: %w", err)}
	}
	// The sweep's own log lines are for `worker run`; here stdout says it
	// all, and only warnings and errors go to stderr (LOG_LEVEL overrides).
	log, err := logger(stderr, getter(env), slog.LevelWarn)
	if err != nil {
		return usageError("%v", err)
	}
	client, err := app.NewGraphClient(cfg, nil, log)
	if err != nil {
		return err
	}
	nf := natsFlags{url: cfg.NATSURL, creds: cfg.NATSCreds, stream: cfg.Stream}
	nc, js, _, err := nf.connect("waba-worker sweep")
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := js.KeyValue(ctx, cfg.StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("the ledger's KV bucket %s does not exist: start a worker once (WORKER_PROVISION=true creates it), or create it (deploy/nats/keyvalues.sh)", cfg.StateBucket)
	}
	if err != nil {
		return fmt.Errorf("ledger bucket %s: %w", cfg.StateBucket, err)
	}
	sw, err := app.NewSweeper(cfg, app.SweepLister{Client: client}, js, ledger.New(kv), log, nil, dryRun)
	if err != nil {
		return err
	}
	var werr error
	print := func(v any, text string) {
		if werr != nil {
			return
		}
		if asJSON {
			line, err := json.Marshal(v)
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", line)
			}
			werr = err
			return
		}
		_, werr = fmt.Fprintln(stdout, text)
	}
	sum, err := sw.Sweep(ctx, func(l sweep.Line) {
		if l.Action == sweep.ActionSkipped && l.Reason == sweep.ReasonOnboarded {
			return // the common case: counted in the summary
		}
		print(l, sweepLine(l))
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	print(map[string]any{"summary": sum}, sweepSummary(sum))
	return werr
}

// sweepLine is one WABA's line: what the sweep did, why, and the event.
func sweepLine(l sweep.Line) string {
	var b strings.Builder
	action := string(l.Action)
	if l.Action == sweep.ActionNotListed {
		action = "not listed any more"
	}
	fmt.Fprintf(&b, "%-16s %-20s %s", action, l.WABAID, l.Reason)
	if l.State != "" {
		fmt.Fprintf(&b, " (ledger: %s)", l.State)
	}
	if l.EventID != "" {
		fmt.Fprintf(&b, " event=%s", l.EventID)
	}
	if l.Seq != 0 {
		fmt.Fprintf(&b, " seq=%d", l.Seq)
	}
	return b.String()
}

func sweepSummary(s sweep.Summary) string {
	counts := func(m map[sweep.Reason]int) string {
		keys := slices.Sorted(maps.Keys(m))
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	emitted := fmt.Sprintf("%d emitted, %d already emitted", s.Emitted, s.AlreadyEmitted)
	if s.DryRun {
		emitted = fmt.Sprintf("%d would be emitted (dry run: nothing published)", s.WouldEmit)
	}
	return fmt.Sprintf("swept business %s in %s: %d listed (%d list calls), %d onboarded, %s (by reason: %s); skipped: %s; %d not listed any more",
		s.BusinessID, s.Duration.Round(1e6), s.Listed, s.Pages, s.Onboarded, emitted, counts(s.EmitReasons), counts(s.Skipped), s.NotListed)
}
