package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
	"github.com/wabaworker/waba-worker/internal/handlers"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// testBundle is one test's assigner against its own emulator, over real HTTP.
type testBundle struct {
	graph    *emulator.Server
	breaker  *breaker.Breaker
	assigner *handlers.Assigner
}

func setup(t *testing.T, mod func(*handlers.Config)) *testBundle {
	t.Helper()
	g := graphtest.NewTestServer(t, emulator.DefaultSeed())
	client, err := graph.NewClient(graph.WithBaseURL(g.URL()), graph.WithHTTPClient(g.Client()),
		graph.WithToken(graph.StaticToken(emulator.DevAdminToken)), graph.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	br := breaker.New(breaker.Settings{OpenTimeout: time.Hour})
	cfg := handlers.Config{
		Graph:           client,
		Breaker:         br,
		BusinessID:      emulator.DevBusinessID,
		SystemUserID:    emulator.DevSystemUserID,
		RetryInitial:    5 * time.Millisecond,
		RetryMax:        20 * time.Millisecond,
		RetryMaxElapsed: 3 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := handlers.NewAssigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{graph: g, breaker: br, assigner: a}
}

var wabas = emulator.DevWABAIDs()

func msg(wabaID string, delivery, maxDeliver int) wabatype.Message {
	data, _ := json.Marshal(map[string]string{"id": "evt-" + wabaID, "waba_id": wabaID})
	return wabatype.Message{Data: data, StreamSeq: 7, Delivery: delivery, MaxDeliver: maxDeliver}
}

func TestDone(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.Done || out.Succeeded == nil || out.Succeeded.AlreadyAssigned || out.Succeeded.EventID != "evt-"+wabas[0] {
		t.Fatalf("got %+v (%v)", out, out.Err)
	}
	out = b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.Done || !out.Succeeded.AlreadyAssigned {
		t.Fatalf("second time: got %+v", out)
	}
}

// A rate limit that asks for longer than the delivery's budget gives the
// event back for that long, and holds back every other event of the process
// without a Graph call.
func TestRateLimitBeyondTheBudgetRetriesLater(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Status: 400, Code: 80008, IsTransient: true, BUCEstimatedMinutes: 2})
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.RetryLater || out.Delay < 119*time.Second {
		t.Fatalf("got %v after %v, want RetryLater after ~2m (%v)", out.Verdict, out.Delay, out.Err)
	}
	calls := b.graph.Count("*")
	out = b.assigner.Handle(t.Context(), msg(wabas[1], 1, 10))
	if out.Verdict != wabatype.RetryLater || out.Delay < 100*time.Second {
		t.Fatalf("other event during the pause: %v after %v", out.Verdict, out.Delay)
	}
	if n := b.graph.Count("*"); n != calls {
		t.Errorf("%d Graph calls during the rate-limit pause, want 0", n-calls)
	}
}

// A Retry-After within the budget is waited out before the next call.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Status: 429, Code: 4, RetryAfter: "1"})
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.Done {
		t.Fatalf("got %v (%v)", out.Verdict, out.Err)
	}
	reqs := b.graph.RequestsFor(graph.OpListAssignedUsers)
	if len(reqs) < 2 || reqs[0].Code != 4 {
		t.Fatalf("requests: %+v", reqs)
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < time.Second {
		t.Errorf("retried %v after a Retry-After of 1s", gap)
	}
}

// Transient failures in a row open the breaker: the event is paused, not
// failed, and Graph sees a bounded number of calls.
func TestBreakerOpensAndPauses(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.SetOutage(emulator.OutageHTML)
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.Paused || out.Reason != wabatype.PauseBreaker || out.Delay != time.Hour {
		t.Fatalf("got %v %v %v (%v)", out.Verdict, out.Reason, out.Delay, out.Err)
	}
	if b.breaker.State() != breaker.Open {
		t.Fatalf("breaker %v", b.breaker.State())
	}
	calls := b.graph.Count("*")
	if calls != 5 {
		t.Errorf("%d calls before the breaker opened, want 5", calls)
	}
	for i := range 10 {
		if out := b.assigner.Handle(t.Context(), msg(wabas[i], 1, 10)); out.Verdict != wabatype.Paused {
			t.Fatalf("event %d while open: %v", i, out.Verdict)
		}
	}
	if n := b.graph.Count("*"); n != calls {
		t.Errorf("%d Graph calls while the breaker is open, want 0", n-calls)
	}
}

// Permanent answers do not move the breaker.
func TestPermanentErrorsDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i := range 8 {
		out := b.assigner.Handle(t.Context(), msg(fmt.Sprintf("9%d", i), 1, 10)) // not shared: 100/33
		if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != events.KindPermanent || *out.Failed.Error.GraphCode != 100 {
			t.Fatalf("got %+v", out)
		}
	}
	if b.breaker.State() != breaker.Closed {
		t.Errorf("breaker %v after permanent errors", b.breaker.State())
	}
}

func TestRejectedTokenPauses(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.RevokeToken(emulator.DevAdminToken)
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 10, 10))
	if out.Verdict != wabatype.Paused || out.Reason != wabatype.PauseCredentials {
		t.Fatalf("got %v %v (%v)", out.Verdict, out.Reason, out.Err)
	}
	if reason, err := b.assigner.Probe(t.Context()); graph.Classify(err) != graph.ClassCredentials || reason != wabatype.PauseCredentials {
		t.Errorf("probe with a revoked token: %v %v", reason, err)
	}
	b.graph.RestoreToken(emulator.DevAdminToken)
	if reason, err := b.assigner.Probe(t.Context()); err != nil || reason != wabatype.NoPause {
		t.Errorf("probe after restore: %v %v", reason, err)
	}
}

func TestLastDeliveryExhaustsRetries(t *testing.T) {
	t.Parallel()
	// Graph fails for as long as it is asked, so the budget runs out however
	// quick the retries (jitter may fit three in 30ms); with 25ms waits at
	// most a few calls fit, too few to open the breaker (5).
	b := setup(t, func(c *handlers.Config) {
		c.RetryInitial, c.RetryMax, c.RetryMaxElapsed = 25*time.Millisecond, 25*time.Millisecond, 30*time.Millisecond
	})
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Code: 2, IsTransient: true, Times: -1})
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 3, 3))
	if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != events.KindRetriesExhausted || !out.Failed.Error.Retryable || out.Failed.Attempts != 3 {
		t.Fatalf("got %+v (%v)", out, out.Err)
	}
	if out.Failed.Error.GraphCode == nil || *out.Failed.Error.GraphCode != 2 || out.Failed.Error.FBTraceID == "" {
		t.Errorf("retries_exhausted keeps Graph's error: %+v", out.Failed.Error)
	}
}

// The consumer gives up on a last delivery it held too often
// (worker.Config.MaxHolds): the handler then says retries_exhausted, naming
// the pause's cause.
func TestHeldTooOftenExhausts(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.SetOutage(emulator.OutageHTML)
	m := msg(wabas[0], 10, 10)
	paused := b.assigner.Handle(t.Context(), m)
	if paused.Verdict != wabatype.Paused || paused.Reason != wabatype.PauseBreaker {
		t.Fatalf("got %v", paused.Verdict)
	}
	if reason, _ := b.assigner.Paused(); reason != wabatype.PauseBreaker {
		t.Errorf("Paused() = %v with the breaker open", reason)
	}
	out := b.assigner.GiveUp(m, paused.Err)
	if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != events.KindRetriesExhausted {
		t.Fatalf("got %v", out.Verdict)
	}
	if out.EventID != "evt-"+wabas[0] || out.WabaID != wabas[0] || out.Failed.SystemUserID == "" || len(out.Failed.Tasks) == 0 {
		t.Errorf("GiveUp outcome lacks the event's ids: %+v", out.Failed)
	}
}

func TestCanceledGivesTheEventBack(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for b.graph.Count(graph.OpListAssignedUsers) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	out := b.assigner.Handle(ctx, msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.RetryLater || out.Delay != 0 {
		t.Fatalf("got %v after %v (%v)", out.Verdict, out.Delay, out.Err)
	}
	if b.breaker.State() != breaker.Closed {
		t.Errorf("cancellation moved the breaker")
	}
}

func TestInvalidEventCallsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	out := b.assigner.Handle(t.Context(), wabatype.Message{Data: []byte(`{"waba_id": "1/../2"}`), MsgID: "hdr-1", Delivery: 1})
	if out.Verdict != wabatype.Failed || !out.Terminate() || out.Failed.EventID != "hdr-1" || out.Failed.Error.Kind != events.KindInvalidEvent {
		t.Fatalf("got %+v", out)
	}
	if n := b.graph.Count("*"); n != 0 {
		t.Errorf("%d Graph calls", n)
	}
}

func TestUnknownSystemUserNameFails(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *handlers.Config) { c.SystemUserID, c.SystemUserName = "", "nobody" })
	out := b.assigner.Handle(t.Context(), msg(wabas[0], 1, 10))
	if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != events.KindPermanent || !strings.Contains(out.Failed.Error.Message, "SYSTEM_USER_NAME") {
		t.Fatalf("got %+v", out)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []handlers.Config{
		{},
		{Graph: &graph.Client{}},
		{Graph: &graph.Client{}, Breaker: breaker.New(breaker.Settings{})},
		{Graph: &graph.Client{}, Breaker: breaker.New(breaker.Settings{}), BusinessID: "1"},
	} {
		if _, err := handlers.NewAssigner(c); err == nil {
			t.Errorf("NewAssigner(%+v) accepted", c)
		}
	}
}

// A retries_exhausted event names the last error Graph gave the delivery,
// whether the breaker opened (the consumer's GiveUp) or the retry budget ran
// out: the operation, the status, Graph's message or an excerpt of a body
// that was not Graph's JSON, and Graph's code and fbtrace_id when it sent an
// error object.
func TestRetriesExhaustedNamesTheLastGraphError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		// budget: the retry budget runs out before the breaker opens.
		budget bool
		want   []string
		code   int // 0: no Graph error object
	}{
		{name: "HTML 200, breaker", fault: emulator.Fault{Status: 200, HTML: emulator.ErrorPage},
			want: []string{"circuit breaker is open", "last Graph error: graph list_assigned_users: HTTP 200: ", "Sorry, something went wrong."}},
		{name: "truncated JSON 200, breaker", fault: emulator.Fault{Status: 200, Body: `{"data":[{"id":"1972`},
			want: []string{"circuit breaker is open", "graph list_assigned_users: HTTP 200: {\"data\":[{\"id\":\"1972"}},
		{name: "5xx with code 2, breaker", fault: emulator.Fault{Status: 503, Code: 2},
			want: []string{"circuit breaker is open", "graph list_assigned_users: HTTP 503: An unexpected error has occurred", "code 2, fbtrace_id "}, code: 2},
		{name: "HTML 200, budget", fault: emulator.Fault{Status: 200, HTML: emulator.ErrorPage}, budget: true,
			want: []string{"retry budget", "graph list_assigned_users: HTTP 200: ", "Sorry, something went wrong."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *handlers.Config) {
				if tc.budget {
					c.RetryMaxElapsed = 20 * time.Millisecond
				}
			})
			f := tc.fault
			f.Times = -1
			b.graph.InjectFault(graph.OpListAssignedUsers, f)
			m := msg(wabas[0], 3, 3)
			out := b.assigner.Handle(t.Context(), m)
			if !tc.budget {
				if out.Verdict != wabatype.Paused || out.Reason != wabatype.PauseBreaker {
					t.Fatalf("got %v %v (%v), want a breaker pause", out.Verdict, out.Reason, out.Err)
				}
				out = b.assigner.GiveUp(m, out.Err)
			}
			if out.Verdict != wabatype.Failed || out.Failed.Error.Kind != events.KindRetriesExhausted {
				t.Fatalf("got %v (%v), want retries_exhausted", out.Verdict, out.Err)
			}
			e := out.Failed.Error
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
			if strings.Contains(e.Message, emulator.DevAdminToken) {
				t.Errorf("message holds the token: %q", e.Message)
			}
			if tc.code != 0 && (e.GraphCode == nil || *e.GraphCode != tc.code || e.FBTraceID == "") {
				t.Errorf("graph_code %v, fbtrace_id %q; want %d and Graph's trace id", e.GraphCode, e.FBTraceID, tc.code)
			}
		})
	}
}
