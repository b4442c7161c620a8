package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
)

func emulatorHelp() help {
	return help{
		usage: "worker graph-emulator [flags]",
		about: []string{
			"Serves the Graph API emulator (the three edges the worker uses: system_users,",
			"assigned_users GET and POST) as a standalone server, for docker-compose and manual",
			"tests, logging one line per request. Point the worker at it with GRAPH_BASE_URL.",
			"Without --seed it serves the world of `worker dev`: business 100200300, ADMIN system",
			"user 1972555232742222 \"waba-worker\" with token dev-admin-token, EMPLOYEE system user",
			"1972555232743333 \"waba-reader\" with token dev-read-token, and 21 WABAs",
			"102290129340398 ... 102290129340418 shared with the business, none assigned.",
			"With --webhook-url it sends webhooks like Meta: POST /_emulator/share (or the share",
			"subcommand) shares a WABA as Embedded Signup does and delivers a signed account_update",
			"PARTNER_ADDED to the callback, retrying with backoff until it answers 200; unshare sends",
			"PARTNER_REMOVED. POST /_emulator/webhooks {\"callback_url\",\"app_secret\"} changes the",
			"subscription at run time.",
		},
		env: []string{
			"GRAPH_APP_SECRET   default of --app-secret",
			"EMULATOR_WEBHOOK_URL   default of --webhook-url",
			"LOG_LEVEL, LOG_FORMAT   as for `worker run`",
		},
		example: []string{
			"worker graph-emulator --addr :8090 --seed seed.json",
			"worker graph-emulator --print-seed > seed.json   # the default world, to edit",
			"worker graph-emulator --webhook-url http://127.0.0.1:8081/webhooks/meta --app-secret s3cret",
			"worker graph-emulator share --waba-id 102290129340500 --wait 30s   # Embedded Signup: PARTNER_ADDED",
			"worker graph-emulator unshare --waba-id 102290129340500            # PARTNER_REMOVED",
		},
		after: []string{
			"Seed file (JSON; unknown fields are errors; ids are digits, user ids unique):",
			`  {"app_secret": "optional: requires appsecret_proof on every call",`,
			`   "businesses": [{"id": "100200300", "name": "My BSP",`,
			`     "system_users": [{"id": "1972555232742222", "name": "waba-worker", "role": "ADMIN", "token": "dev-admin-token"}],`,
			`     "wabas": [{"id": "102290129340398", "name": "Customer 1"},`,
			`               {"id": "102290129340399", "assigned": {"1972555232742222": ["MANAGE"]}}],`,
			`     "other_users": 0}]}`,
			"role is ADMIN (may POST assignments) or EMPLOYEE; assigned holds existing assignments",
			"(user id -> tasks); other_users adds filler system users listed first, to exercise paging.",
		},
	}
}

func runEmulator(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "share" || args[0] == "unshare") {
		return runEmulatorShare(ctx, args[0], args[1:], env, stdout) // emulator_share.go
	}
	getenv := getter(env)
	fs := newFlagSet("worker graph-emulator")
	var (
		o         emulator.Options
		seedFile  string
		appSecret string
		printSeed bool
	)
	fs.StringVar(&o.Addr, "addr", emulator.DefaultAddr, "listen `address`")
	fs.StringVar(&seedFile, "seed", "", "JSON seed `file` (default: the world of 'worker dev')")
	fs.StringVar(&appSecret, "app-secret", getenv("GRAPH_APP_SECRET"), "app `secret`: require appsecret_proof on every call (overrides the seed's) [$GRAPH_APP_SECRET]")
	fs.StringVar(&o.Webhook.CallbackURL, "webhook-url", getenv("EMULATOR_WEBHOOK_URL"), "the app's webhook callback `URL`: shares and unshares deliver signed account_update there [$EMULATOR_WEBHOOK_URL]")
	fs.StringVar(&o.Webhook.AppSecret, "webhook-secret", "", "app `secret` signing the webhooks (default: --app-secret)")
	fs.BoolVar(&printSeed, "print-seed", false, "print the seed (the default world, or --seed's) as JSON and exit")
	if err := parse(fs, emulatorHelp(), args, stdout); err != nil {
		return err
	}
	seed := emulator.DefaultSeed()
	if seedFile != "" {
		var err error
		if seed, err = emulator.LoadSeedFile(seedFile); err != nil {
			return usageError("--seed: %v", err)
		}
	}
	if appSecret != "" {
		seed.AppSecret = appSecret
	}
	if printSeed {
		b, err := json.MarshalIndent(seed, "", "  ")
		if err != nil {
			return fmt.Errorf("print seed: %w", err)
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if o.Webhook.AppSecret == "" {
		o.Webhook.AppSecret = seed.AppSecret
	}
	if o.Webhook.CallbackURL != "" && o.Webhook.AppSecret == "" {
		return usageError("--webhook-url needs --webhook-secret or --app-secret (see 'worker graph-emulator --help')")
	}
	var err error
	if o.Log, err = logger(stderr, getenv, slog.LevelInfo); err != nil {
		return err
	}
	o.Seed = seed
	return emulator.Serve(ctx, o)
}
