// Command testsummary reads `go test -json` on stdin, prints what plain
// `go test` would (a line per package, the output of failed tests, build
// errors), and ends with one line saying how many tests passed, failed and
// skipped, and why the skipped ones skipped (the container scenarios without
// Docker, for one). It exits 1 when a test or a build failed. `make test`
// pipes its test runs through it.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Output     string
}

// skip is why tests skipped: a package and a reason.
type skip struct{ pkg, reason string }

// summarize copies the plain output of r's events to w, then the summary
// line; failed reports a failed test, package or build.
func summarize(r io.Reader, w io.Writer) (failed bool, err error) {
	var passed, failedN, skippedN int
	packages := map[string]bool{}
	output := map[string][]string{} // package + test -> its lines so far
	skips := map[skip]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text()) // not an event: go test's own words
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			failed = true
		case e.Test == "" && e.Action == "output":
			if e.Output != "PASS\n" { // -json runs tests verbosely: plain go test omits it
				fmt.Fprint(w, e.Output) // "ok  pkg 1.2s", "FAIL pkg", panics outside a test
			}
		case e.Test == "" && e.Action == "fail":
			failed = true
			packages[e.Package] = true
		case e.Test == "":
			packages[e.Package] = true
		case e.Action == "output":
			output[key] = append(output[key], e.Output)
		case e.Action == "pass":
			passed++
			delete(output, key)
		case e.Action == "fail":
			failedN++
			failed = true
			fmt.Fprint(w, strings.Join(output[key], ""))
			delete(output, key)
		case e.Action == "skip":
			skippedN++
			skips[skip{shortPkg(e.Package), reason(output[key])}]++
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	fmt.Fprintln(w, line(len(packages), passed, failedN, skippedN, skips))
	return failed, nil
}

// line is the closing summary.
func line(packages, passed, failed, skipped int, skips map[skip]int) string {
	noun := "packages"
	if packages == 1 {
		noun = "package"
	}
	s := fmt.Sprintf("tests: %d passed, %d failed, %d skipped in %d %s", passed, failed, skipped, packages, noun)
	if len(skips) == 0 {
		return s
	}
	keys := slices.SortedFunc(func(yield func(skip) bool) {
		for k := range skips {
			if !yield(k) {
				return
			}
		}
	}, func(a, b skip) int { return cmp.Or(cmp.Compare(a.pkg, b.pkg), cmp.Compare(a.reason, b.reason)) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d in %s (%s)", skips[k], k.pkg, k.reason))
	}
	return s + "; skipped: " + strings.Join(parts, ", ")
}

var location = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// reason is the skip message in a skipped test's output: its first line
// that is not go test's own, without the file:line prefix.
func reason(lines []string) string {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		t = location.ReplaceAllString(t, "")
		if len(t) > 320 {
			t = t[:317] + "..."
		}
		return t
	}
	return "no reason given"
}

// shortPkg drops the module path.
func shortPkg(p string) string {
	if i := strings.Index(p, "/internal/"); i >= 0 {
		return p[i+1:]
	}
	for _, d := range []string{"/test/", "/cmd/"} {
		if i := strings.Index(p, d); i >= 0 {
			return p[i+1:]
		}
	}
	return p
}
