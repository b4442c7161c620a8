package cli_test

import (
	"context"
	"errors"
	"flag"
	"runtime"
	"strings"
	"testing"
)

// Every command's --help shows its usage, every flag with its default, and
// an example, on stdout, with exit status 0.
func TestHelpShowsFlagsDefaultsAndExample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd  string
		want []string
	}{
		{"dev", []string{"--demo", "--store", "--nats-port", `(default "4222")`, "--graph-addr", `(default "127.0.0.1:8090")`,
			"--http-addr", `(default "127.0.0.1:8080")`, "worker dev --demo 5"}},
		{"emit", []string{"--waba-id", "--business-id", "--tasks", "--id", "--source", `(default "worker-emit")`, "--wait",
			"--nats-url", `(default "nats://127.0.0.1:4222")`, "--nats-creds", "--stream", `(default "WABA")`,
			"Exit status", "worker emit --waba-id"}},
		{"replay", []string{"--since", "--until", "--waba-id", "--kind", "permanent", "--graph-code", "--limit", "--dry-run",
			"--nats-url", "Replay-Of", "worker replay --since"}},
		{"graph-emulator", []string{"--addr", `(default ":8090")`, "--seed", "--app-secret", "--print-seed",
			`"system_users"`, `"wabas"`, `"assigned"`, "worker graph-emulator --addr"}},
		{"version", []string{"worker version"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			t.Parallel()
			for _, h := range []string{"--help", "-h"} {
				r := runCLI(t.Context(), nil, tt.cmd, h)
				if !errors.Is(r.err, flag.ErrHelp) || r.code != 0 {
					t.Fatalf("%s %s: err %v, exit %d; want flag.ErrHelp, 0", tt.cmd, h, r.err, r.code)
				}
				for _, w := range append([]string{"Usage: worker " + tt.cmd, "Example:"}, tt.want...) {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("%s %s lacks %q:\n%s", tt.cmd, h, w, r.stdout)
					}
				}
			}
		})
	}
}

func TestUsageListsTheCommands(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), nil, "help")
	for _, c := range []string{"run", "dev", "emit", "replay", "graph-emulator", "version"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("usage lacks command %s:\n%s", c, r.stdout)
		}
	}
	if r := runCLI(t.Context(), nil, "nope"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "nope"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A mistake on the command line is a clear message and exit status 2, before
// anything connects anywhere (NATS_URL points at nothing).
func TestBadFlagsExit2(t *testing.T) {
	t.Parallel()
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"emit"}, "--waba-id is required"},
		{[]string{"emit", "--waba-id", "12ab"}, `waba_id "12ab" is not 1-32 digits`},
		{[]string{"emit", "--waba-id", "1", "--tasks", "MANAGE,FLY"}, `--tasks: unknown task "FLY"`},
		{[]string{"emit", "--waba-id", "1", "--id", "has space"}, "id \"has space\" must be 1-128 printable"},
		{[]string{"emit", "--waba-id", "1", "--business-id", "x"}, `business_id "x" is not 1-32 digits`},
		{[]string{"emit", "--waba-id", "1", "--wait", "30"}, `invalid value "30" for flag -wait`},
		{[]string{"emit", "--waba-id", "1", "--wait", "-1s"}, "--wait must not be negative"},
		{[]string{"emit", "--waba-id", "1", "extra"}, `unexpected argument "extra"`},
		{[]string{"emit", "--nope"}, "flag provided but not defined: -nope (see 'worker emit --help')"},
		{[]string{"replay", "--since", "yesterday"}, `--since "yesterday": want a duration`},
		{[]string{"replay", "--until", "-5m"}, `--until "-5m": want a duration`},
		{[]string{"replay", "--since", "1h", "--until", "2h"}, "--until (" /* before --since */},
		{[]string{"replay", "--kind", "transient"}, `--kind "transient": want one of invalid_event, permanent, retries_exhausted, verification_failed`},
		{[]string{"replay", "--graph-code", "x"}, `--graph-code "x"`},
		{[]string{"replay", "--waba-id", "1,abc"}, `--waba-id "abc": must be 1-32 digits`},
		{[]string{"replay", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"dev", "--demo", "-1"}, "--demo must be from 0 to 10000"},
		{[]string{"dev", "--nats-port", "70000"}, "--nats-port must be from 0 to 65535"},
		{[]string{"graph-emulator", "--seed", "/nonexistent/seed.json"}, "--seed:"},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t.Context(), env, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (err %v)", r.code, r.err)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(context.Background(), nil, args...)
		if r.err != nil {
			t.Fatalf("%v: %v", args, r.err)
		}
		for _, w := range []string{"waba-worker ", "commit ", "built ", runtime.Version()} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: %q lacks %q", args, r.stdout, w)
			}
		}
	}
}
