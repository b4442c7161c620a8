package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
)

// runFloor is the least a program can do for an event and still do the
// worker's I/O, in the worker's order: the ceiling's loop (one Fetch share,
// a publish with PubAck, an ack) with the WABA's lease taken first (a KV
// Create in waba_locks), the worker's three Graph round trips on keep-alive
// net/http connections (GET assigned_users, POST assigned_users, GET
// assigned_users) before the publish, the ledger record put (waba_state)
// between the PubAck and the ack, and the lease deleted (with its revision)
// last. It decodes nothing (the WABA id is cut out of the event's bytes; a
// response body is read to the end and only its status checked), logs
// nothing and keeps no metrics: what the worker costs beyond it is its own
// logic.
func runFloor(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", "", "NATS URL")
	gf := addGraphFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	calls, err := gf.calls()
	if err != nil {
		return err
	}
	inFlight := gf.inFlight
	var locks, state jetstream.KeyValue
	leaseValue := []byte(`{"owner":"bench-floor","token":"0123456789abcdef0123456789abcdef","acquired_at":"2026-01-01T00:00:00Z"}`)
	w := &work{
		setup: func(ctx context.Context, js jetstream.JetStream) (err error) {
			if locks, err = js.CreateOrUpdateKeyValue(ctx, lease.BucketConfig(lease.DefaultBucket, lease.DefaultTTL, 1)); err != nil {
				return err
			}
			state, err = js.CreateOrUpdateKeyValue(ctx, ledger.BucketConfig(ledger.DefaultBucket, 1))
			return err
		},
		before: func(ctx context.Context, msg jetstream.Msg) (after, done func(context.Context), err error) {
			waba := wabaOf(msg.Data())
			if waba == "" {
				return nil, nil, errors.New("no waba_id")
			}
			rev, err := locks.Create(ctx, waba, leaseValue)
			if err != nil {
				return nil, nil, err
			}
			done = func(ctx context.Context) { _ = locks.Delete(ctx, waba, jetstream.LastRevision(rev)) }
			if err := calls.event(ctx, waba); err != nil {
				done(ctx)
				return nil, nil, err
			}
			after = func(ctx context.Context) {
				_, _ = state.Put(ctx, waba, []byte(`{"waba_id":"`+waba+`","state":"assigned","held_tasks":["MANAGE"]}`))
			}
			return after, done, nil
		},
	}
	return pullLoop(ctx, *natsURL, "bench-floor", *inFlight, w)
}

// wabaOf cuts the waba_id out of an event as the bench publishes it.
func wabaOf(data []byte) string {
	const key = `"waba_id":"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return ""
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// graphFlags are the flags of a child that calls Graph (floor, graph):
// where, as whom, and how many events at once.
type graphFlags struct {
	url, token, business, user *string
	inFlight                   *int
}

func addGraphFlags(fs *flag.FlagSet) graphFlags {
	return graphFlags{
		url:      fs.String("graph", "", "Graph base URL"),
		token:    fs.String("token", "", "Graph access token"),
		business: fs.String("business", "", "business id"),
		user:     fs.String("user", "", "system user id"),
		inFlight: fs.Int("inflight", 16, "events worked at once"),
	}
}

// graphArgs are the graphFlags a row's child gets: the emulator at
// graphURL, its dev identities, c at once.
func graphArgs(graphURL string, c int) []string {
	return []string{"-graph", graphURL, "-token", emulator.DevAdminToken, "-business", emulator.DevBusinessID,
		"-user", emulator.DevSystemUserID, "-inflight", strconv.Itoa(c)}
}

// calls checks the parsed flags and returns the round trips they describe.
func (g graphFlags) calls() (*graphCalls, error) {
	if *g.url == "" || *g.token == "" || *g.business == "" || *g.user == "" || *g.inFlight < 1 {
		return nil, errors.New("-graph, -token, -business, -user and -inflight are required")
	}
	return newGraphCalls(*g.url, *g.token, *g.business, *g.user, *g.inFlight), nil
}

// graphCalls does the worker's three Graph round trips for an event, with
// bare net/http on keep-alive connections: GET assigned_users, POST
// assigned_users, GET assigned_users. A response body is read to the end
// and only its status checked. The floor program and the Graph-only
// ceiling (graphonly.go) share it.
type graphCalls struct {
	hc         *http.Client
	base, auth string
	read, form string
}

func newGraphCalls(graphURL, token, business, user string, inFlight int) *graphCalls {
	return &graphCalls{
		hc:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight, IdleConnTimeout: time.Minute}},
		base: strings.TrimRight(graphURL, "/") + "/" + graph.DefaultVersion + "/",
		auth: "Bearer " + token,
		read: "/assigned_users?business=" + url.QueryEscape(business),
		form: "user=" + url.QueryEscape(user) + "&tasks=" + url.QueryEscape(`["MANAGE"]`),
	}
}

// event does the three round trips for waba, stopping at the first error.
func (g *graphCalls) event(ctx context.Context, waba string) error {
	for _, c := range [][3]string{{http.MethodGet, g.read}, {http.MethodPost, "/assigned_users", g.form}, {http.MethodGet, g.read}} {
		if err := g.call(ctx, c[0], g.base+waba+c[1], c[2]); err != nil {
			return err
		}
	}
	return nil
}

func (g *graphCalls) call(ctx context.Context, method, u, body string) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", g.auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return err
}
