package cli

import (
	"cmp"
	"context"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/logging"
	"github.com/wabaworker/waba-worker/internal/replay"
)

func replayHelp() help {
	return help{
		usage: "worker replay [flags]",
		about: []string{
			"Finds failed events in the stream and republishes the input each one carries, unchanged,",
			"to the input subject with Nats-Msg-Id <event_id>.replay.<failed-seq> and a Replay-Of",
			"header. It skips an event whose WABA has succeeded since, one replayed before (found by",
			"its Replay-Of header, however long ago), and an earlier failure of an event that failed",
			"again later. Every kind is replayed, invalid_event included (an input that was not JSON",
			"goes back byte for byte; --kind narrows). It prints a line per matching event, and one per",
			"message on the failed subject it cannot read (counted, never replayed) and a summary; on",
			"a terminal, a progress bar while it scans.",
		},
		env: natsEnvHelp,
		example: []string{
			"worker replay --since 12h --kind permanent --graph-code 200 --dry-run",
			"worker replay --since 2026-11-24T00:00:00Z --until 2026-11-24T06:00:00Z --waba-id 102290129340398",
		},
	}
}

func runReplay(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	getenv := getter(env)
	fs := newFlagSet("worker replay")
	var (
		since, until, kind, code string
		wabaIDs                  stringList
		limit                    int
		dryRun                   bool
		nf                       natsFlags
	)
	fs.StringVar(&since, "since", "", "failed events from this `time`: a duration back from now (90m, 24h, 7d) or RFC 3339 (default: the stream's start)")
	fs.StringVar(&until, "until", "", "failed events up to this `time`, as --since (default: now)")
	fs.Var(&wabaIDs, "waba-id", "only this WABA `id`; repeat (or comma-separate) for several")
	fs.StringVar(&kind, "kind", "", "only this error.`kind`: "+strings.Join(kinds, ", "))
	fs.StringVar(&code, "graph-code", "", "only this Graph error `code` (e.g. 200)")
	fs.IntVar(&limit, "limit", 0, "replay at most `n` events (0: no limit)")
	fs.BoolVar(&dryRun, "dry-run", false, "list what would be replayed, publish nothing")
	nf.register(fs, getenv)
	if err := parse(fs, replayHelp(), args, stdout); err != nil {
		return err
	}

	now := time.Now()
	var f replay.Filter
	var err error
	if since != "" {
		if f.Since, err = replay.ParseTime(since, now); err != nil {
			return usageError("--since %q: %v", since, err)
		}
	}
	if until != "" {
		if f.Until, err = replay.ParseTime(until, now); err != nil {
			return usageError("--until %q: %v", until, err)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return usageError("--until (%s) is before --since (%s)", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	for _, id := range wabaIDs {
		if !events.IsGraphID(id) {
			return usageError("--waba-id %q: must be 1-32 digits", id)
		}
	}
	f.WABAIDs = wabaIDs
	if kind != "" && !slices.Contains(kinds, kind) {
		return usageError("--kind %q: want one of %s", kind, strings.Join(kinds, ", "))
	}
	f.Kind = kind
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n < 0 {
			return usageError("--graph-code %q: want a Graph error code such as 100 or 200", code)
		}
		f.GraphCode = &n
	}
	if limit < 0 {
		return usageError("--limit must not be negative")
	}
	f.Limit = limit

	nc, js, topo, err := nf.connect("waba-worker replay")
	if err != nil {
		return err
	}
	defer nc.Close()
	opts := replay.Options{Topology: topo, Filter: f, DryRun: dryRun,
		Report: func(it replay.Item) { fmt.Fprintln(stdout, describeItem(it)) }}
	var bar *progress
	if logging.IsTerminal(stderr) {
		bar = newProgress(stderr, time.Now)
		opts.Progress = bar.update
	}
	sum, err := replay.Run(ctx, js, opts)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, summarize(sum, dryRun))
	return nil
}

var kinds = []string{events.KindInvalidEvent, events.KindPermanent, events.KindRetriesExhausted, events.KindVerificationFailed}

// describeItem is the line printed for one matching failed event.
func describeItem(it replay.Item) string {
	if it.Action == replay.Unreadable {
		return fmt.Sprintf("%-12s seq %d  %s  (%s)", it.Action, it.Seq, it.Time.UTC().Format(time.RFC3339), it.Reason)
	}
	f := it.Failed
	head := fmt.Sprintf("%-12s seq %d  event %s  WABA %s  %s  %s", it.Action, it.Seq, f.EventID, cmp.Or(f.WabaID, "(none)"),
		it.Time.UTC().Format(time.RFC3339), wabatype.Describe(f.Error))
	switch {
	case it.Action == replay.Replayed:
		return head + fmt.Sprintf("  -> seq %d", it.ReplaySeq)
	case it.Reason == replay.ReasonAlreadyReplayed && it.ReplaySeq != 0:
		return head + fmt.Sprintf("  (%s: seq %d)", it.Reason, it.ReplaySeq)
	case it.Reason == replay.ReasonSucceededSince:
		return head + fmt.Sprintf("  (%s: seq %d)", it.Reason, it.BySeq)
	case it.Reason != "":
		return head + "  (" + it.Reason + ")"
	}
	return head
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// summarize is the closing line.
func summarize(s replay.Summary, dryRun bool) string {
	var b strings.Builder
	if s.Scanned == 0 {
		b.WriteString("scanned nothing (no message in the window)")
	} else {
		fmt.Fprintf(&b, "scanned %d messages (seq %d-%d)", s.Scanned, s.FirstSeq, s.LastSeq)
	}
	verb := "replayed"
	if dryRun {
		verb = "would replay (dry run)"
	}
	fmt.Fprintf(&b, "; %d failed %s", s.Failed, plural(s.Failed, "event", "events"))
	if s.Unreadable > 0 {
		fmt.Fprintf(&b, " (%d unreadable, listed above)", s.Unreadable)
	}
	fmt.Fprintf(&b, ", %d matched: %d %s, %d skipped", s.Matched, s.Replayed, verb, s.SkippedTotal())
	if len(s.Skipped) > 0 {
		reasons := make([]string, 0, len(s.Skipped))
		for r, n := range s.Skipped {
			reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(reasons)
		b.WriteString(" (" + strings.Join(reasons, "; ") + ")")
	}
	return b.String()
}

// progress draws a bar on a terminal while replay scans: after the first
// half second (a short scan shows none), at most ten times a second.
type progress struct {
	w           io.Writer
	now         func() time.Time
	start, last time.Time
	drawn       bool
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, now: now, start: now()}
}

func (p *progress) update(scanned, total uint64) {
	t := p.now()
	if t.Sub(p.start) < 500*time.Millisecond || (t.Sub(p.last) < 100*time.Millisecond && scanned < total) {
		return
	}
	p.last, p.drawn = t, true
	fmt.Fprintf(p.w, "\r\033[Kscanning %s", bar(scanned, total, 30))
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// bar renders "[#####.....]  50%  500/1000".
func bar(n, total uint64, width int) string {
	if total == 0 {
		total = 1
	}
	n = min(n, total)
	full := int(n * uint64(width) / total)
	return fmt.Sprintf("[%s%s] %3d%%  %d/%d", strings.Repeat("#", full), strings.Repeat(".", width-full),
		n*100/total, n, total)
}
