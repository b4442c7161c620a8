package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/natsserver"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// The gateway rows: signed webhook POSTs (`messages` changes, one publish
// each) to `worker webhook` (gateway.Run, in the bench process) over
// loopback HTTP from gatewaySenders concurrent senders, each POST answered
// only after its PubAcks; against a plain JetStream async-publish ceiling
// measured on the same kind of server in the same run: gatewaySenders
// publishers sharing one connection, each publishing the same messages
// (PublishMsgAsync with Nats-Msg-Id) in batches of the POST's size and
// waiting for each batch's PubAcks, as the gateway does for a request,
// without HTTP, signature or JSON.
const (
	gatewaySenders = 16
	gatewaySecret  = "bench-app-secret"
)

// gatewayResult is one gateway row.
type gatewayResult struct {
	name     string
	changes  int // per POST (the ceiling: per batch)
	posts    int // the ceiling: batches
	ceiling  bool
	messages int
	window   time.Duration
	p50, p99 time.Duration // answer latency (the ceiling: none)
	errors   int
	err      error
}

func (r gatewayResult) msgRate() float64 { return float64(r.messages) / r.window.Seconds() }

// gatewayRows sizes the rows: how many POSTs with 1 change, and with 100.
func (o Options) gatewayRows() (single, batch int) {
	if o.Events <= 2000 { // -quick
		return 2000, 100
	}
	return 20000, 500
}

// runGateway runs the gateway rows, each on a fresh server.
func runGateway(ctx context.Context, o Options, logf func(string, ...any)) []gatewayResult {
	single, batch := o.gatewayRows()
	var out []gatewayResult
	for _, r := range []struct{ posts, changes int }{{single, 1}, {batch, 100}} {
		c := runCeilingAsync(ctx, r.posts, r.changes)
		logf("gateway: ceiling %d batches of %d: %s (%v)", r.posts, r.changes, dur(c.window), c.err)
		g := runGatewayRow(ctx, r.posts, r.changes)
		logf("gateway: %d POSTs of %d changes: %s (%v)", r.posts, r.changes, dur(g.window), g.err)
		out = append(out, c, g)
	}
	return out
}

// benchServer starts a NATS server with its store in a temp dir.
func benchServer() (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "waba-bench-gw-*")
	if err != nil {
		return "", nil, err
	}
	ns, err := natsserver.Start(natsserver.Options{StoreDir: filepath.Join(dir, "jetstream")})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) }, nil
}

// runCeilingAsync publishes batches batches of size change messages to the
// raw stream from gatewaySenders publishers, each batch with
// PublishMsgAsync and one wait for its PubAcks, as the gateway publishes a
// request's changes.
func runCeilingAsync(ctx context.Context, batches, size int) (res gatewayResult) {
	res = gatewayResult{name: "JetStream async ceiling", changes: size, posts: batches, messages: batches * size, ceiling: true}
	url, stop, err := benchServer()
	if err != nil {
		res.err = err
		return res
	}
	defer stop()
	nc, err := nats.Connect(url, nats.Name("bench ceiling"))
	if err != nil {
		res.err = err
		return res
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		res.err = err
		return res
	}
	if _, err := js.CreateStream(ctx, webhook.StreamConfig(webhook.DefaultStream, webhook.DefaultMaxAge, 1)); err != nil {
		res.err = err
		return res
	}
	// The gateway's messages: a change of Messages' size each.
	changes, err := webhook.ParseEnvelope(mustMarshal(metahook.Messages("102290129340398", "106540352242922", 1, time.Now())))
	if err != nil {
		res.err = err
		return res
	}
	data := changes[0].Encode()
	subject := changes[0].Subject(webhook.DefaultSubjectPrefix)
	lat := make([]time.Duration, batches)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range gatewaySenders {
		wg.Go(func() {
			futures := make([]jetstream.PubAckFuture, 0, size)
			for {
				i := int(next.Add(1)) - 1
				if i >= batches || ctx.Err() != nil {
					return
				}
				began := time.Now()
				futures = futures[:0]
				for k := range size {
					m := nats.NewMsg(subject)
					m.Data = data
					m.Header.Set(jetstream.MsgIDHeader, "ceiling-"+strconv.Itoa(i)+"-"+strconv.Itoa(k))
					f, err := js.PublishMsgAsync(m, jetstream.WithExpectStream(webhook.DefaultStream))
					if err != nil {
						errs.Add(1)
						continue
					}
					futures = append(futures, f)
				}
				timeout := time.After(30 * time.Second)
				for _, f := range futures {
					select {
					case <-f.Ok():
					case <-f.Err():
						errs.Add(1)
					case <-timeout:
						errs.Add(1)
					}
				}
				lat[i] = time.Since(began)
			}
		})
	}
	wg.Wait()
	res.window = time.Since(start)
	res.errors = int(errs.Load())
	slices.Sort(lat)
	res.p50, res.p99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	return res
}

// runGatewayRow runs the gateway on a fresh server and POSTs posts signed
// deliveries of changes changes each, from gatewaySenders senders.
func runGatewayRow(ctx context.Context, posts, changes int) (res gatewayResult) {
	res = gatewayResult{name: "gateway", changes: changes, posts: posts, messages: posts * changes}
	url, stop, err := benchServer()
	if err != nil {
		res.err = err
		return res
	}
	defer stop()
	cfg, err := config.LoadWebhook(nil, config.MapEnv(map[string]string{
		"NATS_URL": url, "WEBHOOK_ADDR": "127.0.0.1:0", "HTTP_ADDR": "",
		"WEBHOOK_VERIFY_TOKEN": "bench", "GRAPH_APP_SECRET": gatewaySecret,
	}), io.Discard)
	if err != nil {
		res.err = err
		return res
	}
	gctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(gctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler),
			StreamCheckInterval: 100 * time.Millisecond, OnListen: func(a, _ net.Addr) { listening <- a }})
	}()
	defer func() { cancel(); <-done }()
	var callback string
	select {
	case a := <-listening:
		callback = "http://" + a.String() + cfg.Path
	case err := <-done:
		res.err = fmt.Errorf("gateway: %v", err)
		return res
	}
	// The streams are provisioned in the background: wait for them.
	if err := waitStreams(ctx, url); err != nil {
		res.err = err
		return res
	}

	// Every body differs (its WABA), so none is a duplicate; signed before
	// the clock starts.
	type delivery struct {
		body []byte
		sig  string
	}
	ds := make([]delivery, posts)
	t0 := time.Now()
	for i := range ds {
		b := mustMarshal(metahook.Messages(strconv.Itoa(103000000000000+i), "106540352242922", changes, t0))
		ds[i] = delivery{b, metahook.Sign(gatewaySecret, b)}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: gatewaySenders, MaxIdleConnsPerHost: gatewaySenders}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	lat := make([]time.Duration, posts)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range gatewaySenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= posts || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, callback, bytes.NewReader(ds[i].body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(metahook.SignatureHeader, ds[i].sig)
				began := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("answered %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(began)
				if err != nil {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	res.window = time.Since(start)
	res.errors = int(errs.Load())
	slices.Sort(lat)
	res.p50, res.p99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	return res
}

// waitStreams waits (bounded) for the streams the gateway provisions.
func waitStreams(ctx context.Context, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, e1 := js.Stream(ctx, webhook.DefaultStream)
		_, e2 := js.Stream(ctx, webhook.DefaultEventsStream)
		if e1 == nil && e2 == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("streams not provisioned: %v, %v", e1, e2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustMarshal(e metahook.Envelope) []byte {
	b, err := e.Marshal()
	if err != nil {
		panic(err) // Messages' values are JSON
	}
	return b
}

// printGateway writes the gateway rows' table (Markdown when md).
func printGateway(w io.Writer, md bool, rs []gatewayResult) {
	if len(rs) == 0 {
		return
	}
	var ceiling float64 // the last ceiling row's rate, for the rows after it
	head := []string{"gateway scenario", "changes/POST", "POSTs", "POSTs/s", "changes/s", "of ceiling", "answer p50", "answer p99", "errors"}
	widths := []int{23, 12, 7, 8, 9, 10, 10, 10, 6}
	line := func(cells []string) {
		if md {
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
			return
		}
		var b bytes.Buffer
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", widths[i], c)
			}
		}
		fmt.Fprintln(w, string(bytes.TrimRight(b.Bytes(), " ")))
	}
	fmt.Fprintf(w, "\nwebhook gateway: signed POSTs of `messages` changes over loopback HTTP from %d senders, each answered after its PubAcks;\n"+
		"the ceiling: %d publishers, the same messages in batches of a POST's size, PublishMsgAsync and one wait per batch (its p50/p99: a batch's)\n\n", gatewaySenders, gatewaySenders)
	line(head)
	seps := make([]string, len(head))
	for i := range seps {
		switch {
		case md && i == 0:
			seps[i] = "---"
		case md:
			seps[i] = "---:"
		default:
			seps[i] = strings.Repeat("-", widths[i])
		}
	}
	line(seps)
	for _, r := range rs {
		if r.err != nil {
			if r.ceiling {
				ceiling = 0
			}
			line([]string{r.name, strconv.Itoa(r.changes), "", "failed: " + r.err.Error()})
			continue
		}
		of := ""
		switch {
		case r.ceiling:
			ceiling = r.msgRate()
		case ceiling > 0:
			of = fmt.Sprintf("%.2f", r.msgRate()/ceiling)
		}
		line([]string{r.name, strconv.Itoa(r.changes), count(r.posts), fmt.Sprintf("%.0f", float64(r.posts)/r.window.Seconds()),
			fmt.Sprintf("%.0f", r.msgRate()), of, dur(r.p50), dur(r.p99), strconv.Itoa(r.errors)})
	}
}
