package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Main is the command: `bench [flags]`, or `bench child ...` for a row's
// process. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "child" {
		return child(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	o.Command = strings.Join(append([]string{"bench"}, args...), " ")
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if err := Run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// Run runs every row of o, printing each as it completes, then the notes,
// where the time went, and the targets. It returns an error only when the
// run could not go on (ctx ended, the Markdown file cannot be written); a
// failed row is printed and the run goes on.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	logf := func(format string, args ...any) {
		if o.Verbose {
			fmt.Fprintf(stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
		}
	}
	began := time.Now()
	var head bytes.Buffer
	fmt.Fprintln(&head, machine())
	if o.Command != "" {
		fmt.Fprintf(&head, "command: %s\n", o.Command)
	}
	fmt.Fprintf(&head, "load average at start: %s\n", loadAvg())
	fmt.Fprintf(stdout, "%s\n", head.Bytes())

	var md bytes.Buffer
	text, mdt := newTable(stdout, false), newTable(&md, true)
	scs := o.scenarios()
	if len(scs) > 0 {
		text.header()
		mdt.header()
	}
	var results []result
	for i, sc := range scs {
		label := fmt.Sprintf("%02d-%s-%s-c%d", i+1, kindName(sc.kind), latencyName(sc.latency), sc.inFlight)
		fmt.Fprintf(stderr, "bench: row %d of %d: %s\n", i+1, len(scs), label)
		r := runRow(ctx, o, sc, label, logf)
		r.seq = i
		if ctx.Err() != nil {
			return ctx.Err()
		}
		results = append(results, r)
		text.row(r, results)
		mdt.row(r, results)
		runtime.GC()
	}
	var ceilings []graphCeiling
	if o.GraphCeiling {
		for _, sc := range graphCeilingRows(scs) {
			fmt.Fprintf(stderr, "bench: Graph-only ceiling at %s, %d in flight\n", latencyName(sc.latency), sc.inFlight)
			ceilings = append(ceilings, measureGraphCeiling(ctx, sc.latency, sc.inFlight, sc.events))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	var sweeps []sweepResult
	if len(o.sweepRows()) > 0 {
		fmt.Fprintln(stderr, "bench: the discovery sweep rows")
		sweeps = runSweeps(ctx, o, logf)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		printSweeps(stdout, false, sweeps)
		printSweeps(&md, true, sweeps)
	}
	if o.Gateway && (len(o.Only) == 0 || slices.Contains(o.Only, "gateway")) {
		fmt.Fprintln(stderr, "bench: the webhook gateway rows")
		gw := runGateway(ctx, o, logf)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		printGateway(stdout, false, gw)
		printGateway(&md, true, gw)
	}

	var tail bytes.Buffer
	if notes(&tail, results) {
		fmt.Fprintln(&tail)
	}
	printBreakdowns(&tail, results)
	fmt.Fprintln(&tail)
	if printGraphCeilings(&tail, ceilings, results) {
		fmt.Fprintln(&tail)
	}
	if printMedians(&tail, results) {
		fmt.Fprintln(&tail)
	}
	targets(&tail, o, results, sweeps, ceilings)
	fmt.Fprintf(&tail, "\nload average at end: %s; the run took %s\n", loadAvg(), time.Since(began).Round(time.Second))
	fmt.Fprintf(stdout, "\n%s", tail.Bytes())

	if o.MarkdownFile != "" {
		var doc bytes.Buffer
		fmt.Fprintf(&doc, "```\n%s```\n\n%s\n```\n%s```\n", head.Bytes(), md.Bytes(), tail.Bytes())
		if err := os.WriteFile(o.MarkdownFile, doc.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// notes explains the rows that failed or had errors, and what a stop gave
// back. It reports whether it wrote anything.
func notes(w io.Writer, rs []result) (wrote bool) {
	for _, r := range rs {
		name := fmt.Sprintf("row %s, %s, %d in flight", r.name(), latencyName(r.latency), r.inFlight)
		switch {
		case r.err != nil:
			wrote = true
			fmt.Fprintf(w, "%s failed: %v\n", name, r.err)
		case r.errors() > 0:
			wrote = true
			fmt.Fprintf(w, "%s: %d errors: %d failed results, %d naks, %d terms, %d redeliveries acked, %d duplicate and %d stray results, %d missing\n",
				name, r.errors(), r.failed, r.naks, r.terms, r.redelivered, r.duplicates, r.strays, max(r.work-r.results, 0))
		}
		if r.err == nil && r.stopNaks > 0 {
			wrote = true
			fmt.Fprintf(w, "%s: the stop gave back %d events (nak after the last measured result; not errors)\n", name, r.stopNaks)
		}
	}
	return wrote
}

func kindName(k kind) string {
	switch k {
	case kindCeiling:
		return "ceiling"
	case kindMemory:
		return "memory"
	case kindLease:
		return "lease"
	case kindFloor:
		return "floor"
	case kindScale:
		return "scale"
	case kindReplicas:
		return "replicas"
	}
	return "worker"
}

// machine describes where the run happens.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("waba-worker bench, %s: %s %s/%s, %d CPUs (%s), GOMAXPROCS %d",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), model, runtime.GOMAXPROCS(0))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}
