package config_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fmt"
	"github.com/nats-io/nats.go"
	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/handlers"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/worker"
)

func env(kv map[string]string) config.LookupEnv { return config.MapEnv(kv) }

func minimal() map[string]string {
	return map[string]string{
		"GRAPH_ACCESS_TOKEN": "tok-secret-value",
		"BUSINESS_ID":        "100200300",
		"SYSTEM_USER_ID":     "1972555232742222",
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(minimal()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "nats://127.0.0.1:4222" || c.Stream != "WABA" || c.Consumer != "waba-assigner" ||
		c.Subject != "waba.shared" || c.SucceededSubject != "waba.assignment.succeeded" || c.FailedSubject != "waba.assignment.failed" ||
		!c.Provision || c.Concurrency != 16 || c.MaxDeliver != 10 || c.AckWait != 60*time.Second ||
		c.RetryInitial != 500*time.Millisecond || c.RetryMax != 30*time.Second || c.RetryMaxElapsed != 2*time.Minute ||
		c.BreakerOpenTimeout != 30*time.Second || c.ShutdownTimeout != 30*time.Second ||
		c.GraphBaseURL != "https://graph.facebook.com" || c.GraphAPIVersion != "v25.0" || c.GraphTimeout != 10*time.Second ||
		strings.Join(c.AssignTasks, ",") != "MANAGE" || c.HTTPAddr != ":8080" || c.LogFormat != "auto" {
		t.Errorf("defaults: %+v", c)
	}
	if c.AdminAccessToken.IsSet() || c.AppSecret.IsSet() {
		t.Errorf("admin token and app secret must default to unset")
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	t.Parallel()
	e := minimal()
	e["WORKER_CONCURRENCY"] = "4"
	c, err := config.Load([]string{"--concurrency", "32", "--assign-tasks=DEVELOP,MANAGE"}, env(e), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 32 || strings.Join(c.AssignTasks, ",") != "DEVELOP,MANAGE" {
		t.Errorf("got concurrency %d, tasks %v", c.Concurrency, c.AssignTasks)
	}
}

// Every bad setting stops the start with an error naming the variable, and
// a secret's value is never echoed.
func TestBadSettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct{ name, value string }{
		{"NATS_URL", "http://x:4222"},
		{"NATS_URL", "::"},
		{"NATS_CREDS", filepath.Join(dir, "missing.creds")},
		{"WORKER_STREAM", "has space"},
		{"WORKER_CONSUMER", "a.b"},
		{"WORKER_SUBJECT", "waba.*"},
		{"WORKER_SUCCEEDED_SUBJECT", "waba.shared"},
		{"WORKER_PROVISION", "maybe"},
		{"WORKER_CONCURRENCY", "0"},
		{"WORKER_CONCURRENCY", "lots"},
		{"WORKER_MAX_DELIVER", "-1"},
		{"WORKER_ACK_WAIT", "10ms"},
		{"WORKER_RETRY_INITIAL", "1h"},
		{"WORKER_RETRY_MAX", "x"},
		{"WORKER_RETRY_MAX_ELAPSED", "-5s"},
		{"WORKER_BREAKER_OPEN_TIMEOUT", "0"},
		{"WORKER_SHUTDOWN_TIMEOUT", "later"},
		{"GRAPH_BASE_URL", "graph.facebook.com"},
		{"GRAPH_BASE_URL", "https://graph.facebook.com?access_token=x"},
		{"GRAPH_API_VERSION", "19.0"},
		{"GRAPH_ACCESS_TOKEN", ""},
		{"GRAPH_ACCESS_TOKEN_FILE", filepath.Join(dir, "missing")},
		{"GRAPH_ADMIN_ACCESS_TOKEN_FILE", dir},
		{"GRAPH_APP_SECRET_FILE", filepath.Join(dir, "nope")},
		{"GRAPH_TIMEOUT", "forever"},
		{"BUSINESS_ID", ""},
		{"BUSINESS_ID", "acme"},
		{"SYSTEM_USER_ID", "me"},
		{"ASSIGN_TASKS", "MANAGE,OWN"},
		{"ASSIGN_TASKS", ","},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
	}
	for _, c := range cases {
		e := minimal()
		e[c.name] = c.value
		_, err := config.Load(nil, env(e), nil)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != c.name {
			t.Errorf("%s=%q: got %v, want an error naming %s", c.name, c.value, err, c.name)
			continue
		}
		for _, l := range strings.Split(err.Error(), "\n") {
			if !regexp.MustCompile(`^[A-Z_]+: `).MatchString(l) {
				t.Errorf("%s: a line that names no variable: %q", c.name, l)
			}
		}
	}
}

func TestSecretsAreNeverEchoed(t *testing.T) {
	t.Parallel()
	e := minimal()
	e["GRAPH_ADMIN_ACCESS_TOKEN"] = "admin-secret-1"
	e["GRAPH_ADMIN_ACCESS_TOKEN_FILE"] = "/etc/hosts"
	_, err := config.Load(nil, env(e), nil)
	if err == nil || strings.Contains(err.Error(), "admin-secret-1") {
		t.Fatalf("got %v", err)
	}
	s := config.Secret{Value: "abc"}
	if s.String() != "[redacted]" {
		t.Errorf("Secret.String() = %q", s.String())
	}
}

func TestOneOfSystemUserIDAndName(t *testing.T) {
	t.Parallel()
	e := minimal()
	delete(e, "SYSTEM_USER_ID")
	if _, err := config.Load(nil, env(e), nil); err == nil || !strings.Contains(err.Error(), "SYSTEM_USER_ID") {
		t.Errorf("neither: %v", err)
	}
	e["SYSTEM_USER_NAME"] = "waba-worker"
	if c, err := config.Load(nil, env(e), nil); err != nil || c.SystemUserName != "waba-worker" {
		t.Errorf("by name: %v", err)
	}
	e["SYSTEM_USER_ID"] = "1"
	if _, err := config.Load(nil, env(e), nil); err == nil {
		t.Errorf("both: accepted")
	}
}

func TestTokenFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := minimal()
	delete(e, "GRAPH_ACCESS_TOKEN")
	e["GRAPH_ACCESS_TOKEN_FILE"] = f
	c, err := config.Load(nil, env(e), nil)
	if err != nil || c.AccessToken.File != f || c.AccessToken.Value != "" {
		t.Fatalf("got %+v, %v", c.AccessToken, err)
	}
	e["GRAPH_ACCESS_TOKEN"] = "also"
	if _, err := config.Load(nil, env(e), nil); err == nil {
		t.Errorf("value and file both set: accepted")
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := config.Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, v := range config.Variables() {
		if !strings.Contains(out.String(), "$"+v[0]) {
			t.Errorf("help lacks %s", v[0])
		}
	}
	if _, err := config.Load([]string{"--no-such-flag"}, env(minimal()), nil); err == nil {
		t.Errorf("unknown flag accepted")
	}
}

// The README's configuration table names every variable with its default.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \\|\\s*([^|]*?)\\s*\\|")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		for _, name := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(m[1], -1) {
			rows[name[1]] = strings.TrimSpace(m[2])
		}
	}
	for _, v := range config.Variables() {
		got, ok := rows[v[0]]
		if !ok {
			t.Errorf("README's table lacks %s", v[0])
			continue
		}
		if v[1] != "" && got != "`"+v[1]+"`" {
			t.Errorf("README says %s defaults to %s, the code says %q", v[0], got, v[1])
		}
	}
}

// An empty HTTP_ADDR disables the endpoints; an unset one means :8080.
func TestEmptyHTTPAddrDisables(t *testing.T) {
	t.Parallel()
	e := minimal()
	e["HTTP_ADDR"] = ""
	c, err := config.Load(nil, env(e), nil)
	if err != nil || c.HTTPAddr != "" {
		t.Fatalf("HTTP_ADDR=\"\": got %q, %v", c.HTTPAddr, err)
	}
	e["WORKER_CONCURRENCY"] = ""
	if c, err := config.Load(nil, env(e), nil); err != nil || c.Concurrency != 16 {
		t.Errorf("an empty WORKER_CONCURRENCY must count as unset: %d, %v", c.Concurrency, err)
	}
}

// Each default is written once, in the package that owns the setting: what
// Load gives with nothing set is those packages' defaults, and `worker run
// --help` shows each default README's table shows (TestREADMEConfigurationTable).
func TestDefaultsComeFromTheirOwners(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil, env(minimal()), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, h := worker.DefaultConfig(), handlers.DefaultConfig()
	got := []any{c.NATSURL, c.Stream, c.Consumer, c.Subject, c.SucceededSubject, c.FailedSubject,
		c.Provision, c.Concurrency, c.MaxDeliver, c.AckWait, c.ShutdownTimeout,
		c.RetryInitial, c.RetryMax, c.RetryMaxElapsed, strings.Join(c.AssignTasks, ","),
		c.BreakerOpenTimeout, c.GraphBaseURL, c.GraphAPIVersion, c.GraphTimeout,
		c.HTTPAddr, c.LogLevel, c.LogFormat}
	want := []any{nats.DefaultURL, w.Stream, w.Consumer, w.Subject, w.SucceededSubject, w.FailedSubject,
		!w.BindOnly, w.Concurrency, w.MaxDeliver, w.AckWait, w.ShutdownTimeout,
		h.RetryInitial, h.RetryMax, h.RetryMaxElapsed, strings.Join(h.Tasks, ","),
		breaker.DefaultOpenTimeout, graph.DefaultBaseURL, graph.DefaultVersion, graph.DefaultTimeout,
		health.DefaultAddr, logging.DefaultLevel, logging.DefaultFormat}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("default %d: config says %v, its owner %v", i, got[i], want[i])
		}
	}

	var help bytes.Buffer
	if _, err := config.Load([]string{"--help"}, env(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, v := range config.Variables() {
		if v[1] == "" {
			continue
		}
		if want := fmt.Sprintf("(default %q) [$%s]", v[1], v[0]); !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

// Every missing or malformed setting is reported at once, one line each,
// so that one run tells the whole story.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load(nil, env(map[string]string{"WORKER_CONCURRENCY": "lots", "LOG_FORMAT": "xml"}), nil)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`WORKER_CONCURRENCY: must be a whole number from 1 to 4096 (got "lots")`,
		`LOG_FORMAT: `,
		`GRAPH_ACCESS_TOKEN: required (or GRAPH_ACCESS_TOKEN_FILE)`,
		`BUSINESS_ID: required`,
		`SYSTEM_USER_ID: required (or SYSTEM_USER_NAME)`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want %q...", i+1, lines[i], w)
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "WORKER_CONCURRENCY" {
		t.Errorf("errors.As finds %v, want the first problem", ce)
	}
}

// A flag's error names the flag the user typed; the variable's, the variable.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	e := minimal()
	e["WORKER_MAX_DELIVER"] = "0"
	_, err := config.Load([]string{"--concurrency", "0"}, env(e), nil)
	got := fmt.Sprint(err)
	want := "--concurrency: must be a whole number from 1 to 4096 (got \"0\")\nWORKER_MAX_DELIVER: must be a whole number from 1 to 1000 (got \"0\")"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "WORKER_CONCURRENCY" || ce.Flag != "--concurrency" {
		t.Errorf("got %+v", ce)
	}
}

// SWEEP_INTERVAL: "0" disables, else a duration of at least 1s; `worker dev`
// parses the variable with the same function.
func TestParseSweepInterval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "0", want: 0},
		{in: " 0 ", want: 0},
		{in: "1m", want: time.Minute},
		{in: "1s", want: time.Second},
		{in: "500ms", err: "must be at least 1s"},
		{in: "0s", err: "must be at least 1s"},
		{in: "hourly", err: "must be a duration"},
	} {
		got, err := config.ParseSweepInterval(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSweepInterval(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSweepInterval(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	e := minimal()
	e["SWEEP_INTERVAL"] = "0"
	cfg, err := config.Load(nil, env(e), nil)
	if err != nil || cfg.SweepInterval != 0 {
		t.Errorf("SWEEP_INTERVAL=0: %v, %v", cfg.SweepInterval, err)
	}
}
