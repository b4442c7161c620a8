package main

import (
	"strings"
	"testing"
)

func TestSummaryNamesWhatSkippedAndWhy(t *testing.T) {
	t.Parallel()
	const m = "github.com/wabaworker/waba-worker"
	in := strings.Join([]string{
		`{"Action":"start","Package":"` + m + `/internal/a"}`,
		`{"Action":"run","Package":"` + m + `/internal/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"` + m + `/internal/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}`,
		`{"Action":"pass","Package":"` + m + `/internal/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"` + m + `/internal/a","Output":"ok  \t` + m + `/internal/a\t0.1s\n"}`,
		`{"Action":"pass","Package":"` + m + `/internal/a"}`,
		`{"Action":"start","Package":"` + m + `/test/containers"}`,
		`{"Action":"output","Package":"` + m + `/test/containers","Test":"TestCompose","Output":"=== RUN   TestCompose\n"}`,
		`{"Action":"output","Package":"` + m + `/test/containers","Test":"TestCompose","Output":"    main_test.go:118: container test: skipped, no Docker engine answers\n"}`,
		`{"Action":"output","Package":"` + m + `/test/containers","Test":"TestCompose","Output":"--- SKIP: TestCompose (0.00s)\n"}`,
		`{"Action":"skip","Package":"` + m + `/test/containers","Test":"TestCompose"}`,
		`{"Action":"skip","Package":"` + m + `/test/containers","Test":"TestBroker"}`,
		`{"Action":"output","Package":"` + m + `/test/containers","Test":"TestBad","Output":"    x_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"` + m + `/test/containers","Test":"TestBad"}`,
		`{"Action":"fail","Package":"` + m + `/test/containers"}`,
	}, "\n")
	var out strings.Builder
	failed, err := summarize(strings.NewReader(in), &out)
	if err != nil || !failed {
		t.Fatalf("failed %v, err %v", failed, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := "tests: 1 passed, 1 failed, 2 skipped in 2 packages; skipped: 1 in test/containers (container test: skipped, no Docker engine answers), 1 in test/containers (no reason given)"
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("summary\n%s\nwant\n%s", last, want)
	}
	if !strings.Contains(out.String(), "x_test.go:9: boom") || strings.Contains(out.String(), "=== RUN   TestOK") {
		t.Errorf("plain output:\n%s", out.String())
	}
}
