package emulator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wabaworker/waba-worker/internal/graph"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	ver          = "v25.0"
	bizID        = "111000111"
	adminID      = "1001001001001001"
	readerID     = "1001001001001002"
	adminTok     = "admin-token"
	readTok      = "read-token"
	wabaA        = "500000000000001" // shared with bizID, nobody assigned
	wabaB        = "500000000000002" // shared with bizID, admin holds MANAGE
	otherBizID   = "222000222"
	otherAdminID = "2002002002002001"
	otherTok     = "other-token"
	otherWABA    = "600000000000001" // shared with otherBizID only
)

func testSeed() Seed {
	return Seed{Businesses: []Business{
		{
			ID: bizID, Name: "BSP",
			SystemUsers: []SystemUser{
				{ID: adminID, Name: "waba-worker", Role: RoleAdmin, Token: adminTok},
				{ID: readerID, Name: "reader", Role: RoleEmployee, Token: readTok},
			},
			WABAs: []WABA{
				{ID: wabaA, Name: "Customer A"},
				{ID: wabaB, Name: "Customer B", Assigned: map[string][]string{adminID: {"MANAGE"}}},
			},
		},
		{
			ID: otherBizID, Name: "Other BSP",
			SystemUsers: []SystemUser{{ID: otherAdminID, Name: "other", Role: RoleAdmin, Token: otherTok}},
			WABAs:       []WABA{{ID: otherWABA}},
		},
	}}
}

// testBundle is one emulator and a client for it.
type testBundle struct {
	srv    *Server
	client *http.Client
}

func setup(t *testing.T, edit ...func(*Seed)) *testBundle {
	t.Helper()
	seed := testSeed()
	for _, e := range edit {
		e(&seed)
	}
	srv := newTestServer(t, seed)
	return &testBundle{srv: srv, client: srv.Client()}
}

// result is one answer, read in full.
type result struct {
	status int
	header http.Header
	body   []byte
}

// graphError decodes the answer's Graph error object, failing the test when
// there is none.
func (r *result) graphError(t *testing.T) apiError {
	t.Helper()
	var env struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.Error == nil {
		t.Fatalf("want a Graph error, got HTTP %d %s", r.status, r.body)
	}
	return *env.Error
}

func (r *result) decode(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("want HTTP 200, got %d %s", r.status, r.body)
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantError checks status, code, subcode and type of a Graph error and
// returns it.
func (r *result) wantError(t *testing.T, status, code, subcode int, typ string) apiError {
	t.Helper()
	e := r.graphError(t)
	if r.status != status || e.Code != code || e.Subcode != subcode || (typ != "" && e.Type != typ) {
		t.Fatalf("want HTTP %d code %d/%d %s, got HTTP %d %s", status, code, subcode, typ, r.status, r.body)
	}
	if e.TraceID == "" || r.header.Get("x-fb-trace-id") != e.TraceID {
		t.Fatalf("fbtrace_id %q and x-fb-trace-id %q should match", e.TraceID, r.header.Get("x-fb-trace-id"))
	}
	if subcode == 0 && strings.Contains(string(r.body), "error_subcode") {
		t.Fatalf("error_subcode 0 should be omitted: %s", r.body)
	}
	return e
}

type req struct {
	method string
	path   string // without the version, e.g. "/111/system_users"; a full URL is used as is
	token  string // sent as Bearer when set
	query  url.Values
	form   url.Values
	ctx    context.Context
	client *http.Client
}

func (b *testBundle) do(t *testing.T, q req) (*result, error) {
	t.Helper()
	u := q.path
	if !strings.HasPrefix(u, "http") {
		u = b.srv.URL() + "/" + ver + q.path
	}
	if len(q.query) > 0 {
		u += "?" + q.query.Encode()
	}
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	ctx := q.ctx
	if ctx == nil {
		ctx = t.Context()
	}
	hr, err := http.NewRequestWithContext(ctx, q.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.token != "" {
		hr.Header.Set("Authorization", "Bearer "+q.token)
	}
	c := q.client
	if c == nil {
		c = b.client
	}
	resp, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (b *testBundle) must(t *testing.T, q req) *result {
	t.Helper()
	r, err := b.do(t, q)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	return r
}

func (b *testBundle) get(t *testing.T, path, tok string, query url.Values) *result {
	t.Helper()
	return b.must(t, req{method: http.MethodGet, path: path, token: tok, query: query})
}

func (b *testBundle) post(t *testing.T, path, tok string, form url.Values) *result {
	t.Helper()
	return b.must(t, req{method: http.MethodPost, path: path, token: tok, form: form})
}

func (b *testBundle) assign(t *testing.T, waba, tok, user, tasks string) *result {
	t.Helper()
	return b.post(t, "/"+waba+"/assigned_users", tok, url.Values{"user": {user}, "tasks": {tasks}})
}

type assignedPage struct {
	Data   []graph.AssignedUser `json:"data"`
	Paging *paging              `json:"paging"`
}

type systemUsersPage struct {
	Data   []graph.SystemUser `json:"data"`
	Paging *paging            `json:"paging"`
}

// assigned reads every page of a WABA's assigned users (for business bizID)
// and returns user id -> tasks.
func (b *testBundle) assigned(t *testing.T, waba string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	next := ""
	for range 1000 {
		var r *result
		if next == "" {
			r = b.get(t, "/"+waba+"/assigned_users", adminTok, url.Values{"business": {bizID}})
		} else {
			r = b.must(t, req{method: http.MethodGet, path: next, token: adminTok})
		}
		var p assignedPage
		r.decode(t, &p)
		for _, u := range p.Data {
			out[u.ID] = u.Tasks
		}
		if p.Paging == nil || p.Paging.Next == "" {
			return out
		}
		next = p.Paging.Next
	}
	t.Fatal("paging did not end")
	return nil
}

// eventually polls cond every few milliseconds until it holds or the bound
// passes.
func eventually(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newTestServer is graphtest.NewTestServer, which this package cannot import.
func newTestServer(t testing.TB, seed Seed, opts ...Option) *Server {
	t.Helper()
	s, err := Start(seed, opts...)
	if err != nil {
		t.Fatalf("emulator.Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
