package cli_test

import (
	"strings"
	"testing"
)

// `worker run` with nothing configured names every missing setting at once,
// a line each, and a flag's mistake names the flag.
func TestRunReportsEveryConfigurationProblemAtOnce(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), map[string]string{"WORKER_ACK_WAIT": "soon"}, "run", "--concurrency", "0")
	want := []string{
		`worker: configuration: --concurrency: must be a whole number from 1 to 4096 (got "0")`,
		`worker: configuration: WORKER_ACK_WAIT: must be a duration such as 500ms, 30s or 2m (got "soon")`,
		`worker: configuration: GRAPH_ACCESS_TOKEN: required (or GRAPH_ACCESS_TOKEN_FILE)`,
		`worker: configuration: BUSINESS_ID: required`,
		`worker: configuration: SYSTEM_USER_ID: required (or SYSTEM_USER_NAME)`,
	}
	if got := strings.TrimSpace(r.stderr); got != strings.Join(want, "\n") || r.code != 2 {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and:\n%s", r.code, got, strings.Join(want, "\n"))
	}
}
