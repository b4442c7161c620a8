package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/webhook"
)

// WebhookConfig is everything `worker webhook` needs: NATS, the app secret
// and the verify token. No Graph token, no BUSINESS_ID.
type WebhookConfig struct {
	NATSURL   string // Defaults to nats://127.0.0.1:4222.
	NATSCreds string // Defaults to none.
	Provision bool   // create META_WEBHOOKS and the WABA stream when missing. Defaults to true.

	EventsStream  string // WORKER_STREAM: where waba.shared and waba.unshared go. Defaults to WABA.
	SharedSubject string // WORKER_SUBJECT. Defaults to waba.shared.

	Addr        string        // WEBHOOK_ADDR. Defaults to :8081.
	Path        string        // WEBHOOK_PATH. Defaults to /webhooks/meta.
	VerifyToken Secret        // WEBHOOK_VERIFY_TOKEN[_FILE]: required.
	AppSecret   Secret        // GRAPH_APP_SECRET[_FILE]: required here.
	Stream      string        // WEBHOOK_STREAM. Defaults to META_WEBHOOKS.
	MaxAge      time.Duration // WEBHOOK_MAX_AGE. Defaults to 168h.

	HTTPAddr  string     // Defaults to :8080; empty disables.
	LogLevel  slog.Level // Defaults to info.
	LogFormat string     // Defaults to auto.
}

// wsetting is one row of `worker webhook`'s table: one of its own, or a row
// of `worker run`'s table that both commands read (NATS, the stream, the app
// secret, the HTTP and log settings), shared rather than copied so its
// default, flag and checks stay one.
type wsetting struct {
	setting
	// set stores v: own rows into w, shared rows (through their run row)
	// into c, which loadWebhook then copies into w.
	set func(w *WebhookConfig, c *Config, v string) error
}

// own is a row of `worker webhook` alone.
func own(s setting, set func(w *WebhookConfig, v string) error) wsetting {
	return wsetting{setting: s, set: func(w *WebhookConfig, _ *Config, v string) error { return set(w, v) }}
}

// shared is the row of `worker run` for env, with usage in place of its own
// when not empty. It panics when there is no such row: a programming error
// that every test run finds.
func shared(env, usage string) wsetting {
	for _, s := range settings {
		if s.env == env {
			run := s
			if usage != "" {
				run.usage = usage
			}
			return wsetting{setting: run, set: func(_ *WebhookConfig, c *Config, v string) error { return run.set(c, v) }}
		}
	}
	panic("config: no setting " + env)
}

// webhookSettings lists the settings of `worker webhook` in README's order
// ("worker webhook"); its help text and README's table come from it.
var webhookSettings = []wsetting{
	shared("NATS_URL", ""),
	shared("NATS_CREDS", ""),
	shared("WORKER_PROVISION", "create the stream META_WEBHOOKS and the WABA stream if missing"),
	shared("WORKER_STREAM", "JetStream stream of the waba.shared and waba.unshared events"),
	shared("WORKER_SUBJECT", "subject of the waba.shared events"),
	own(setting{env: "WEBHOOK_ADDR", flag: "webhook-addr", def: webhook.DefaultAddr, usage: "address Meta's deliveries come to (behind the TLS ingress)"},
		func(w *WebhookConfig, v string) error { w.Addr = v; return checkListenAddr(v) }),
	own(setting{env: "WEBHOOK_PATH", flag: "webhook-path", def: webhook.DefaultPath, usage: "the callback URL's path"},
		func(w *WebhookConfig, v string) error { w.Path = v; return checkPath(v) }),
	own(setting{env: "WEBHOOK_VERIFY_TOKEN", flag: "verify-token", secret: true, usage: "Meta's hub.verify_token (required; prefer the _FILE form)"},
		func(w *WebhookConfig, v string) error { w.VerifyToken.Value = v; return nil }),
	own(setting{env: "WEBHOOK_VERIFY_TOKEN_FILE", flag: "verify-token-file", usage: "file holding WEBHOOK_VERIFY_TOKEN, re-read when it changes"},
		func(w *WebhookConfig, v string) error { w.VerifyToken.File = v; return checkFile(v) }),
	shared("GRAPH_APP_SECRET", "app secret keying X-Hub-Signature-256 (required; prefer the _FILE form)"),
	shared("GRAPH_APP_SECRET_FILE", "file holding GRAPH_APP_SECRET, re-read when it changes"),
	own(setting{env: "WEBHOOK_STREAM", flag: "webhook-stream", def: webhook.DefaultStream, usage: "stream of the raw changes (subjects meta.webhook.>)"},
		func(w *WebhookConfig, v string) error { w.Stream = v; return checkName(v) }),
	own(setting{env: "WEBHOOK_MAX_AGE", flag: "webhook-max-age", def: durationText(webhook.DefaultMaxAge), usage: "MaxAge of the raw stream when it is created (>= 1m)"},
		func(w *WebhookConfig, v string) (err error) {
			w.MaxAge, err = parseDuration(v, time.Minute)
			return err
		}),
	shared("HTTP_ADDR", ""),
	shared("LOG_LEVEL", ""),
	shared("LOG_FORMAT", ""),
}

// LoadWebhook reads the settings of `worker webhook` from args (its flags)
// and the environment, as Load does for `worker run`. Every problem is
// returned, joined, each a *Error naming its variable. It returns
// flag.ErrHelp when -h/--help was asked for, after printing the help to
// usage.
func LoadWebhook(args []string, lookup LookupEnv, usage io.Writer) (WebhookConfig, error) {
	fs := flag.NewFlagSet("worker webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := make(map[string]*string, len(webhookSettings))
	for _, s := range webhookSettings {
		flags[s.flag] = fs.String(s.flag, "", "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintWebhookHelp(usage)
		}
		return WebhookConfig{}, err
	}
	if fs.NArg() > 0 {
		return WebhookConfig{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var w WebhookConfig
	var c Config
	var errs []error
	for _, s := range webhookSettings {
		v, ok := *flags[s.flag], given[s.flag]
		if !ok {
			v, ok = lookup(s.env)
			ok = ok && (v != "" || s.emptyAllowed)
		}
		if !ok {
			if s.def == "" {
				continue
			}
			v = s.def
		}
		if err := s.set(&w, &c, v); err != nil {
			msg := err.Error()
			if !s.secret {
				msg = fmt.Sprintf("%s (got %q)", msg, v)
			}
			errs = append(errs, &Error{Var: s.env, Msg: msg})
		}
	}
	w.NATSURL, w.NATSCreds, w.Provision = c.NATSURL, c.NATSCreds, c.Provision
	w.EventsStream, w.SharedSubject = c.Stream, c.Subject
	w.AppSecret = c.AppSecret
	w.HTTPAddr, w.LogLevel, w.LogFormat = c.HTTPAddr, c.LogLevel, c.LogFormat
	errs = append(errs, w.validate()...)
	if len(errs) > 0 {
		return WebhookConfig{}, errors.Join(errs...)
	}
	return w, nil
}

// validate checks what spans several settings.
func (w *WebhookConfig) validate() []error {
	var errs []error
	add := func(v, msg string) { errs = append(errs, &Error{Var: v, Msg: msg}) }
	secret := func(s Secret, env string) {
		switch {
		case s.Value != "" && s.File != "":
			add(env, fmt.Sprintf("set %s or %s_FILE, not both", env, env))
		case !s.IsSet():
			add(env, fmt.Sprintf("required for worker webhook (or %s_FILE)", env))
		}
	}
	secret(w.VerifyToken, "WEBHOOK_VERIFY_TOKEN")
	secret(w.AppSecret, "GRAPH_APP_SECRET")
	if w.Stream != "" && w.Stream == w.EventsStream {
		add("WEBHOOK_STREAM", "must differ from WORKER_STREAM")
	}
	if _, port, _ := net.SplitHostPort(w.Addr); port != "0" && w.Addr == w.HTTPAddr {
		add("WEBHOOK_ADDR", "must differ from HTTP_ADDR")
	}
	return errs
}

// PrintWebhookHelp writes the flags of `worker webhook` with their variables
// and defaults.
func PrintWebhookHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: worker webhook [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The gateway from Meta's webhooks into JetStream: point the app's callback URL at it")
	fmt.Fprintln(w, "(behind your TLS ingress). It answers Meta's verification request, checks")
	fmt.Fprintln(w, "X-Hub-Signature-256, stores every change on meta.webhook.<object>.<field> in")
	fmt.Fprintln(w, "WEBHOOK_STREAM, and turns account_update shares into waba.shared (removals into")
	fmt.Fprintln(w, "waba.unshared); it answers 200 only once JetStream has them all. It needs NATS, the")
	fmt.Fprintln(w, "app secret and the verify token only. Every flag can also be set by its environment")
	fmt.Fprintln(w, "variable; a flag wins.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	for _, s := range webhookSettings {
		def := ""
		if s.def != "" {
			def = fmt.Sprintf(" (default %q)", s.def)
		}
		fmt.Fprintf(w, "  --%s\n        %s%s [$%s]\n", s.flag, s.usage, def, s.env)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Example:")
	fmt.Fprintln(w, "  WEBHOOK_VERIFY_TOKEN_FILE=/run/secrets/verify-token \\")
	fmt.Fprintln(w, "  GRAPH_APP_SECRET_FILE=/run/secrets/app-secret worker webhook --webhook-addr :8081")
}

// WebhookVariables returns the environment variables of `worker webhook`
// with their defaults, in README's order (for docs and tests).
func WebhookVariables() [][2]string {
	out := make([][2]string, len(webhookSettings))
	for i, s := range webhookSettings {
		out[i] = [2]string{s.env, s.def}
	}
	return out
}

func checkListenAddr(v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return errors.New("must be host:port or :port")
	}
	return nil
}

func checkPath(v string) error {
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "?# ") {
		return errors.New("must be a URL path starting with /")
	}
	return nil
}
