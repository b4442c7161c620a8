package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/cli"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// envCPUProfile, in a child's environment, names the file for its CPU
// profile; its allocations (the "allocs" profile, sampled at Go's default
// rate) go beside it, with ".allocs" added to the name.
const envCPUProfile = "WABA_BENCH_CPUPROFILE"

// child runs a row's process: `child worker run` is the worker binary's own
// code path (cli.Run, as cmd/worker calls it); `child ceiling` is the
// JetStream-only loop; `child floor` is that loop with the worker's three
// Graph round trips per event (floor.go).
func child(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "bench child: worker, ceiling, floor or graph?")
		return 2
	}
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
			defer writeAllocs(path + ".allocs")
		}
	}
	// The floor and ceiling rows run with the worker's GC target (unless
	// GOGC is set), so that they compare like with like; the worker row
	// gets it from `worker run` itself.
	if args[0] != "worker" {
		cli.TuneGC(os.LookupEnv)
	}
	switch args[0] {
	case "worker":
		return cli.ExitCode(cli.Run(ctx, args[1:], os.LookupEnv, stdout, stderr), stderr)
	case "ceiling":
		if err := runCeiling(ctx, args[1:], stderr); err != nil {
			fmt.Fprintln(stderr, "bench child ceiling:", err)
			return 1
		}
		return 0
	case "graph":
		if err := runGraphOnly(ctx, args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "bench child graph:", err)
			return 1
		}
		return 0
	case "floor":
		if err := runFloor(ctx, args[1:], stderr); err != nil {
			fmt.Fprintln(stderr, "bench child floor:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "bench child: unknown role %q\n", args[0])
	return 2
}

// writeAllocs writes the process's allocation profile to path.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}

// runCeiling is the worker's JetStream pattern with no Graph work and no
// decoding: pull as many messages as there are free slots, and for each,
// in its own goroutine, publish a result with Nats-Msg-Id, wait for its
// PubAck, then Ack. It runs until ctx ends.
func runCeiling(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", "", "NATS URL")
	inFlight := fs.Int("inflight", 16, "messages worked at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return pullLoop(ctx, *url, "bench-ceiling", *inFlight, nil)
}

// work is what the floor program does around an event's result: before
// (nil: nothing) runs before the result is published and returns after,
// which runs between its PubAck and the input's ack, and done, after the ack.
type work struct {
	setup  func(ctx context.Context, js jetstream.JetStream) error
	before func(ctx context.Context, msg jetstream.Msg) (after, done func(context.Context), err error)
}

// pullLoop pulls as many messages as there are free slots and works each in
// its own goroutine: w's before (w nil: nothing), then publish a result
// with Nats-Msg-Id, wait for its PubAck, w's after, Ack, w's done; a failed
// before or publish naks.
// It runs until ctx ends, then lets the work in flight finish.
func pullLoop(ctx context.Context, url, name string, inFlight int, w *work) error {
	if inFlight < 1 {
		return errors.New("-inflight must be at least 1")
	}
	nc, err := nats.Connect(url, nats.Name(name))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	topo := wabatype.Topology{}.WithDefaults()
	cons, err := js.CreateOrUpdateConsumer(ctx, topo.Stream, worker.ConsumerConfig(topo, inFlight, 10, time.Minute))
	if err != nil {
		return err
	}
	if w != nil && w.setup != nil {
		if err := w.setup(ctx, js); err != nil {
			return err
		}
	}

	free := make(chan struct{}, inFlight)
	for range inFlight {
		free <- struct{}{}
	}
	release := func(n int) {
		for range n {
			free <- struct{}{}
		}
	}
	var wg sync.WaitGroup
	// Like the worker, a stop ends intake and lets work in flight finish.
	workCtx := context.WithoutCancel(ctx)
	settle := func(msg jetstream.Msg) {
		after, done := func(context.Context) {}, func(context.Context) {}
		if w != nil {
			var err error
			if after, done, err = w.before(workCtx, msg); err != nil {
				_ = msg.Nak()
				return
			}
		}
		defer done(workCtx)
		id := msg.Headers().Get(jetstream.MsgIDHeader)
		body, _ := json.Marshal(events.Succeeded{EventID: id, Tasks: []string{"MANAGE"}, Attempts: 1, CompletedAt: time.Now().UTC()})
		_, err := js.PublishMsg(workCtx, &nats.Msg{Subject: topo.SucceededSubject, Data: body},
			jetstream.WithMsgID(id+".succeeded"), jetstream.WithExpectStream(topo.Stream))
		if err != nil {
			_ = msg.Nak()
			return
		}
		after(workCtx)
		_ = msg.Ack()
	}
	for ctx.Err() == nil {
		select {
		case <-free:
		case <-ctx.Done():
			continue
		}
		n := 1
	take:
		for n < inFlight {
			select {
			case <-free:
				n++
			default:
				break take
			}
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			release(n)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			wg.Go(func() {
				defer release(1)
				settle(msg)
			})
		}
		release(n - got)
	}
	wg.Wait()
	return nc.Drain()
}
