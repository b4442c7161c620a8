package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/graph"
)

func TestLatency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const d = 100 * time.Millisecond
	b.srv.SetLatency(d)

	// Concurrent requests sleep side by side: no lock is held while waiting.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			r, err := b.do(t, req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: adminTok})
			if err == nil && r.status != http.StatusOK {
				err = errors.New(string(r.body))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < d || el > 6*d {
		t.Fatalf("8 concurrent requests with %v latency took %v", d, el)
	}

	// A client that gives up gets its error at once; the POST took effect
	// all the same, as it would at Meta.
	b.srv.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := b.do(t, req{method: http.MethodPost, path: "/" + wabaA + "/assigned_users", token: adminTok,
		form: url.Values{"user": {adminID}, "tasks": {`["MANAGE"]`}}, ctx: ctx})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if !slices.Equal(b.srv.Assignments(wabaA)[adminID], []string{"MANAGE"}) {
		t.Fatal("the POST should have taken effect")
	}
	b.srv.SetLatency(0)
}

func TestFaultErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		fault             Fault
		status, code, sub int
		typ, msg          string
		transient         bool
		retryAfter, ctype string
		bucMinutes        int
		rawBody           string
	}{
		{name: "zero fault", fault: Fault{},
			status: 500, code: 2, typ: "OAuthException", msg: "An unexpected error has occurred. Please retry your request later."},
		{name: "503 with code 2 transient", fault: Fault{Status: 503, Code: 2, IsTransient: true},
			status: 503, code: 2, typ: "OAuthException", msg: "An unexpected error has occurred. Please retry your request later.", transient: true},
		{name: "code 1", fault: Fault{Code: 1, IsTransient: true},
			status: 500, code: 1, typ: "OAuthException", msg: "An unknown error occurred", transient: true},
		{name: "190 defaults to 401", fault: Fault{Code: 190, Subcode: 460},
			status: 401, code: 190, sub: 460, typ: "OAuthException", msg: "Invalid OAuth access token - Cannot parse access token"},
		{name: "200 defaults to 403", fault: Fault{Code: 200},
			status: 403, code: 200, typ: "OAuthException", msg: "(#200) Permissions error"},
		{name: "custom", fault: Fault{Status: 400, Code: 100, Subcode: 2494010, Type: "GraphMethodException", Message: "(#100) custom"},
			status: 400, code: 100, sub: 2494010, typ: "GraphMethodException", msg: "(#100) custom"},
		{name: "429 code 130429 with Retry-After", fault: Fault{Status: 429, Code: 130429, IsTransient: true, RetryAfter: "3"},
			status: 429, code: 130429, typ: "OAuthException", msg: "(#130429) Rate limit hit", transient: true, retryAfter: "3"},
		{name: "code 4 with BUC minutes", fault: Fault{Code: 4, BUCEstimatedMinutes: 7},
			status: 400, code: 4, typ: "OAuthException", msg: "(#4) Application request limit reached", bucMinutes: 7},
		{name: "2xx holding an error", fault: Fault{Status: 200, Code: 100, Message: "(#100) odd"},
			status: 200, code: 100, typ: "OAuthException", msg: "(#100) odd"},
		{name: "HTML", fault: Fault{HTML: "<html>bad gateway</html>"},
			status: 502, ctype: "text/html", rawBody: "<html>bad gateway</html>"},
		{name: "HTML 504", fault: Fault{Status: 504, HTML: ErrorPage},
			status: 504, ctype: "text/html", rawBody: ErrorPage},
		{name: "raw body", fault: Fault{Status: 200, Body: `{"data":[`},
			status: 200, ctype: "application/json", rawBody: `{"data":[`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.srv.InjectFault(graph.OpListSystemUsers, tc.fault)
			r := b.get(t, "/"+bizID+"/system_users", adminTok, nil)
			if tc.rawBody != "" {
				if r.status != tc.status || string(r.body) != tc.rawBody || !strings.HasPrefix(r.header.Get("Content-Type"), tc.ctype) {
					t.Fatalf("got HTTP %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
				}
			} else {
				e := r.wantError(t, tc.status, tc.code, tc.sub, tc.typ)
				if e.Message != tc.msg || e.IsTransient != tc.transient {
					t.Fatalf("got %s", r.body)
				}
				if got := r.header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				var buc map[string][]graph.BusinessUseCaseUsage
				if err := json.Unmarshal([]byte(r.header.Get("X-Business-Use-Case-Usage")), &buc); err != nil {
					t.Fatal(err)
				}
				if got := buc[bizID][0].EstimatedTimeToRegainAccess; got != tc.bucMinutes {
					t.Errorf("estimated_time_to_regain_access = %d, want %d", got, tc.bucMinutes)
				}
			}
			// One time only by default.
			if r := b.get(t, "/"+bizID+"/system_users", adminTok, nil); r.status != http.StatusOK {
				t.Fatalf("second request: %d %s", r.status, r.body)
			}
			if rq := b.srv.Requests()[0]; rq.Fault != "fault" || rq.Status != tc.status {
				t.Errorf("record: %+v", rq)
			}
		})
	}
}

func TestFaultQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	list := func() int { return b.get(t, "/"+bizID+"/system_users", adminTok, nil).status }
	post := func(waba string) int { return b.assign(t, waba, adminTok, adminID, `["MANAGE"]`).status }

	// FIFO per op; "*" matches every op; other ops pass by.
	b.srv.InjectFault(graph.OpListSystemUsers, Fault{Status: 500, Times: 2})
	b.srv.InjectFault("*", Fault{Status: 502})
	b.srv.InjectFault(graph.OpListSystemUsers, Fault{Status: 503})
	if got := []int{post(wabaA), list(), list(), list(), list()}; !slices.Equal(got, []int{502, 500, 500, 503, 200}) {
		t.Fatalf("statuses = %v", got)
	}
	if b.srv.PendingFaults() != 0 {
		t.Fatalf("pending = %d", b.srv.PendingFaults())
	}

	// Until cleared.
	b.srv.InjectFault(graph.OpAssignUser, Fault{Status: 500, Times: -1})
	for range 3 {
		if got := post(wabaA); got != 500 {
			t.Fatalf("forever fault: %d", got)
		}
	}
	b.srv.ClearFaults()
	if got := post(wabaA); got != 200 {
		t.Fatalf("after ClearFaults: %d", got)
	}

	// Limited to one object.
	b.srv.InjectFault(graph.OpAssignUser, Fault{Status: 500, Object: wabaB})
	if got := []int{post(wabaA), post(wabaB)}; !slices.Equal(got, []int{200, 500}) {
		t.Fatalf("object fault: %v", got)
	}
}

func TestFaultApply(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.InjectFault(graph.OpAssignUser, Fault{Status: 500, Code: 2, IsTransient: true, Apply: true})
	b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`).wantError(t, 500, 2, 0, "OAuthException")
	if !slices.Equal(b.srv.Assignments(wabaA)[adminID], []string{"MANAGE"}) {
		t.Fatal("an Apply fault should let the POST take effect")
	}
	b.srv.InjectFault(graph.OpAssignUser, Fault{Status: 500})
	b.assign(t, wabaA, adminTok, adminID, `["DEVELOP"]`)
	if !slices.Equal(b.srv.Assignments(wabaA)[adminID], []string{"MANAGE"}) {
		t.Fatal("a plain fault should change nothing")
	}
}

func TestFaultHang(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.InjectFault(graph.OpListAssignedUsers, Fault{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.do(t, req{method: http.MethodGet, path: "/" + wabaA + "/assigned_users", token: adminTok,
		query: url.Values{"business": {bizID}}, ctx: ctx})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("hang outlived the context by far: %v", el)
	}
	if rq := b.srv.Requests()[0]; !rq.Hung || rq.Status != 0 || rq.Op != graph.OpListAssignedUsers {
		t.Errorf("record: %+v", rq)
	}
	// A hang with a client that never gives up ends when the server closes
	// (t.Cleanup): that is checked by the test not hanging.
	b.srv.InjectFault(graph.OpListSystemUsers, Fault{Hang: true})
	go func() {
		_, _ = b.do(t, req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: adminTok, ctx: context.Background()})
	}()
	eventually(t, 5*time.Second, func() bool { return b.srv.Count(graph.OpListSystemUsers) == 1 })
}

func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := freshClient()
	defer c.CloseIdleConnections()
	for _, op := range []string{graph.OpAssignUser, graph.OpListSystemUsers} {
		b.srv.InjectFault(op, Fault{Drop: true})
	}
	_, err := b.do(t, req{method: http.MethodPost, path: "/" + wabaA + "/assigned_users", token: adminTok,
		form: url.Values{"user": {adminID}, "tasks": {`["MANAGE"]`}}, client: c})
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a transport error, got %v", err)
	}
	_, err = b.do(t, req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: adminTok, client: c})
	if err == nil {
		t.Fatal("want a transport error on GET")
	}
	if len(b.srv.Assignments(wabaA)) != 0 {
		t.Fatal("a dropped POST should change nothing")
	}
	for _, rq := range b.srv.Requests() {
		if !rq.Dropped || rq.Status != 0 {
			t.Errorf("record: %+v", rq)
		}
	}
}

func TestOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetOutage(OutageHTML)
	for _, r := range []*result{
		b.get(t, "/"+bizID+"/system_users", adminTok, nil),
		b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`),
		b.get(t, "/nonsense", "", nil),
	} {
		if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(r.body), "Sorry, something went wrong.") {
			t.Fatalf("outage answer: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	if len(b.srv.Assignments(wabaA)) != 0 {
		t.Fatal("a POST during an outage changed state")
	}

	b.srv.SetOutage(OutageDrop)
	c := freshClient()
	defer c.CloseIdleConnections()
	if _, err := b.do(t, req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: adminTok, client: c}); err == nil {
		t.Fatal("drop outage: want a transport error")
	}

	b.srv.SetOutage(OutageOff)
	if r := b.get(t, "/"+bizID+"/system_users", adminTok, nil); r.status != http.StatusOK {
		t.Fatalf("after outage: %d", r.status)
	}
	if got := b.srv.RequestsFor("*"); got[0].Fault != "outage" || got[len(got)-1].Fault != "" {
		t.Errorf("records: first %+v, last %+v", got[0], got[len(got)-1])
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetRateLimit(3, 10*time.Minute)
	list := func() *result { return b.get(t, "/"+bizID+"/system_users", adminTok, nil) }
	for range 3 {
		if r := list(); r.status != http.StatusOK {
			t.Fatalf("within limit: %d", r.status)
		}
	}
	r := list()
	e := r.wantError(t, http.StatusBadRequest, 80008, 2446079, "OAuthException")
	if !e.IsTransient || !strings.HasPrefix(e.Message, "(#80008) There have been too many calls to this WhatsApp Business account.") {
		t.Fatalf("80008: %s", r.body)
	}
	var buc map[string][]graph.BusinessUseCaseUsage
	if err := json.Unmarshal([]byte(r.header.Get("X-Business-Use-Case-Usage")), &buc); err != nil {
		t.Fatal(err)
	}
	if u := buc[bizID][0]; u.EstimatedTimeToRegainAccess != 9 || u.CallCount < 100 {
		t.Fatalf("BUC = %+v, want 9 minutes and call_count >= 100", u)
	}
	if rq := b.srv.Requests()[3]; rq.Fault != "rate_limit" || rq.Code != 80008 {
		t.Errorf("record: %+v", rq)
	}

	b.srv.SetRateLimit(0, 0)
	if r := list(); r.status != http.StatusOK {
		t.Fatalf("disabled: %d", r.status)
	}

	// A short window opens again by itself.
	b.srv.SetRateLimit(1, 50*time.Millisecond)
	list()
	if r := list(); r.status != http.StatusBadRequest {
		t.Fatalf("over a short window: %d", r.status)
	} else if r.graphError(t).Code != 80008 {
		t.Fatalf("over a short window: %s", r.body)
	}
	eventually(t, 2*time.Second, func() bool { return list().status == http.StatusOK })
}

func TestVisibilityDelay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const d = 150 * time.Millisecond
	b.srv.SetVisibilityDelay(d)
	start := time.Now()
	if r := b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("POST: %d", r.status)
	}
	if got := b.assigned(t, wabaA); len(got) != 0 && time.Since(start) < d {
		t.Fatalf("visible at once: %v", got)
	}
	if !slices.Equal(b.srv.Assignments(wabaA)[adminID], []string{"MANAGE"}) {
		t.Fatal("Assignments should show the pending assignment")
	}
	eventually(t, 3*time.Second, func() bool { return len(b.assigned(t, wabaA)[adminID]) > 0 })
	if el := time.Since(start); el < d {
		t.Fatalf("visible after %v, before the %v delay", el, d)
	}

	// A replacement is pending too: the old tasks show until it is visible.
	b.assign(t, wabaA, adminTok, adminID, `["DEVELOP"]`)
	if got := b.assigned(t, wabaA)[adminID]; !slices.Equal(got, []string{"MANAGE"}) && !slices.Equal(got, []string{"DEVELOP"}) {
		t.Fatalf("during replacement: %v", got)
	}
	eventually(t, 3*time.Second, func() bool { return slices.Equal(b.assigned(t, wabaA)[adminID], []string{"DEVELOP"}) })
}

func TestAlreadyAssignedError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Off (the default): Meta's plain success.
	if r := b.assign(t, wabaB, adminTok, adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("default: %d %s", r.status, r.body)
	}
	b.srv.SetAlreadyAssignedError(true)
	e := b.assign(t, wabaB, adminTok, adminID, `["MANAGE"]`).wantError(t, http.StatusBadRequest, 100, 0, "OAuthException")
	if !strings.Contains(e.Message, "already assigned") {
		t.Fatalf("message = %q", e.Message)
	}
	// A POST that adds a task is not "already assigned".
	if r := b.assign(t, wabaB, adminTok, adminID, `["MANAGE","DEVELOP"]`); r.status != http.StatusOK {
		t.Fatalf("new task: %d %s", r.status, r.body)
	}
	if got := b.srv.Assignments(wabaB)[adminID]; !slices.Equal(got, []string{"MANAGE", "DEVELOP"}) {
		t.Fatalf("tasks = %v", got)
	}
}

func TestRequestRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.get(t, "/"+wabaA+"/assigned_users", adminTok, url.Values{"business": {bizID}})
	b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`)
	b.assign(t, wabaA, readTok, readerID, `["MANAGE"]`)
	b.assign(t, wabaB, adminTok, adminID, `["MANAGE"]`)
	b.get(t, "/nope", adminTok, nil)

	reqs := b.srv.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d records", len(reqs))
	}
	r0, r1, r2 := reqs[0], reqs[1], reqs[2]
	if r0.Method != http.MethodGet || r0.Op != graph.OpListAssignedUsers || r0.Path != "/"+ver+"/"+wabaA+"/assigned_users" ||
		r0.Object != wabaA || r0.Version != ver || r0.Query.Get("business") != bizID || r0.Status != 200 || r0.Time.IsZero() {
		t.Errorf("GET record: %+v", r0)
	}
	if r1.Op != graph.OpAssignUser || r1.Form.Get("user") != adminID || r1.Form.Get("tasks") != `["MANAGE"]` ||
		r1.Status != 200 || r1.Code != 0 || !r1.AuthHeader || r1.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("POST record: %+v", r1)
	}
	if r2.Status != 403 || r2.Code != 200 || r2.TraceID == "" {
		t.Errorf("refused POST record: %+v", r2)
	}
	if reqs[4].Op != OpReadNode || reqs[4].Code != 803 || reqs[4].Status != 404 {
		t.Errorf("unknown path record: %+v", reqs[4])
	}
	if got := b.srv.CountFor(graph.OpAssignUser, wabaA); got != 2 {
		t.Errorf("CountFor(assign, A) = %d", got)
	}
	if got := b.srv.CountFor(graph.OpAssignUser, wabaB); got != 1 {
		t.Errorf("CountFor(assign, B) = %d", got)
	}
	if b.srv.Count(graph.OpAssignUser) != 3 || b.srv.Count(graph.OpListAssignedUsers) != 1 || b.srv.Count("*") != 5 {
		t.Errorf("counts: %d %d %d", b.srv.Count(graph.OpAssignUser), b.srv.Count(graph.OpListAssignedUsers), b.srv.Count("*"))
	}
	if got := b.srv.RequestsFor(graph.OpAssignUser); len(got) != 3 {
		t.Errorf("RequestsFor = %d", len(got))
	}
	b.srv.ResetRequests()
	if len(b.srv.Requests()) != 0 || b.srv.Count("*") != 0 || b.srv.CountFor(graph.OpAssignUser, wabaA) != 0 {
		t.Error("ResetRequests left something")
	}
}

func TestRecordLimit(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, testSeed(), WithRecordLimit(3))
	b := &testBundle{srv: srv, client: srv.Client()}
	for range 10 {
		b.get(t, "/"+bizID+"/system_users", adminTok, nil)
	}
	if n := len(srv.Requests()); n < 3 || n > 6 {
		t.Errorf("kept %d records, want 3..6", n)
	}
	if srv.Count("*") != 10 {
		t.Errorf("Count = %d, want 10", srv.Count("*"))
	}
}

func TestShareUnshare(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(2))
	const newWABA = "500000000000099"
	if err := b.srv.AddWABA(bizID, newWABA); err != nil {
		t.Fatal(err)
	}
	if got := b.assigned(t, newWABA); len(got) != 2 {
		t.Fatalf("fillers on a new WABA: %v", got)
	}
	if r := b.assign(t, newWABA, adminTok, adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("POST on new WABA: %d", r.status)
	}
	if err := b.srv.Unshare(bizID, newWABA); err != nil {
		t.Fatal(err)
	}
	b.get(t, "/"+newWABA+"/assigned_users", adminTok, url.Values{"business": {bizID}}).wantError(t, 400, 100, 33, "GraphMethodException")
	b.assign(t, newWABA, adminTok, adminID, `["MANAGE"]`).wantError(t, 400, 100, 33, "GraphMethodException")
	if len(b.srv.Assignments(newWABA)) != 0 {
		t.Fatal("unsharing should drop the business's assignments")
	}
	if err := b.srv.Share(bizID, newWABA); err != nil {
		t.Fatal(err)
	}
	if r := b.assign(t, newWABA, adminTok, adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("POST after Share: %d", r.status)
	}
	// Shared with two businesses: each sees only its own users.
	if err := b.srv.Share(otherBizID, newWABA); err != nil {
		t.Fatal(err)
	}
	r := b.get(t, "/"+newWABA+"/assigned_users", otherTok, url.Values{"business": {otherBizID}})
	if string(r.body) != `{"data":[]}` {
		t.Fatalf("other business sees %s", r.body)
	}

	if err := b.srv.Assign(wabaA, readerID, "VIEW_COST"); err != nil {
		t.Fatal(err)
	}
	if got := b.assigned(t, wabaA)[readerID]; !slices.Equal(got, []string{"VIEW_COST"}) {
		t.Fatalf("Assign: %v", got)
	}
	for _, err := range []error{
		b.srv.AddWABA("404", "1"), b.srv.AddWABA(bizID, "x"), b.srv.Share(bizID, "404"),
		b.srv.Unshare(otherBizID, wabaA), b.srv.Assign(wabaA, otherAdminID, "MANAGE"), b.srv.Assign(wabaA, readerID, "BAD"),
	} {
		if err == nil {
			t.Error("want an error")
		}
	}

	if err := b.srv.AddSystemUser(bizID, SystemUser{ID: "1001001001001003", Name: "late", Role: RoleAdmin, Token: "late-tok"}); err != nil {
		t.Fatal(err)
	}
	if r := b.assign(t, wabaA, "late-tok", "1001001001001003", `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("added system user: %d %s", r.status, r.body)
	}
}

func TestLogger(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	const secret = "s3cret"
	srv := newTestServer(t, testSeed(), WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	srv.SetAppSecret(secret)
	b := &testBundle{srv: srv, client: srv.Client()}
	now := time.Now().Unix()
	q := url.Values{"appsecret_proof": {AppSecretProof(secret, adminTok, now)}, "appsecret_time": {itoa(now)}, "access_token": {adminTok}}
	b.get(t, "/"+bizID+"/system_users", "", q)
	b.get(t, "/"+bizID+"/system_users", "nope", nil)

	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line a request, got %q", out)
	}
	for _, secret := range []string{adminTok, q.Get("appsecret_proof"), "nope"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds a secret: %s", out)
		}
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &line); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"method": "GET", "path": "/" + ver + "/" + bizID + "/system_users", "op": graph.OpListSystemUsers, "status": 401.0, "code": 190.0} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Error("no duration")
	}
	if _, err := New(testSeed(), WithLogger(nil)); err == nil {
		t.Error("WithLogger(nil) should fail")
	}
}

// TestConcurrentUse hammers every control and edge at once for the race
// detector.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(30))
	var wg sync.WaitGroup
	// Helpers that fail the test may not run off the test goroutine: use
	// plain requests and check the outcome at the end.
	post := req{method: http.MethodPost, path: "/" + wabaA + "/assigned_users", token: adminTok,
		form: url.Values{"user": {adminID}, "tasks": {`["MANAGE"]`}}}
	list := req{method: http.MethodGet, path: "/" + wabaA + "/assigned_users", token: adminTok,
		query: url.Values{"business": {bizID}, "limit": {"5"}}}
	users := req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: readTok}
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				switch (i + j) % 4 {
				case 0:
					_, _ = b.do(t, post)
				case 1:
					_, _ = b.do(t, list)
				case 2:
					_, _ = b.do(t, users)
				case 3:
					b.srv.Requests()
					b.srv.Assignments(wabaA)
					b.srv.CountFor(graph.OpAssignUser, wabaA)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			b.srv.SetLatency(time.Millisecond)
			b.srv.SetVisibilityDelay(time.Millisecond)
			b.srv.SetEmptyPages(1)
			b.srv.InjectFault("*", Fault{Status: 500})
			b.srv.SetRateLimit(1000, time.Second)
			b.srv.SetAlreadyAssignedError(true)
			b.srv.RevokeToken("none")
			b.srv.SetEmptyPages(0)
			b.srv.SetLatency(0)
			b.srv.SetVisibilityDelay(0)
		}
	})
	wg.Wait()
	if got := b.srv.Count(graph.OpAssignUser); got != 50 {
		t.Fatalf("%d POSTs recorded, want 50", got)
	}
	b.srv.ClearFaults()
	b.srv.SetAlreadyAssignedError(false)
	b.srv.SetRateLimit(0, 0)
	if r := b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("after the storm: %d %s", r.status, r.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCloseEndsWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetLatency(time.Hour)
	b.srv.InjectFault(graph.OpListAssignedUsers, Fault{Hang: true})
	errs := make(chan error, 2)
	go func() {
		_, err := b.do(t, req{method: http.MethodGet, path: "/" + bizID + "/system_users", token: adminTok, ctx: context.Background()})
		errs <- err
	}()
	go func() {
		_, err := b.do(t, req{method: http.MethodGet, path: "/" + wabaA + "/assigned_users", token: adminTok,
			query: url.Values{"business": {bizID}}, ctx: context.Background()})
		errs <- err
	}()
	eventually(t, 5*time.Second, func() bool { return b.srv.Count("*") == 2 })
	b.srv.Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Error("a request cut short by Close got an answer")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end a waiting request")
		}
	}
}
