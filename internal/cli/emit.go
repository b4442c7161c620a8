package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emit"
	"github.com/wabaworker/waba-worker/internal/events"
)

func emitHelp() help {
	return help{
		usage: "worker emit --waba-id ID [flags]",
		about: []string{
			"Publishes one waba.shared event (Nats-Msg-Id = its id) and prints its id on stdout.",
			"With --wait, follows the result subjects for that id, prints the result event (JSON) on",
			"stdout and one line about it on stderr. Exit status: 0 published (or, with --wait,",
			"succeeded), 1 failed (or an error), 2 no result within --wait (or a bad flag).",
		},
		env: natsEnvHelp,
		example: []string{
			"worker emit --waba-id 102290129340398 --tasks MANAGE,DEVELOP --wait 30s",
		},
	}
}

func runEmit(ctx context.Context, args []string, env config.LookupEnv, stdout, stderr io.Writer) error {
	getenv := getter(env)
	fs := newFlagSet("worker emit")
	var (
		ev    events.Shared
		tasks string
		wait  time.Duration
		nf    natsFlags
	)
	fs.StringVar(&ev.WabaID, "waba-id", "", "the shared WABA's `id` (required)")
	fs.StringVar(&ev.BusinessID, "business-id", "", "business portfolio `id` (default: the worker's BUSINESS_ID)")
	fs.StringVar(&tasks, "tasks", "", "comma list of `tasks`, e.g. MANAGE,DEVELOP (default: the worker's ASSIGN_TASKS)")
	fs.StringVar(&ev.ID, "id", "", "event `id` (default: evt-<random>)")
	fs.StringVar(&ev.Source, "source", "worker-emit", "the event's `source` field: where it comes from")
	fs.DurationVar(&wait, "wait", 0, "wait this long (a `duration` such as 30s) for the result (0: do not wait)")
	nf.register(fs, getenv)
	h := emitHelp()
	if err := parse(fs, h, args, stdout); err != nil {
		return err
	}
	if ev.WabaID == "" {
		return usageError("--waba-id is required (see 'worker emit --help')")
	}
	if wait < 0 {
		return usageError("--wait must not be negative")
	}
	if tasks != "" {
		t, err := events.ParseTasks(tasks)
		if err != nil {
			return usageError("--tasks: %v", err)
		}
		ev.Tasks = t
	}
	ev.OccurredAt = time.Now().UTC().Format(time.RFC3339)
	ev, payload, err := emit.Encode(ev)
	if err != nil {
		var inv *events.InvalidError
		if errors.As(err, &inv) {
			return usageError("%s (see 'worker emit --help')", inv.Reason)
		}
		return err
	}

	nc, js, topo, err := nf.connect("waba-worker emit")
	if err != nil {
		return err
	}
	defer nc.Close()
	ack, err := emit.Publish(ctx, js, topo, ev.ID, payload)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ev.ID)
	if ack.Duplicate {
		fmt.Fprintf(stderr, "event %s was published before (stream %s seq %d): not published again\n", ev.ID, ack.Stream, ack.Sequence)
	} else {
		fmt.Fprintf(stderr, "published event %s for WABA %s (stream %s seq %d)\n", ev.ID, ev.WabaID, ack.Stream, ack.Sequence)
	}
	if wait == 0 {
		return nil
	}

	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	res, err := emit.Wait(wctx, js, topo, ev.ID, ack.Sequence)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "timeout: no result for event %s within %s (is a worker running?)\n", ev.ID, wait)
			return &ExitError{Code: 2}
		}
		return err
	}
	fmt.Fprintln(stdout, string(res.Data))
	fmt.Fprintln(stderr, res.Summary())
	if !res.OK() {
		return &ExitError{Code: 1}
	}
	return nil
}
