package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/ledger"
)

func statusHelp() help {
	return help{
		usage: "worker status [flags]",
		about: []string{
			"Prints the WABA ledger (KV bucket waba_state): the last known state of every WABA the",
			"worker has seen, a line per WABA (state, held tasks, the event that wrote it, when),",
			"then the counts per state. With --json, one JSON object per line (the record as stored,",
			"schemas/waba_state.json), then {\"counts\":{...}}. Exit status: 0, 1 when NATS or the",
			"bucket cannot be read, 2 for a bad flag.",
		},
		env: append(slices.Clone(natsEnvHelp), "WORKER_STATE_BUCKET   default of --bucket"),
		example: []string{
			"worker status",
			"worker status --state failed --json",
			"worker status --waba-id 102290129340398",
		},
	}
}

func runStatus(ctx context.Context, args []string, env config.LookupEnv, stdout, _ io.Writer) error {
	getenv := getter(env)
	fs := newFlagSet("worker status")
	var (
		nf     natsFlags
		wabas  stringList
		state  string
		asJSON bool
		bucket string
	)
	fs.Var(&wabas, "waba-id", "only this WABA `id` (repeatable, or a comma list)")
	fs.StringVar(&state, "state", "", "only records in this `state`: assigned, failed or unshared")
	fs.BoolVar(&asJSON, "json", false, "one JSON object per line")
	fs.StringVar(&bucket, "bucket", cmp.Or(getenv("WORKER_STATE_BUCKET"), ledger.DefaultBucket), "the ledger's KV bucket `name` [$WORKER_STATE_BUCKET]")
	nf.register(fs, getenv)
	if err := parse(fs, statusHelp(), args, stdout); err != nil {
		return err
	}
	if state != "" && !slices.Contains(ledger.States, ledger.State(state)) {
		return usageError("--state must be assigned, failed or unshared (got %q)", state)
	}
	for _, w := range wabas {
		if !ledger.IsWABAID(w) {
			return usageError("--waba-id %q is not 1-32 digits", w)
		}
	}
	nc, js, _, err := nf.connect("waba-worker status")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("the ledger's KV bucket %s does not exist (a worker creates it at start when WORKER_PROVISION=true)", bucket)
	}
	if err != nil {
		return fmt.Errorf("ledger bucket %s: %w", bucket, err)
	}
	store := ledger.New(kv)

	counts := map[ledger.State]int{}
	show := func(r ledger.Record) error {
		if state != "" && string(r.State) != state {
			return nil
		}
		counts[r.State]++
		if asJSON {
			line, err := json.Marshal(r)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s\n", line)
			return err
		}
		_, err := fmt.Fprintln(stdout, statusLine(r))
		return err
	}
	if len(wabas) > 0 {
		for _, w := range wabas {
			r, ok, err := store.Get(ctx, w)
			if err != nil {
				return fmt.Errorf("read WABA %s: %w", w, err)
			}
			if !ok {
				if !asJSON {
					fmt.Fprintf(stdout, "%-20s unknown (no record: the worker has not seen this WABA)\n", w)
				}
				continue
			}
			if err := show(r); err != nil {
				return err
			}
		}
	} else if err := store.Each(ctx, show); err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	return printCounts(stdout, counts, asJSON)
}

// statusLine is one WABA's line: id, state, tasks, system user, event, time.
func statusLine(r ledger.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-9s", r.WABAID, r.State)
	if r.State == ledger.StateFailed {
		fmt.Fprintf(&b, " %s", r.ErrorKind)
	}
	if len(r.HeldTasks) > 0 {
		fmt.Fprintf(&b, " tasks=%s", strings.Join(r.HeldTasks, ","))
	}
	if r.SystemUserID != "" {
		fmt.Fprintf(&b, " system_user=%s", r.SystemUserID)
	}
	fmt.Fprintf(&b, " event=%s updated=%s", r.EventID, r.UpdatedAt.UTC().Format(time.RFC3339))
	return b.String()
}

func printCounts(w io.Writer, counts map[ledger.State]int, asJSON bool) error {
	if asJSON {
		out := map[string]int{}
		for _, s := range ledger.States {
			out[string(s)] = counts[s]
		}
		line, err := json.Marshal(map[string]any{"counts": out})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", line)
		return err
	}
	total := 0
	parts := make([]string, 0, len(ledger.States))
	for _, s := range ledger.States {
		total += counts[s]
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	_, err := fmt.Fprintf(w, "%d WABAs: %s\n", total, strings.Join(parts, ", "))
	return err
}
