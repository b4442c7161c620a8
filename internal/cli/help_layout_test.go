package cli_test

import (
	"regexp"
	"strings"
	"testing"
)

// Every command's help writes a flag's default and its variable in one
// order: `(default "...") [$VAR]`, as `worker run --help` does.
func TestHelpLayoutIsTheSameEverywhere(t *testing.T) {
	t.Parallel()
	envFirst := regexp.MustCompile(`\[\$[A-Z_]+\] \(default`)
	for _, cmd := range []string{"run", "dev", "emit", "replay", "status", "graph-emulator", "healthcheck"} {
		r := runCLI(t.Context(), nil, cmd, "--help")
		if l := envFirst.FindString(r.stdout); l != "" {
			t.Errorf("%s --help puts the variable before the default (%q):\n%s", cmd, l, r.stdout)
		}
		if cmd == "emit" && !strings.Contains(r.stdout, `(default "nats://127.0.0.1:4222") [$NATS_URL]`) {
			t.Errorf("emit --help:\n%s", r.stdout)
		}
	}
}
