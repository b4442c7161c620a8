// Package config turns the worker's environment and flags into a typed,
// validated Config. It reads no environment by itself: the caller passes the
// arguments and a getenv function, so tests and the command line share one
// path (it only checks that named files exist). Every problem names the variable at fault; secrets are never echoed.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/handlers"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/sweep"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// Config is everything `worker run` needs.
type Config struct {
	NATSURL   string // comma-separated server URLs. Defaults to nats://127.0.0.1:4222.
	NATSCreds string // path to a .creds file. Defaults to none.

	Stream           string        // Defaults to WABA.
	Consumer         string        // Defaults to waba-assigner.
	Subject          string        // input subject. Defaults to waba.shared.
	SucceededSubject string        // Defaults to waba.assignment.succeeded.
	FailedSubject    string        // Defaults to waba.assignment.failed.
	Provision        bool          // create the stream and buckets if missing, create/update the consumer. Defaults to true.
	LockBucket       string        // KV bucket of the per-WABA leases. Defaults to waba_locks.
	StateBucket      string        // KV bucket of the ledger. Defaults to waba_state.
	LeaseTTL         time.Duration // how long a dead holder blocks its WABA. Defaults to lease.DefaultTTL (15s).
	SweepInterval    time.Duration // discovery sweep period; 0 disables. Defaults to 1h.

	Concurrency        int           // events in their Graph calls at once. Defaults to 16.
	MaxDeliver         int           // deliveries of one event. Defaults to 10.
	AckWait            time.Duration // Defaults to 60s.
	RetryInitial       time.Duration // Defaults to 500ms.
	RetryMax           time.Duration // Defaults to 30s.
	RetryMaxElapsed    time.Duration // in-process retry budget per delivery. Defaults to 2m.
	BreakerOpenTimeout time.Duration // Defaults to 30s.
	ShutdownTimeout    time.Duration // Defaults to 30s.

	GraphBaseURL     string        // Defaults to https://graph.facebook.com.
	GraphAPIVersion  string        // Defaults to graph.DefaultVersion (v25.0).
	GraphTimeout     time.Duration // per call. Defaults to 10s.
	AccessToken      Secret        // required.
	AdminAccessToken Secret        // Defaults to AccessToken.
	AppSecret        Secret        // Defaults to none (no appsecret_proof).

	BusinessID     string   // required.
	SystemUserID   string   // one of SystemUserID and SystemUserName is required.
	SystemUserName string   //
	AssignTasks    []string // Defaults to [MANAGE].

	HTTPAddr  string     // Defaults to :8080; empty disables.
	LogLevel  slog.Level // Defaults to info.
	LogFormat string     // auto, json or text. Defaults to auto.
}

// Secret is a setting given either as a value or as a file to read. A file
// is re-read by the Graph token source, so a rotated token needs no restart.
type Secret struct {
	Value string
	File  string
}

// IsSet reports whether a value or a file was given.
func (s Secret) IsSet() bool { return s.Value != "" || s.File != "" }

// String never shows the value.
func (s Secret) String() string {
	switch {
	case s.File != "":
		return "file " + s.File
	case s.Value != "":
		return "[redacted]"
	}
	return "unset"
}

// Error is a problem with one setting. Load returns every problem it finds,
// joined (errors.Join: one line each); errors.As finds the first.
type Error struct {
	Var  string // the environment variable, e.g. WORKER_CONCURRENCY
	Flag string // the flag, e.g. --concurrency, when the value came from one
	Msg  string
}

// Error names what the user typed: the flag when the value came from one,
// else the variable.
func (e *Error) Error() string {
	if e.Flag != "" {
		return e.Flag + ": " + e.Msg
	}
	return e.Var + ": " + e.Msg
}

// setting is one row of the configuration table: the environment variable,
// its flag, its default and how to store it.
type setting struct {
	env, flag, def, usage string
	secret                bool // never echo the value
	emptyAllowed          bool // "" is a value (it disables something), not "unset"
	set                   func(c *Config, v string) error
}

var (
	subjectRE = regexp.MustCompile(`^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,64}$`)
	versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
)

// The defaults of the packages that own the settings: each default is
// written once, there, and the help text, Variables and (through a test)
// the README's table come from it.
var (
	workerDefaults   = worker.DefaultConfig()
	assignerDefaults = handlers.DefaultConfig()
)

// settings lists every setting in README's order ("Configuration"); the
// help text and the README's table come from it.
var settings = []setting{
	{env: "NATS_URL", flag: "nats-url", def: nats.DefaultURL, usage: "comma-separated NATS server URLs",
		set: func(c *Config, v string) error { c.NATSURL = v; return checkNATSURLs(v) }},
	{env: "NATS_CREDS", flag: "nats-creds", usage: "path to a NATS .creds file",
		set: func(c *Config, v string) error { c.NATSCreds = v; return checkFile(v) }},
	{env: "WORKER_STREAM", flag: "stream", def: wabatype.DefaultStream, usage: "JetStream stream",
		set: func(c *Config, v string) error { c.Stream = v; return checkName(v) }},
	{env: "WORKER_CONSUMER", flag: "consumer", def: wabatype.DefaultConsumer, usage: "durable pull consumer",
		set: func(c *Config, v string) error { c.Consumer = v; return checkName(v) }},
	{env: "WORKER_SUBJECT", flag: "subject", def: wabatype.DefaultSubject, usage: "input subject",
		set: func(c *Config, v string) error { c.Subject = v; return checkSubject(v) }},
	{env: "WORKER_SUCCEEDED_SUBJECT", flag: "succeeded-subject", def: wabatype.DefaultSucceededSubject, usage: "subject of succeeded events",
		set: func(c *Config, v string) error { c.SucceededSubject = v; return checkSubject(v) }},
	{env: "WORKER_FAILED_SUBJECT", flag: "failed-subject", def: wabatype.DefaultFailedSubject, usage: "subject of failed events",
		set: func(c *Config, v string) error { c.FailedSubject = v; return checkSubject(v) }},
	{env: "WORKER_PROVISION", flag: "provision", def: strconv.FormatBool(!workerDefaults.BindOnly), usage: "create the stream and the KV buckets if missing, create/update the consumer",
		set: func(c *Config, v string) (err error) { c.Provision, err = parseBool(v); return err }},
	{env: "WORKER_LOCK_BUCKET", flag: "lock-bucket", def: lease.DefaultBucket, usage: "KV bucket of the per-WABA leases (and the sweep's)",
		set: func(c *Config, v string) error { c.LockBucket = v; return checkName(v) }},
	{env: "WORKER_STATE_BUCKET", flag: "state-bucket", def: ledger.DefaultBucket, usage: "KV bucket of the WABA ledger",
		set: func(c *Config, v string) error { c.StateBucket = v; return checkName(v) }},
	{env: "WORKER_LEASE_TTL", flag: "lease-ttl", def: durationText(lease.DefaultTTL), usage: "how long a killed worker blocks the WABA it held (1s-5m; the lock bucket's TTL)",
		set: func(c *Config, v string) (err error) {
			c.LeaseTTL, err = parseDuration(v, time.Second)
			if err == nil && c.LeaseTTL > 5*time.Minute {
				err = errors.New("must be at most 5m")
			}
			return err
		}},
	{env: "SWEEP_INTERVAL", flag: "sweep-interval", def: durationText(sweep.DefaultInterval), usage: "discovery sweep period (0 disables; else at least 1s)",
		set: func(c *Config, v string) (err error) { c.SweepInterval, err = ParseSweepInterval(v); return err }},
	{env: "WORKER_CONCURRENCY", flag: "concurrency", def: strconv.Itoa(workerDefaults.Concurrency), usage: "events in their Graph calls at once (1-4096); an eighth more wait at hand",
		set: func(c *Config, v string) (err error) { c.Concurrency, err = parseInt(v, 1, 4096); return err }},
	{env: "WORKER_MAX_DELIVER", flag: "max-deliver", def: strconv.Itoa(workerDefaults.MaxDeliver), usage: "deliveries of one event before it fails as retries_exhausted (1-1000)",
		set: func(c *Config, v string) (err error) { c.MaxDeliver, err = parseInt(v, 1, 1000); return err }},
	{env: "WORKER_ACK_WAIT", flag: "ack-wait", def: durationText(workerDefaults.AckWait), usage: "JetStream AckWait (>= 1s)",
		set: func(c *Config, v string) (err error) { c.AckWait, err = parseDuration(v, time.Second); return err }},
	{env: "WORKER_RETRY_INITIAL", flag: "retry-initial", def: durationText(assignerDefaults.RetryInitial), usage: "first in-process retry interval",
		set: func(c *Config, v string) (err error) {
			c.RetryInitial, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "WORKER_RETRY_MAX", flag: "retry-max", def: durationText(assignerDefaults.RetryMax), usage: "largest in-process retry interval",
		set: func(c *Config, v string) (err error) {
			c.RetryMax, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "WORKER_RETRY_MAX_ELAPSED", flag: "retry-max-elapsed", def: durationText(assignerDefaults.RetryMaxElapsed), usage: "in-process retry budget per delivery",
		set: func(c *Config, v string) (err error) {
			c.RetryMaxElapsed, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "WORKER_BREAKER_OPEN_TIMEOUT", flag: "breaker-open-timeout", def: durationText(breaker.DefaultOpenTimeout), usage: "how long the circuit breaker stays open",
		set: func(c *Config, v string) (err error) {
			c.BreakerOpenTimeout, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "WORKER_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: durationText(workerDefaults.ShutdownTimeout), usage: "time to finish in-flight events on SIGTERM",
		set: func(c *Config, v string) (err error) {
			c.ShutdownTimeout, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "GRAPH_BASE_URL", flag: "graph-base-url", def: graph.DefaultBaseURL, usage: "Graph API base URL (the emulator's in dev and tests)",
		set: func(c *Config, v string) error { c.GraphBaseURL = v; return checkHTTPURL(v) }},
	{env: "GRAPH_API_VERSION", flag: "graph-api-version", def: graph.DefaultVersion, usage: "Graph API version",
		set: func(c *Config, v string) error { c.GraphAPIVersion = v; return checkVersion(v) }},
	{env: "GRAPH_ACCESS_TOKEN", flag: "graph-access-token", secret: true, usage: "system-user token for reads (required; prefer the _FILE form)",
		set: func(c *Config, v string) error { c.AccessToken.Value = v; return nil }},
	{env: "GRAPH_ACCESS_TOKEN_FILE", flag: "graph-access-token-file", usage: "file holding GRAPH_ACCESS_TOKEN, re-read when it changes",
		set: func(c *Config, v string) error { c.AccessToken.File = v; return checkFile(v) }},
	{env: "GRAPH_ADMIN_ACCESS_TOKEN", flag: "graph-admin-access-token", secret: true, usage: "admin system-user token for the POST (defaults to the access token)",
		set: func(c *Config, v string) error { c.AdminAccessToken.Value = v; return nil }},
	{env: "GRAPH_ADMIN_ACCESS_TOKEN_FILE", flag: "graph-admin-access-token-file", usage: "file holding GRAPH_ADMIN_ACCESS_TOKEN",
		set: func(c *Config, v string) error { c.AdminAccessToken.File = v; return checkFile(v) }},
	{env: "GRAPH_APP_SECRET", flag: "graph-app-secret", secret: true, usage: "app secret; enables appsecret_proof",
		set: func(c *Config, v string) error { c.AppSecret.Value = v; return nil }},
	{env: "GRAPH_APP_SECRET_FILE", flag: "graph-app-secret-file", usage: "file holding GRAPH_APP_SECRET",
		set: func(c *Config, v string) error { c.AppSecret.File = v; return checkFile(v) }},
	{env: "GRAPH_TIMEOUT", flag: "graph-timeout", def: durationText(graph.DefaultTimeout), usage: "timeout of one Graph call",
		set: func(c *Config, v string) (err error) {
			c.GraphTimeout, err = parseDuration(v, time.Millisecond)
			return err
		}},
	{env: "BUSINESS_ID", flag: "business-id", usage: "the BSP's business portfolio id (required)",
		set: func(c *Config, v string) error { c.BusinessID = v; return checkGraphID(v) }},
	{env: "SYSTEM_USER_ID", flag: "system-user-id", usage: "id of the system user to assign (this or SYSTEM_USER_NAME)",
		set: func(c *Config, v string) error { c.SystemUserID = v; return checkGraphID(v) }},
	{env: "SYSTEM_USER_NAME", flag: "system-user-name", usage: "name of the system user to assign, looked up once",
		set: func(c *Config, v string) error { c.SystemUserName = v; return nil }},
	{env: "ASSIGN_TASKS", flag: "assign-tasks", def: strings.Join(assignerDefaults.Tasks, ","), usage: "comma list of tasks: " + strings.Join(events.Tasks, ", "),
		set: func(c *Config, v string) (err error) { c.AssignTasks, err = events.ParseTasks(v); return err }},
	{env: "HTTP_ADDR", flag: "http-addr", def: health.DefaultAddr, emptyAllowed: true, usage: "address of /healthz, /readyz, /metrics; empty disables",
		set: func(c *Config, v string) error { c.HTTPAddr = v; return nil }},
	{env: "LOG_LEVEL", flag: "log-level", def: strings.ToLower(logging.DefaultLevel.String()), usage: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			if c.LogLevel.UnmarshalText([]byte(v)) != nil {
				return errors.New("must be debug, info, warn or error")
			}
			return nil
		}},
	{env: "LOG_FORMAT", flag: "log-format", def: logging.DefaultFormat, usage: "auto (tint on a terminal, JSON otherwise), json or text",
		set: func(c *Config, v string) error { c.LogFormat = v; return checkOneOf(v, "auto", "json", "text") }},
}

// LookupEnv reads one environment variable; os.LookupEnv is one. It tells a
// variable set to "" (HTTP_ADDR= disables the endpoints) from an unset one.
type LookupEnv func(string) (string, bool)

// MapEnv is a LookupEnv over a map, for tests and programmatic configs.
func MapEnv(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// Load reads the settings from args (flags of `worker run`) and the
// environment. A flag wins over its variable, a variable over the default;
// a variable set to "" counts as unset except where "" means something
// (HTTP_ADDR). It returns flag.ErrHelp when -h/--help was asked for, after
// printing the help to usage.
func Load(args []string, lookup LookupEnv, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("worker run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := make(map[string]*string, len(settings))
	for _, s := range settings {
		flags[s.flag] = fs.String(s.flag, "", "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintHelp(usage)
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var c Config
	var errs []error
	bad := map[string]bool{} // variables whose value is malformed
	for _, s := range settings {
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
		if err := s.set(&c, v); err != nil {
			msg := err.Error()
			if !s.secret {
				msg = fmt.Sprintf("%s (got %q)", msg, v)
			}
			e := &Error{Var: s.env, Msg: msg}
			if given[s.flag] {
				e.Flag = "--" + s.flag
			}
			errs = append(errs, e)
			bad[s.env] = true
		}
	}
	errs = append(errs, c.validate(bad)...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// validate checks what spans several settings; a check that reads a
// malformed one (bad) is left out, as its error says it all.
func (c *Config) validate(bad map[string]bool) []error {
	var errs []error
	add := func(v, msg string) { errs = append(errs, &Error{Var: v, Msg: msg}) }
	switch {
	case c.AccessToken.Value != "" && c.AccessToken.File != "":
		add("GRAPH_ACCESS_TOKEN", "set GRAPH_ACCESS_TOKEN or GRAPH_ACCESS_TOKEN_FILE, not both")
	case !c.AccessToken.IsSet():
		add("GRAPH_ACCESS_TOKEN", "required (or GRAPH_ACCESS_TOKEN_FILE)")
	}
	if c.AdminAccessToken.Value != "" && c.AdminAccessToken.File != "" {
		add("GRAPH_ADMIN_ACCESS_TOKEN", "set GRAPH_ADMIN_ACCESS_TOKEN or GRAPH_ADMIN_ACCESS_TOKEN_FILE, not both")
	}
	if c.AppSecret.Value != "" && c.AppSecret.File != "" {
		add("GRAPH_APP_SECRET", "set GRAPH_APP_SECRET or GRAPH_APP_SECRET_FILE, not both")
	}
	if c.BusinessID == "" {
		add("BUSINESS_ID", "required")
	}
	switch {
	case c.SystemUserID == "" && c.SystemUserName == "":
		add("SYSTEM_USER_ID", "required (or SYSTEM_USER_NAME)")
	case c.SystemUserID != "" && c.SystemUserName != "":
		add("SYSTEM_USER_ID", "set SYSTEM_USER_ID or SYSTEM_USER_NAME, not both")
	}
	if c.RetryInitial > c.RetryMax && !bad["WORKER_RETRY_INITIAL"] && !bad["WORKER_RETRY_MAX"] {
		add("WORKER_RETRY_INITIAL", fmt.Sprintf("%s is longer than WORKER_RETRY_MAX (%s)", c.RetryInitial, c.RetryMax))
	}
	switch {
	case bad["WORKER_SUBJECT"] || bad["WORKER_SUCCEEDED_SUBJECT"] || bad["WORKER_FAILED_SUBJECT"]:
	case c.SucceededSubject == c.Subject:
		add("WORKER_SUCCEEDED_SUBJECT", "must differ from WORKER_SUBJECT")
	case c.FailedSubject == c.Subject:
		add("WORKER_FAILED_SUBJECT", "must differ from WORKER_SUBJECT")
	case c.FailedSubject == c.SucceededSubject:
		add("WORKER_FAILED_SUBJECT", "must differ from WORKER_SUCCEEDED_SUBJECT")
	}
	return errs
}

// PrintHelp writes the flags of `worker run` with their variables and
// defaults.
func PrintHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: worker run [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Consumes waba.shared events from NATS JetStream and assigns the BSP's system user")
	fmt.Fprintln(w, "to each shared WABA on Meta's Graph API. Every flag can also be set by its")
	fmt.Fprintln(w, "environment variable; a flag wins.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	for _, s := range settings {
		def := ""
		if s.def != "" {
			def = fmt.Sprintf(" (default %q)", s.def)
		}
		fmt.Fprintf(w, "  --%s\n        %s%s [$%s]\n", s.flag, s.usage, def, s.env)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Example:")
	fmt.Fprintln(w, "  BUSINESS_ID=100200300 SYSTEM_USER_NAME=waba-worker \\")
	fmt.Fprintln(w, "  GRAPH_ACCESS_TOKEN_FILE=/run/secrets/graph-token worker run --concurrency 32")
}

// Variables returns the environment variables with their defaults, in
// README's order (for docs and tests).
func Variables() [][2]string {
	out := make([][2]string, len(settings))
	for i, s := range settings {
		out[i] = [2]string{s.env, s.def}
	}
	return out
}

// durationText writes a default duration as README does: in whole hours,
// else whole minutes from 2m up, else whole seconds, else milliseconds
// (60s, not 1m0s).
func durationText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d >= 2*time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// ParseSweepInterval reads a SWEEP_INTERVAL: "0" disables the sweep (0),
// else a duration of at least 1s. `worker dev` reads it too, to respect the
// variable with its own default.
func ParseSweepInterval(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "0" {
		return 0, nil
	}
	return parseDuration(v, time.Second)
}

func parseDuration(v string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("must be a duration such as 500ms, 30s or 2m")
	}
	if d < min {
		return 0, fmt.Errorf("must be at least %s", min)
	}
	return d, nil
}

func checkNATSURLs(v string) error {
	for _, u := range strings.Split(v, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" {
			return errors.New("must be comma-separated URLs such as nats://host:4222")
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("scheme %q is not nats, tls, ws or wss", p.Scheme)
		}
	}
	return nil
}

func checkHTTPURL(v string) error {
	p, err := url.Parse(v)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" {
		return errors.New("must be an http(s) URL without a query")
	}
	return nil
}

func checkVersion(v string) error {
	if !versionRE.MatchString(v) {
		return errors.New("must look like v25.0")
	}
	return nil
}

func checkGraphID(v string) error {
	if !events.IsGraphID(v) {
		return errors.New("must be 1-32 digits")
	}
	return nil
}

func checkName(v string) error {
	if !nameRE.MatchString(v) {
		return errors.New("must be 1-64 letters, digits, - or _")
	}
	return nil
}

func checkSubject(v string) error {
	if !subjectRE.MatchString(v) {
		return errors.New("must be a NATS subject without wildcards")
	}
	return nil
}

func checkOneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read the file: %v", errors.Unwrap(err))
	case st.IsDir():
		return errors.New("is a directory, not a file")
	}
	return nil
}
