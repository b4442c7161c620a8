package app_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/app"
	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

const biz = emulator.DevBusinessID
const user = emulator.DevSystemUserID

// newWABAs shares n new WABAs with the business and returns their ids.
func newWABAs(t *testing.T, g *emulator.Server, first, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d", 500000000000000+first+i)
		if err := g.AddWABA(biz, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// Acceptance 1: 100 new WABAs give 100 succeeded events, each WABA assigned,
// exactly 3 Graph calls per WABA; an already-assigned WABA costs 1 call.
func TestNewWABAsAreAssignedWithThreeCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_CONCURRENCY": "16"})
	ids := newWABAs(t, b.graph, 0, 100)
	done := newWABAs(t, b.graph, 1000, 1)[0]
	if err := b.graph.Assign(done, user, "MANAGE", "DEVELOP"); err != nil {
		t.Fatal(err)
	}
	evIDs := append(b.emitAll(ids), b.emitAll([]string{done})...)
	doneEv := evIDs[len(evIDs)-1]
	b.start()
	b.waitResults(101, 60*time.Second)

	b.results.ExactlyOne(t, evIDs)
	for _, id := range ids {
		s := b.results.Succeeded("evt-" + id)
		if len(s) != 1 || s[0].AlreadyAssigned || s[0].SystemUserID != user || s[0].WabaID != id || s[0].Attempts != 1 {
			t.Errorf("WABA %s: succeeded = %+v", id, s)
		}
		if got := b.graph.Assignments(id)[user]; !slices.Contains(got, "MANAGE") {
			t.Errorf("WABA %s: emulator has tasks %v for the system user", id, got)
		}
		reads, posts := b.graph.CountFor(graph.OpListAssignedUsers, id), b.graph.CountFor(graph.OpAssignUser, id)
		if reads != 2 || posts != 1 {
			t.Errorf("WABA %s: %d reads and %d POSTs, want 2 and 1", id, reads, posts)
		}
	}
	s := b.results.Succeeded(doneEv)
	if len(s) != 1 || !s[0].AlreadyAssigned {
		t.Errorf("already-assigned WABA: %+v", s)
	}
	if reads, posts := b.graph.CountFor(graph.OpListAssignedUsers, done), b.graph.CountFor(graph.OpAssignUser, done); reads != 1 || posts != 0 {
		t.Errorf("already-assigned WABA: %d reads and %d POSTs, want 1 and 0", reads, posts)
	}
	if n := len(b.graph.Requests()); n != 3*100+1 {
		t.Errorf("%d Graph requests in all, want %d", n, 3*100+1)
	}
	for _, r := range b.graph.Requests() {
		if !r.AuthHeader || r.TokenInQuery || r.TokenInForm {
			t.Fatalf("token not (only) in the Authorization header: %+v", r)
		}
		if r.Query.Get("appsecret_proof") == "" && r.Form.Get("appsecret_proof") == "" {
			t.Fatalf("request without appsecret_proof: %s %s", r.Method, r.Path)
		}
	}
}

// Acceptance 2: the system user is found behind 60 other users and an empty
// first page.
func TestPagingFindsTheUserBehindOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	// 60 other users hold tasks on the WABA, listed before ours.
	for i := range 60 {
		other := fmt.Sprintf("%d", 900000000000+i)
		if err := b.graph.AddSystemUser(biz, emulator.SystemUser{ID: other, Name: fmt.Sprintf("other-%d", i), Role: emulator.RoleEmployee}); err != nil {
			t.Fatal(err)
		}
		if err := b.graph.Assign(id, other, "VIEW_COST"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.graph.Assign(id, user, "MANAGE"); err != nil {
		t.Fatal(err)
	}
	b.graph.SetEmptyPages(1)
	b.emit("evt-1", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	s := b.results.Succeeded("evt-1")
	if len(s) != 1 || !s[0].AlreadyAssigned {
		t.Fatalf("want already_assigned, got %+v (failed: %+v)", s, b.results.Failed("evt-1"))
	}
	if n := b.graph.CountFor(graph.OpAssignUser, id); n != 0 {
		t.Errorf("%d POSTs for a user found on a later page, want 0", n)
	}
	if n := b.graph.CountFor(graph.OpListAssignedUsers, id); n < 3 {
		t.Errorf("%d listing requests: the pages were not followed", n)
	}
}

// Acceptance 2: the system user resolved by name from page 2 of
// system_users, once per process.
func TestSystemUserResolvedByNameOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"SYSTEM_USER_ID": "-", "SYSTEM_USER_NAME": "waba-worker-2"})
	// 30 system users come first: ours is on page 2 (Graph's page is 25).
	for i := range 30 {
		if err := b.graph.AddSystemUser(biz, emulator.SystemUser{ID: fmt.Sprintf("%d", 800000000000+i), Name: fmt.Sprintf("filler-%d", i), Role: emulator.RoleEmployee}); err != nil {
			t.Fatal(err)
		}
	}
	const named = "1972555232749999"
	if err := b.graph.AddSystemUser(biz, emulator.SystemUser{ID: named, Name: "waba-worker-2", Role: emulator.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	ids := newWABAs(t, b.graph, 0, 20)
	b.emitAll(ids)
	b.start()
	b.waitResults(20, 30*time.Second)
	for _, id := range ids {
		s := b.results.Succeeded("evt-" + id)
		if len(s) != 1 || s[0].SystemUserID != named {
			t.Fatalf("WABA %s: %+v", id, s)
		}
	}
	// Paging to page 2 once: the default seed's 2 users + 30 fillers + ours.
	if n := b.graph.Count(graph.OpListSystemUsers); n != 2 {
		t.Errorf("system_users listed with %d requests, want 2 (two pages, once per process)", n)
	}
}

// Acceptance 3: held tasks are never removed; a per-event tasks override is
// honoured.
func TestHeldTasksKeptAndOverrideHonoured(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"ASSIGN_TASKS": "MANAGE"})
	ids := newWABAs(t, b.graph, 0, 2)
	if err := b.graph.Assign(ids[0], user, "DEVELOP", "MANAGE_TEMPLATES"); err != nil {
		t.Fatal(err)
	}
	b.emit("evt-held", ids[0], nil)
	b.emit("evt-override", ids[1], map[string]any{"tasks": []string{"DEVELOP", "VIEW_COST"}})
	b.start()
	b.waitResults(2, 20*time.Second)

	got := b.graph.Assignments(ids[0])[user]
	for _, want := range []string{"DEVELOP", "MANAGE_TEMPLATES", "MANAGE"} {
		if !slices.Contains(got, want) {
			t.Errorf("held tasks: user has %v, lacks %s", got, want)
		}
	}
	got = b.graph.Assignments(ids[1])[user]
	slices.Sort(got)
	if !slices.Equal(got, []string{"DEVELOP", "VIEW_COST"}) {
		t.Errorf("override: user has %v, want [DEVELOP VIEW_COST]", got)
	}
	if s := b.results.Succeeded("evt-override"); len(s) != 1 || !slices.Equal(s[0].Tasks, []string{"DEVELOP", "VIEW_COST"}) {
		t.Errorf("override result: %+v", s)
	}
	for _, r := range b.graph.RequestsFor(graph.OpAssignUser) {
		if r.Object == ids[0] && r.Form.Get("tasks") != `["DEVELOP","MANAGE_TEMPLATES","MANAGE"]` {
			t.Errorf("POST tasks = %s, want the union as a JSON array", r.Form.Get("tasks"))
		}
	}
}

// Acceptance 4: transient faults are retried to success.
func TestTransientFaultsAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ids := newWABAs(t, b.graph, 0, 3)
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Object: ids[0], Status: 503, HTML: "<html>Service Unavailable</html>", Times: 2})
	b.graph.InjectFault(graph.OpAssignUser, emulator.Fault{Object: ids[1], Drop: true, Times: 2})
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Object: ids[2], Status: 400, Code: 80008, Subcode: 2446079, IsTransient: true, Times: 2})
	b.emitAll(ids)
	b.start()
	b.waitResults(3, 30*time.Second)
	for _, id := range ids {
		if s := b.results.Succeeded("evt-" + id); len(s) != 1 {
			t.Errorf("WABA %s: succeeded %+v, failed %+v", id, s, b.results.Failed("evt-"+id))
		}
		if !slices.Contains(b.graph.Assignments(id)[user], "MANAGE") {
			t.Errorf("WABA %s not assigned", id)
		}
	}
	if b.graph.PendingFaults() != 0 {
		t.Errorf("%d injected faults were never hit", b.graph.PendingFaults())
	}
}

// Acceptance 4: permanent faults give one failed event with Graph's code and
// fbtrace_id, and the input is acked: it never comes back.
func TestPermanentFaultsFailOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_ACK_WAIT": "1s"})
	ids := newWABAs(t, b.graph, 0, 1)
	const notShared = "777777777777777"
	b.graph.InjectFault(graph.OpAssignUser, emulator.Fault{Object: ids[0], Code: 200, Message: "(#200) Permissions error"})
	b.emit("evt-200", ids[0], nil)
	b.emit("evt-100", notShared, nil)
	b.start()
	b.waitResults(2, 20*time.Second)

	for _, c := range []struct {
		id        string
		code, sub int
	}{{"evt-200", 200, 0}, {"evt-100", 100, 33}} {
		f := b.results.Failed(c.id)
		if len(f) != 1 {
			t.Fatalf("%s: failed events %+v", c.id, f)
		}
		e := f[0].Error
		if e.Kind != events.KindPermanent || e.GraphCode == nil || *e.GraphCode != c.code || *e.GraphSubcode != c.sub || e.FBTraceID == "" || e.Retryable {
			t.Errorf("%s: error %+v (code %v)", c.id, e, e.GraphCode)
		}
	}
	// Acked, not left to AckWait: nothing pending, nothing redelivered, even
	// after AckWait has passed. (Only waiting can show that nothing comes back.)
	b.waitFor("inputs acked", 5*time.Second, func() bool { return b.consumerInfo().NumAckPending == 0 })
	time.Sleep(1500 * time.Millisecond)
	if info := b.consumerInfo(); info.NumRedelivered != 0 || info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer after AckWait: redelivered %d, ack pending %d, pending %d", info.NumRedelivered, info.NumAckPending, info.NumPending)
	}
	b.results.ExactlyOne(t, []string{"evt-200", "evt-100"})
}

// Acceptance 5: invalid events fail as invalid_event without a Graph call,
// and the next good event still succeeds.
func TestInvalidEventsFailWithoutGraphCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	bad := map[string]string{
		"bad-json":    `{"waba_id": `,
		"letters":     `{"waba_id": "12ab"}`,
		"path":        `{"waba_id": "../../me"}`,
		"task":        `{"waba_id": "1", "tasks": ["OWNER"]}`,
		"big":         `{"waba_id": "1", "pad": "` + strings.Repeat("x", 70<<10) + `"}`,
		"number":      `{"waba_id": 102290129340398}`,
		"not-object":  `[1, 2]`,
		"binary-junk": "\x00\xff\xfe",
	}
	for id, payload := range bad {
		b.publish(id, []byte(payload))
	}
	b.start()
	b.waitResults(len(bad), 20*time.Second)
	if n := len(b.graph.Requests()); n != 0 {
		t.Fatalf("%d Graph calls for invalid events, want 0", n)
	}
	for id, payload := range bad {
		f := b.results.Failed(id)
		if len(f) != 1 || f[0].Error.Kind != events.KindInvalidEvent || f[0].Error.Message == "" {
			t.Errorf("%s: %+v", id, f)
			continue
		}
		if id != "big" && string(f[0].Replayable()) != payload && !strings.HasPrefix(payload, "\x00") {
			t.Errorf("%s: failed event carries %q, want the input as received", id, f[0].Replayable())
		}
	}
	good := newWABAs(t, b.graph, 0, 1)[0]
	b.emit("evt-good", good, nil)
	b.waitResults(len(bad)+1, 20*time.Second)
	if s := b.results.Succeeded("evt-good"); len(s) != 1 {
		t.Errorf("good event after invalid ones: %+v", b.results.Failed("evt-good"))
	}
	b.waitFor("invalid inputs terminated", 5*time.Second, func() bool { return b.consumerInfo().NumAckPending == 0 })
}

// Acceptance 7: a Graph outage with events queued opens the breaker; calls
// stay bounded by the breaker, no event fails or runs out of deliveries,
// all succeed after.
func TestOutageOpensBreakerAndLosesNothing(t *testing.T) {
	t.Parallel()
	const events = 40
	b := setup(t, map[string]string{"WORKER_MAX_DELIVER": "3", "WORKER_BREAKER_OPEN_TIMEOUT": "200ms"})
	ids := newWABAs(t, b.graph, 0, events)
	b.graph.SetOutage(emulator.OutageHTML)
	b.emitAll(ids)
	b.start()
	b.waitFor("the breaker to pause intake", 20*time.Second, func() bool {
		return b.worker().Status().Paused == wabatype.PauseBreaker
	})
	// Let the outage last several open periods: at least 5 probes.
	b.waitFor("5 probes", 20*time.Second, func() bool { return b.graph.Count(graph.OpListSystemUsers) >= 5 })
	calls := len(b.graph.Requests())
	probes := b.graph.Count(graph.OpListSystemUsers)
	// Each of the 8 slots may have one call in flight when the breaker trips,
	// after the 5 failures that trip it; then only probes.
	if bound := 8 + 5 + probes; calls > bound {
		t.Errorf("%d Graph calls during the outage (%d probes), want at most %d: not bounded by the breaker", calls, probes, bound)
	}
	if b.results.FailedCount() != 0 {
		t.Fatalf("events failed during the outage")
	}
	b.graph.SetOutage(emulator.OutageOff)
	b.waitResults(events, 60*time.Second)
	for _, id := range ids {
		s := b.results.Succeeded("evt-" + id)
		if len(s) != 1 {
			t.Errorf("WABA %s: %+v / %+v", id, s, b.results.Failed("evt-"+id))
		} else if s[0].Attempts > 3 {
			t.Errorf("WABA %s took %d deliveries", id, s[0].Attempts)
		}
	}
}

// Acceptance 8: a rejected token (from a file) fails no event; once the file
// holds a good token, all succeed without a restart.
func TestRejectedTokenPausesUntilTheFileIsFixed(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("revoked-token-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := setup(t, map[string]string{"GRAPH_ACCESS_TOKEN": "-", "GRAPH_ACCESS_TOKEN_FILE": tokenFile})
	ids := newWABAs(t, b.graph, 0, 10)
	b.emitAll(ids)
	b.start()
	b.waitFor("the credentials pause", 20*time.Second, func() bool {
		return b.worker().Status().Paused == wabatype.PauseCredentials
	})
	b.waitFor("3 probes", 20*time.Second, func() bool { return b.graph.Count(graph.OpListSystemUsers) >= 3 })
	if n := b.results.Count(); n != 0 {
		t.Fatalf("%d results while the token is rejected, want none", n)
	}
	if err := os.WriteFile(tokenFile, []byte(emulator.DevAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.waitResults(len(ids), 60*time.Second)
	if b.results.FailedCount() != 0 {
		t.Errorf("events failed for a rejected token")
	}
	if b.worker().Status().Paused != wabatype.NoPause {
		t.Errorf("still paused after the token was fixed")
	}
	if strings.Count(b.logs.String(), "rejected the access token") != 1 {
		t.Errorf("want one clear log line about the rejected token")
	}
}

// The verification retries until a late assignment shows.
func TestVerificationWaitsForLateVisibility(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.graph.SetVisibilityDelay(300 * time.Millisecond)
	b.emit("evt-late", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	if s := b.results.Succeeded("evt-late"); len(s) != 1 {
		t.Fatalf("late visibility: %+v", b.results.Failed("evt-late"))
	}
	if n := b.graph.CountFor(graph.OpAssignUser, id); n != 1 {
		t.Errorf("%d POSTs, want 1 (verification must re-read, not re-post)", n)
	}
}

// An assignment that never shows fails as verification_failed.
func TestVerificationFailsWhenTheAssignmentNeverShows(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_RETRY_MAX_ELAPSED": "500ms"})
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.graph.SetVisibilityDelay(time.Hour)
	b.emit("evt-never", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	f := b.results.Failed("evt-never")
	if len(f) != 1 || f[0].Error.Kind != events.KindVerificationFailed {
		t.Fatalf("got %+v", f)
	}
}

// A POST answered with code 100 "already assigned" is verified, not failed.
func TestAlreadyAssignedCode100IsVerified(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.graph.InjectFault(graph.OpAssignUser, emulator.Fault{Object: id, Code: 100, Message: "(#100) The user is already assigned to this asset", Apply: true})
	b.emit("evt-100", id, nil)
	b.start()
	b.waitResults(1, 20*time.Second)
	if s := b.results.Succeeded("evt-100"); len(s) != 1 || !s[0].AlreadyAssigned {
		t.Fatalf("got %+v / %+v", s, b.results.Failed("evt-100"))
	}
}

// Transient failures on every delivery end, on the last, in one
// retries_exhausted event.
func TestRetriesExhaustedOnTheLastDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_MAX_DELIVER": "2", "WORKER_RETRY_MAX_ELAPSED": "200ms", "WORKER_RETRY_MAX": "50ms"})
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Object: id, Code: 2, IsTransient: true, Times: -1})
	b.emit("evt-x", id, nil)
	b.start()
	b.waitResults(1, 30*time.Second)
	f := b.results.Failed("evt-x")
	if len(f) != 1 || f[0].Error.Kind != events.KindRetriesExhausted || !f[0].Error.Retryable || f[0].Attempts != 2 {
		t.Fatalf("got %+v", f)
	}
}

// Graph answering 200 with an HTML page on every call for one WABA opens the
// breaker until the event's deliveries run out: its retries_exhausted event
// names what Graph answered, not only the breaker.
func TestRetriesExhaustedNamesTheHTMLGraphSent(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_MAX_DELIVER": "2"})
	id := newWABAs(t, b.graph, 0, 1)[0]
	b.graph.InjectFault(graph.OpListAssignedUsers, emulator.Fault{Object: id, Status: 200, HTML: emulator.ErrorPage, Times: -1})
	b.emit("evt-html", id, nil)
	b.start()
	b.waitResults(1, 60*time.Second)
	f := b.results.Failed("evt-html")
	if len(f) != 1 || f[0].Error.Kind != events.KindRetriesExhausted || f[0].Attempts != 2 {
		t.Fatalf("got %+v", f)
	}
	for _, want := range []string{"circuit breaker is open", "last Graph error: graph list_assigned_users: HTTP 200: ", "Sorry, something went wrong."} {
		if !strings.Contains(f[0].Error.Message, want) {
			t.Errorf("message %q lacks %q", f[0].Error.Message, want)
		}
	}
}

// A SYSTEM_USER_NAME that names nobody stops the start, naming the variable.
func TestUnknownSystemUserNameStopsTheStart(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"SYSTEM_USER_ID": "-", "SYSTEM_USER_NAME": "nobody"})
	cfg, err := config.Load(nil, config.MapEnv(b.env), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = app.Run(t.Context(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "SYSTEM_USER_NAME" {
		t.Fatalf("got %v, want a configuration error naming SYSTEM_USER_NAME", err)
	}
}

// A replayed input that fails again gets a failed result of its own: the
// plain <event_id>.failed id would be dropped as a duplicate within the
// dedupe window, leaving no trace of the second failure.
func TestReplayedInputGetsItsOwnResult(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const notShared = "888888888888888"
	payload := []byte(`{"id": "evt-r", "waba_id": "` + notShared + `"}`)
	b.publish("evt-r", payload)
	b.start()
	b.waitFor("the first failure", 20*time.Second, func() bool { return len(b.results.Failed("evt-r")) == 1 })
	msg := nats.NewMsg("waba.shared")
	msg.Data = payload
	msg.Header.Set(wabatype.HeaderReplayOf, "42")
	if _, err := b.js.PublishMsg(t.Context(), msg, jetstream.WithMsgID("evt-r.replay.42")); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the replay's failure", 20*time.Second, func() bool { return len(b.results.Failed("evt-r")) == 2 })
}
