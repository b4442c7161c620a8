package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewClientOptions(t *testing.T) {
	t.Parallel()
	tok := WithToken(StaticToken(testToken))
	tests := []struct {
		name    string
		opts    []Option
		wantErr string // "" for success
	}{
		{"defaults", []Option{tok}, ""},
		{"no token", nil, "token is required"},
		{"nil token", []Option{WithToken(nil)}, "token source is nil"},
		{"nil admin token", []Option{tok, WithAdminToken(nil)}, "admin token source is nil"},
		{"nil app secret", []Option{tok, WithAppSecret(nil)}, "app secret source is nil"},
		{"base with prefix", []Option{tok, WithBaseURL("http://127.0.0.1:8080/graph/")}, ""},
		{"base https", []Option{tok, WithBaseURL("https://graph.facebook.com")}, ""},
		{"base relative", []Option{tok, WithBaseURL("/graph")}, "absolute http or https"},
		{"base no scheme", []Option{tok, WithBaseURL("graph.facebook.com")}, "absolute http or https"},
		{"base ftp", []Option{tok, WithBaseURL("ftp://graph.facebook.com")}, "absolute http or https"},
		{"base no host", []Option{tok, WithBaseURL("http://")}, "no host"},
		{"base query", []Option{tok, WithBaseURL("https://graph.facebook.com/?a=b")}, "query or fragment"},
		{"base fragment", []Option{tok, WithBaseURL("https://graph.facebook.com/#x")}, "query or fragment"},
		{"base user info", []Option{tok, WithBaseURL("https://user:pass@graph.facebook.com")}, "user info"},
		{"base unparsable", []Option{tok, WithBaseURL("http://[::1")}, "not a valid URL"},
		{"version ok", []Option{tok, WithVersion("v19.0")}, ""},
		{"version no v", []Option{tok, WithVersion("25.0")}, "want the form v25.0"},
		{"version no minor", []Option{tok, WithVersion("v25")}, "want the form v25.0"},
		{"version trailing", []Option{tok, WithVersion("v25.0/..")}, "want the form v25.0"},
		{"nil http client", []Option{tok, WithHTTPClient(nil)}, "HTTP client is nil"},
		{"timeout zero", []Option{tok, WithTimeout(0)}, "must be positive"},
		{"timeout negative", []Option{tok, WithTimeout(-time.Second)}, "must be positive"},
		{"page size 100", []Option{tok, WithPageSize(100)}, ""},
		{"page size 0", []Option{tok, WithPageSize(0)}, ""},
		{"page size 101", []Option{tok, WithPageSize(101)}, "want 0 to 100"},
		{"page size negative", []Option{tok, WithPageSize(-1)}, "want 0 to 100"},
		{"max pages 0", []Option{tok, WithMaxPages(0)}, "at least 1"},
		{"nil clock", []Option{tok, WithNow(nil)}, "clock is nil"},
		{"max body 0", []Option{tok, WithMaxBodyBytes(0)}, "want 1 to"},
		{"max body huge", []Option{tok, WithMaxBodyBytes(1 << 40)}, "want 1 to"},
		{"nil observer is none", []Option{tok, WithObserver(nil)}, ""},
		{"nil option skipped", []Option{tok, nil}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tt.opts...)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewClient error: %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pass") {
				t.Errorf("error %q repeats the URL's password", err)
			}
		})
	}
}

func TestNewClientDefaults(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultBaseURL || c.version != DefaultVersion || c.timeout != 10*time.Second ||
		c.maxPages != 100 || c.pageSize != 0 || c.maxBody != 1<<20 || c.secret != nil {
		t.Errorf("defaults: base %q version %q timeout %s maxPages %d pageSize %d maxBody %d secret %v",
			c.base, c.version, c.timeout, c.maxPages, c.pageSize, c.maxBody, c.secret)
	}
	if c.admin != c.token {
		t.Error("the admin token does not default to the read token")
	}
}

func TestWithHTTPClientIsNotModified(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: time.Minute}
	c, err := NewClient(WithToken(StaticToken(testToken)), WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("NewClient changed the caller's http.Client")
	}
	if c.hc == hc || c.hc.Timeout != time.Minute || c.hc.CheckRedirect == nil {
		t.Error("the client does not work on a copy that refuses redirects")
	}
}

func TestURLLayout(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.EscapedPath()
		writeJSON(w, 200, `{"data":[]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(WithBaseURL(srv.URL+"/prefix/"), WithVersion("v21.0"),
		WithHTTPClient(srv.Client()), WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SystemUsers(t.Context(), "100200300"); err != nil {
		t.Fatal(err)
	}
	if got, want := <-seen, "/prefix/v21.0/100200300/system_users"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestPathIDsAreEscaped(t *testing.T) {
	t.Parallel()
	var hits counter
	seen := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.inc()
		seen <- r.RequestURI
		writeJSON(w, 200, `{"data":[]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()), WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// An id that holds slashes stays one path segment.
	if _, err := c.AssignedUsers(ctx, "../../me/accounts", "1?x=y#z"); err != nil {
		t.Fatal(err)
	}
	got := <-seen
	if want := "/v25.0/..%2F..%2Fme%2Faccounts/assigned_users?business=1%3Fx%3Dy%23z"; got != want {
		t.Errorf("request URI %q, want %q", got, want)
	}

	// Ids that would walk the path, or are empty, never reach the network.
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.SystemUsers(ctx, id); err == nil || Classify(err) != ClassPermanent {
			t.Errorf("SystemUsers(%q): %v (%v), want a permanent error", id, err, Classify(err))
		}
		if _, err := c.AssignedUsers(ctx, id, "1"); err == nil {
			t.Errorf("AssignedUsers(%q): no error", id)
		}
		if _, err := c.AssignedUsers(ctx, "1", id); err == nil {
			t.Errorf("AssignedUsers(business %q): no error", id)
		}
		if _, _, err := c.FindAssignedUser(ctx, "1", "2", id); err == nil {
			t.Errorf("FindAssignedUser(user %q): no error", id)
		}
		if err := c.AssignUser(ctx, id, "1", []string{"MANAGE"}); err == nil {
			t.Errorf("AssignUser(%q): no error", id)
		}
		if err := c.AssignUser(ctx, "1", id, []string{"MANAGE"}); err == nil {
			t.Errorf("AssignUser(user %q): no error", id)
		}
		if err := c.Probe(ctx, id, false); err == nil {
			t.Errorf("Probe(%q): no error", id)
		}
	}
	if n := hits.get(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// pagedUsers serves system_users in pages keyed by the "after" cursor.
func pagedHandler(t *testing.T, pages map[string]string, afters *[]string, hits *counter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.inc()
		testMethod(t, r, http.MethodGet)
		after := r.URL.Query().Get("after")
		*afters = append(*afters, after)
		body, ok := pages[after]
		if !ok {
			t.Errorf("unexpected cursor %q", after)
			writeJSON(w, 400, `{"error":{"message":"bad cursor","type":"OAuthException","code":100}}`)
			return
		}
		writeJSON(w, 200, body)
	}
}

func TestSystemUsersFollowsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var afters []string
	var hits counter
	pages := map[string]string{
		"": `{"data":[{"id":"1","name":"alpha","role":"ADMIN"},{"id":"2","name":"beta"}],
			"paging":{"cursors":{"before":"b0","after":"c1"},"next":"https://graph.facebook.com/v25.0/100200300/system_users?after=c1"}}`,
		// An empty page that still carries a cursor and a next link: go on.
		"c1": `{"data":[],"paging":{"cursors":{"before":"b1","after":"c2"},"next":"https://graph.facebook.com/v25.0/100200300/system_users?after=c2"}}`,
		// The last page: Graph still sends cursors but no next.
		"c2": `{"data":[{"id":"3","name":"gamma","role":"EMPLOYEE"}],"paging":{"cursors":{"before":"b2","after":"c3"}}}`,
	}
	b.mux.Handle("GET /v25.0/100200300/system_users", pagedHandler(t, pages, &afters, &hits))

	users, err := b.client.SystemUsers(t.Context(), "100200300")
	if err != nil {
		t.Fatal(err)
	}
	want := []SystemUser{{"1", "alpha", "ADMIN"}, {"2", "beta", ""}, {"3", "gamma", "EMPLOYEE"}}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("users %+v, want %+v", users, want)
	}
	if want := []string{"", "c1", "c2"}; !reflect.DeepEqual(afters, want) {
		t.Errorf("cursors sent %q, want %q", afters, want)
	}
	if n := len(b.calls.all()); n != 3 {
		t.Errorf("observer saw %d calls, want 3 (one per round trip)", n)
	}
}

func TestPagingWithoutPagingObject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"data":[{"id":"9","name":"solo"}]}`)
	})
	users, err := b.client.SystemUsers(t.Context(), "1")
	if err != nil || len(users) != 1 || users[0].ID != "9" {
		t.Fatalf("SystemUsers: %+v, %v", users, err)
	}
}

func TestPagingStopsWithoutCursor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hits counter
	// A next link without a cursor: the client cannot (and will not) follow it.
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		hits.inc()
		writeJSON(w, 200, `{"data":[{"id":"9"}],"paging":{"next":"https://graph.facebook.com/v25.0/1/system_users?after=x"}}`)
	})
	if _, err := b.client.SystemUsers(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	if n := hits.get(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestPagingNeverFollowsNextURL(t *testing.T) {
	t.Parallel()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client followed paging.next to another host: %s (Authorization %q)", r.URL, r.Header.Get("Authorization"))
		writeJSON(w, 200, `{"data":[]}`)
	}))
	t.Cleanup(evil.Close)

	b := setup(t, WithAppSecret(StaticToken(testAppSecret)))
	var afters []string
	var hits counter
	pages := map[string]string{
		"":      `{"data":[{"id":"1"}],"paging":{"cursors":{"after":"QVFIU"},"next":"` + evil.URL + `/v25.0/1/system_users?after=QVFIU"}}`,
		"QVFIU": `{"data":[{"id":"2"}],"paging":{"cursors":{"after":"END"}}}`,
	}
	b.mux.Handle("GET /v25.0/1/system_users", pagedHandler(t, pages, &afters, &hits))
	users, err := b.client.SystemUsers(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || hits.get() != 2 {
		t.Errorf("users %+v after %d requests, want 2 users from 2 requests to our server", users, hits.get())
	}
}

func TestPagingLimitParameter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		opts  []Option
		limit string
	}{
		{"default sends no limit", nil, ""},
		{"page size 50", []Option{WithPageSize(50)}, "50"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.opts...)
			b.mux.HandleFunc("GET /v25.0/1/assigned_users", func(w http.ResponseWriter, r *http.Request) {
				want := url.Values{"business": {"100200300"}}
				if tt.limit != "" {
					want.Set("limit", tt.limit)
				}
				if after := r.URL.Query().Get("after"); after != "" {
					want.Set("after", after)
					testQuery(t, r, want)
					writeJSON(w, 200, `{"data":[]}`)
					return
				}
				testQuery(t, r, want)
				writeJSON(w, 200, `{"data":[],"paging":{"cursors":{"after":"p2"},"next":"x"}}`)
			})
			if _, err := b.client.AssignedUsers(t.Context(), "1", "100200300"); err != nil {
				t.Fatal(err)
			}
			if n := len(b.calls.all()); n != 2 {
				t.Errorf("%d calls, want 2", n)
			}
		})
	}
}

func TestPagingMaxPages(t *testing.T) {
	t.Parallel()
	b := setup(t, WithMaxPages(3))
	var hits counter
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		n := hits.inc()
		writeJSON(w, 200, fmt.Sprintf(`{"data":[{"id":"%d"}],"paging":{"cursors":{"after":"c%d"},"next":"x"}}`, n, n))
	})
	users, err := b.client.SystemUsers(t.Context(), "1")
	if !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("SystemUsers: %v, want ErrTooManyPages", err)
	}
	if users != nil {
		t.Errorf("partial result %+v returned with the error", users)
	}
	if got, want := err.Error(), "graph list_system_users: graph: too many pages (more than 3)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if c := Classify(err); c != ClassPermanent {
		t.Errorf("Classify: %v, want permanent", c)
	}
	if n := hits.get(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestPagingCursorLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hits counter
	b.mux.HandleFunc("GET /v25.0/1/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		hits.inc()
		writeJSON(w, 200, `{"data":[{"id":"5","tasks":["MANAGE"]}],"paging":{"cursors":{"after":"SAME"},"next":"x"}}`)
	})
	_, err := b.client.AssignedUsers(t.Context(), "1", "2")
	if !errors.Is(err, ErrCursorLoop) {
		t.Fatalf("AssignedUsers: %v, want ErrCursorLoop", err)
	}
	if n := hits.get(); n != 2 {
		t.Errorf("%d requests, want 2 (stop when the cursor comes back)", n)
	}
}

func TestFindSystemUserStopsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hits counter
	var afters []string
	pages := map[string]string{
		"":   `{"data":[{"id":"1","name":"ops"}],"paging":{"cursors":{"after":"c1"},"next":"n"}}`,
		"c1": `{"data":[{"id":"2","name":"waba-assigner","role":"ADMIN"}],"paging":{"cursors":{"after":"c2"},"next":"n"}}`,
		"c2": `{"data":[{"id":"3","name":"other"}]}`,
	}
	b.mux.Handle("GET /v25.0/100200300/system_users", pagedHandler(t, pages, &afters, &hits))
	ctx := t.Context()

	u, found, err := b.client.FindSystemUser(ctx, "100200300", func(u SystemUser) bool { return u.Name == "waba-assigner" })
	if err != nil || !found || u != (SystemUser{"2", "waba-assigner", "ADMIN"}) {
		t.Fatalf("FindSystemUser: %+v, %v, %v", u, found, err)
	}
	if n := hits.get(); n != 2 {
		t.Errorf("%d requests, want 2 (stop when found)", n)
	}

	u, found, err = b.client.FindSystemUser(ctx, "100200300", func(u SystemUser) bool { return u.Name == "nobody" })
	if err != nil || found || u != (SystemUser{}) {
		t.Fatalf("FindSystemUser(nobody): %+v, %v, %v", u, found, err)
	}
	if n := hits.get(); n != 5 {
		t.Errorf("%d requests in all, want 5", n)
	}

	if _, _, err := b.client.FindSystemUser(ctx, "100200300", nil); err == nil {
		t.Error("FindSystemUser with a nil match: no error")
	}
}

func TestAssignedUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.mux.HandleFunc("GET /v25.0/102290129340398/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		testHeader(t, r, "Authorization", "Bearer "+testToken)
		switch r.URL.Query().Get("after") {
		case "":
			testFormValues(t, r, url.Values{"business": {"100200300"}})
			writeJSON(w, 200, `{"data":[{"id":"1972555232742222","name":"waba-assigner","tasks":["MANAGE","DEVELOP"],"permitted_tasks":["MANAGE","DEVELOP","VIEW_COST"]}],
				"paging":{"cursors":{"before":"QVFIUmx1","after":"QVFIUmx2"},"next":"https://graph.facebook.com/v25.0/102290129340398/assigned_users?business=100200300&after=QVFIUmx2"}}`)
		case "QVFIUmx2":
			testFormValues(t, r, url.Values{"business": {"100200300"}, "after": {"QVFIUmx2"}})
			writeJSON(w, 200, `{"data":[{"id":"42","name":"someone","tasks":["VIEW_TEMPLATES"]}],"paging":{"cursors":{"before":"QVFIUmx2","after":"QVFIUmx3"}}}`)
		default:
			t.Errorf("unexpected query %q", r.URL.RawQuery)
		}
	})
	ctx := t.Context()
	users, err := b.client.AssignedUsers(ctx, "102290129340398", "100200300")
	if err != nil {
		t.Fatal(err)
	}
	want := []AssignedUser{
		{ID: "1972555232742222", Name: "waba-assigner", Tasks: []string{"MANAGE", "DEVELOP"}, PermittedTasks: []string{"MANAGE", "DEVELOP", "VIEW_COST"}},
		{ID: "42", Name: "someone", Tasks: []string{"VIEW_TEMPLATES"}},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("users %+v, want %+v", users, want)
	}

	u, found, err := b.client.FindAssignedUser(ctx, "102290129340398", "100200300", "1972555232742222")
	if err != nil || !found || !reflect.DeepEqual(u, want[0]) {
		t.Errorf("FindAssignedUser on page 1: %+v, %v, %v", u, found, err)
	}
	u, found, err = b.client.FindAssignedUser(ctx, "102290129340398", "100200300", "42")
	if err != nil || !found || !reflect.DeepEqual(u, want[1]) {
		t.Errorf("FindAssignedUser on page 2: %+v, %v, %v", u, found, err)
	}
	u, found, err = b.client.FindAssignedUser(ctx, "102290129340398", "100200300", "7")
	if err != nil || found || !reflect.DeepEqual(u, AssignedUser{}) {
		t.Errorf("FindAssignedUser of a user not assigned: %+v, %v, %v", u, found, err)
	}
	// 2 (AssignedUsers) + 1 (found on page 1) + 2 + 2 round trips.
	if n := len(b.calls.all()); n != 7 {
		t.Errorf("%d calls, want 7", n)
	}
}

func TestTokensTravelOnlyInAuthorizationHeader(t *testing.T) {
	t.Parallel()
	b := setup(t, WithAdminToken(StaticToken(testAdminToken)))
	check := func(r *http.Request, want string) {
		testHeader(t, r, "Authorization", "Bearer "+want)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		for _, tok := range []string{testToken, testAdminToken} {
			if strings.Contains(r.URL.String(), tok) || strings.Contains(r.Form.Encode(), tok) {
				t.Errorf("%s %s: a token travels outside the Authorization header", r.Method, r.URL.Path)
			}
		}
		for _, k := range []string{"access_token", "appsecret_proof"} {
			if r.Form.Has(k) {
				t.Errorf("%s %s: parameter %s sent", r.Method, r.URL.Path, k)
			}
		}
	}
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		check(r, testToken)
		writeJSON(w, 200, `{"data":[]}`)
	})
	b.mux.HandleFunc("GET /v25.0/2/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		check(r, testToken)
		writeJSON(w, 200, `{"data":[]}`)
	})
	b.mux.HandleFunc("POST /v25.0/2/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		check(r, testAdminToken)
		writeJSON(w, 200, `{"success":true}`)
	})
	ctx := t.Context()
	if _, err := b.client.SystemUsers(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.AssignedUsers(ctx, "2", "1"); err != nil {
		t.Fatal(err)
	}
	if err := b.client.AssignUser(ctx, "2", "3", []string{"MANAGE"}); err != nil {
		t.Fatal(err)
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	b := setup(t, WithAdminToken(StaticToken(testAdminToken)))
	tokens := make(chan string, 2)
	b.mux.HandleFunc("GET /v25.0/100200300/system_users", func(w http.ResponseWriter, r *http.Request) {
		testFormValues(t, r, url.Values{"limit": {"1"}})
		tokens <- r.Header.Get("Authorization")
		writeJSON(w, 200, `{"data":[{"id":"1","name":"x"}],"paging":{"cursors":{"after":"c"},"next":"n"}}`)
	})
	ctx := t.Context()
	if err := b.client.Probe(ctx, "100200300", false); err != nil {
		t.Fatal(err)
	}
	if got := <-tokens; got != "Bearer "+testToken {
		t.Errorf("Probe(read) sent %q", got)
	}
	if err := b.client.Probe(ctx, "100200300", true); err != nil {
		t.Fatal(err)
	}
	if got := <-tokens; got != "Bearer "+testAdminToken {
		t.Errorf("Probe(admin) sent %q", got)
	}
	calls := b.calls.all()
	if len(calls) != 2 || calls[0].Op != OpProbe || calls[0].Method != http.MethodGet {
		t.Errorf("calls %+v, want 2 probe calls (no paging)", calls)
	}
}

func TestProbeErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		body   string
		want   Class
	}{
		{400, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`, ClassCredentials},
		{503, `Service Unavailable`, ClassTransient},
		{200, `<html>captive portal</html>`, ClassTransient},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, tt.status, tt.body)
			})
			err := b.client.Probe(t.Context(), "1", false)
			if got := Classify(err); got != tt.want {
				t.Errorf("Probe: %v classified %v, want %v", err, got, tt.want)
			}
		})
	}
}

func TestAppSecretProofKnownAnswer(t *testing.T) {
	t.Parallel()
	// printf 'EAAGtestToken123|1700000000' | openssl dgst -sha256 -hmac 'app-secret-0123456789'
	const want = "2704431823b270dc312894e9526a16c7b1e1e76b349f179035e11f1ade97d082"
	if got := appSecretProof("app-secret-0123456789", "EAAGtestToken123", "1700000000"); got != want {
		t.Errorf("appSecretProof: %s, want %s", got, want)
	}
}

func TestAppSecretProofOnEveryCall(t *testing.T) {
	t.Parallel()
	const (
		token = "EAAGtestToken123"
		admin = "EAAGadminToken456"
	)
	now := time.Unix(1700000000, 0)
	b := setup(t,
		WithToken(StaticToken(token)),
		WithAdminToken(StaticToken(admin)),
		WithAppSecret(StaticToken("app-secret-0123456789")),
		WithNow(func() time.Time { return now }))
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		testFormValues(t, r, url.Values{
			"appsecret_proof": {"2704431823b270dc312894e9526a16c7b1e1e76b349f179035e11f1ade97d082"},
			"appsecret_time":  {"1700000000"},
		})
		writeJSON(w, 200, `{"data":[]}`)
	})
	b.mux.HandleFunc("POST /v25.0/2/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		// On a POST the proof travels in the form, keyed by the admin token.
		testQuery(t, r, nil)
		testFormValues(t, r, url.Values{
			"user":            {"3"},
			"tasks":           {`["MANAGE"]`},
			"appsecret_proof": {appSecretProof("app-secret-0123456789", admin, "1700000000")},
			"appsecret_time":  {"1700000000"},
		})
		writeJSON(w, 200, `{"success":true}`)
	})
	ctx := t.Context()
	if _, err := b.client.SystemUsers(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := b.client.AssignUser(ctx, "2", "3", []string{"MANAGE"}); err != nil {
		t.Fatal(err)
	}
}

func TestAssignUser(t *testing.T) {
	t.Parallel()
	b := setup(t, WithAdminToken(StaticToken(testAdminToken)))
	b.mux.HandleFunc("POST /v25.0/102290129340398/assigned_users", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testHeader(t, r, "Content-Type", "application/x-www-form-urlencoded")
		testHeader(t, r, "Authorization", "Bearer "+testAdminToken)
		testQuery(t, r, nil)
		testFormValues(t, r, url.Values{
			"user":  {"1972555232742222"},
			"tasks": {`["MANAGE","DEVELOP"]`},
		})
		writeJSON(w, 200, `{"success":true}`)
	})
	if err := b.client.AssignUser(t.Context(), "102290129340398", "1972555232742222", []string{"MANAGE", "DEVELOP"}); err != nil {
		t.Fatal(err)
	}
	calls := b.calls.all()
	if len(calls) != 1 || calls[0].Op != OpAssignUser || calls[0].Method != http.MethodPost ||
		calls[0].HTTPStatus != 200 || calls[0].Err != nil || calls[0].Code != 0 {
		t.Errorf("calls %+v", calls)
	}
}

func TestAssignUserArguments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for _, tasks := range [][]string{nil, {}, {"MANAGE", ""}} {
		if err := b.client.AssignUser(ctx, "1", "2", tasks); err == nil || Classify(err) != ClassPermanent {
			t.Errorf("AssignUser(tasks %q): %v, want a permanent error", tasks, err)
		}
	}
	if n := len(b.calls.all()); n != 0 {
		t.Errorf("%d calls made with invalid arguments", n)
	}
}

func TestAssignUserAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		wantErr   string // "" for success
		wantClass Class
		transient bool
	}{
		{"success", 200, `{"success":true}`, "", ClassNone, false},
		{"success false", 200, `{"success":false}`, `graph assign_user: Graph did not confirm the call ("success": false)`, ClassPermanent, false},
		{"success missing", 200, `{"id":"1"}`, `graph assign_user: Graph did not confirm the call ("success" missing)`, ClassPermanent, false},
		{"unparsable 2xx", 200, `{"success":tr`, `graph assign_user: HTTP 200: {"success":tr`, ClassTransient, true},
		{"empty 2xx", 200, ``, `graph assign_user: HTTP 200: empty body`, ClassTransient, true},
		{"error in a 2xx", 200, `{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200,"fbtrace_id":"AbC123"}}`,
			`graph assign_user: (#200) Permissions error (code 200, fbtrace_id AbC123)`, ClassPermanent, false},
		{"already assigned", 400, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"error_subcode":2388043,"error_user_title":"User already assigned","error_user_msg":"This user is already assigned to this WhatsApp Business Account.","fbtrace_id":"Aq1"}}`,
			`graph assign_user: (#100) Invalid parameter (code 100, subcode 2388043, fbtrace_id Aq1)`, ClassPermanent, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.mux.HandleFunc("POST /v25.0/1/assigned_users", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, tt.status, tt.body)
			})
			err := b.client.AssignUser(t.Context(), "1", "2", []string{"MANAGE"})
			if got := Classify(err); got != tt.wantClass {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.wantClass)
			}
			calls := b.calls.all()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			if tt.wantErr == "" {
				if err != nil || calls[0].Err != nil {
					t.Fatalf("AssignUser: %v (call %v)", err, calls[0].Err)
				}
				return
			}
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("AssignUser: %v (%T), want *Error", err, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error %q\nwant     %q", err.Error(), tt.wantErr)
			}
			if ge.IsTransient != tt.transient || ge.HTTPStatus != tt.status {
				t.Errorf("IsTransient %v HTTPStatus %d, want %v %d", ge.IsTransient, ge.HTTPStatus, tt.transient, tt.status)
			}
			if calls[0].Err != err || calls[0].Code != ge.Code {
				t.Errorf("observer saw Err %v Code %d", calls[0].Err, calls[0].Code)
			}
		})
	}
}

func TestUnexpectedListingBodies(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``, `garbage`, `{}`, `{"data":null}`, `{"data":"x"}`, `{"data":[{"id":5}]}`, `[]`,
		`<html><body>Welcome to the hotel wifi</body></html>`,
	} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, body)
			})
			users, err := b.client.SystemUsers(t.Context(), "1")
			var ge *Error
			if !errors.As(err, &ge) || !ge.IsTransient || ge.HTTPStatus != 200 || users != nil {
				t.Fatalf("SystemUsers: %+v, %v, want a transient *Error", users, err)
			}
			if Classify(err) != ClassTransient {
				t.Errorf("Classify: %v", Classify(err))
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client followed a redirect: %s", r.URL)
	}))
	t.Cleanup(evil.Close)
	b := setup(t, WithAppSecret(StaticToken(testAppSecret)))
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/steal?"+r.URL.RawQuery, http.StatusFound)
	})
	_, err := b.client.SystemUsers(t.Context(), "1")
	var ge *Error
	if !errors.As(err, &ge) || ge.HTTPStatus != http.StatusFound {
		t.Fatalf("SystemUsers: %v, want an *Error with HTTP 302", err)
	}
	if Classify(err) != ClassPermanent {
		t.Errorf("Classify: %v", Classify(err))
	}
}

func TestObserver(t *testing.T) {
	t.Parallel()
	b := setup(t, WithVersion("v21.0"))
	b.mux.HandleFunc("GET /v21.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Facebook-Api-Version", "v22.0")
		w.Header().Set("X-App-Usage", `{"call_count":28,"total_time":25,"total_cputime":12}`)
		w.Header().Set("X-Business-Use-Case-Usage", `{"100200300":[{"type":"whatsapp","call_count":10,"total_cputime":1,"total_time":2,"estimated_time_to_regain_access":0}]}`)
		writeJSON(w, 200, `{"data":[]}`)
	})
	b.mux.HandleFunc("GET /v21.0/2/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Facebook-Api-Version", "v21.0")
		w.Header().Set("X-App-Usage", `{"call_count":`) // malformed: ignored
		w.Header().Set("X-Business-Use-Case-Usage", `not json`)
		writeJSON(w, 400, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
	})
	ctx := t.Context()
	if _, err := b.client.SystemUsers(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	_, err := b.client.SystemUsers(ctx, "2")
	if err == nil {
		t.Fatal("no error")
	}
	calls := b.calls.all()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	ok, bad := calls[0], calls[1]
	if ok.Op != OpListSystemUsers || ok.Method != "GET" || ok.HTTPStatus != 200 || ok.Code != 0 || ok.Err != nil ||
		ok.RequestedVersion != "v21.0" || ok.ServedVersion != "v22.0" || !ok.VersionDrift() || ok.Duration <= 0 {
		t.Errorf("successful call %+v", ok)
	}
	if !reflect.DeepEqual(ok.Usage.App(), &AppUsage{CallCount: 28, TotalCPUTime: 12, TotalTime: 25}) {
		t.Errorf("AppUsage %+v", ok.Usage.App())
	}
	wantBUC := map[string][]BusinessUseCaseUsage{"100200300": {{Type: "whatsapp", CallCount: 10, TotalCPUTime: 1, TotalTime: 2}}}
	if !reflect.DeepEqual(ok.Usage.Business(), wantBUC) {
		t.Errorf("BusinessUsage %+v", ok.Usage.Business())
	}
	if bad.HTTPStatus != 400 || bad.Code != 100 || bad.Err != err || bad.VersionDrift() ||
		bad.Usage.App() != nil || bad.Usage.Business() != nil {
		t.Errorf("failed call %+v", bad)
	}
}

func TestObserverSeesTransportErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.Close() // connection refused from now on
	_, err := b.client.SystemUsers(t.Context(), "1")
	calls := b.calls.all()
	if len(calls) != 1 || calls[0].HTTPStatus != 0 || calls[0].Err != err || calls[0].Code != 0 {
		t.Fatalf("calls %+v for error %v", calls, err)
	}
}

func TestFBTraceIDFromHeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Fb-Trace-Id", "HdrTrace1")
		writeJSON(w, 400, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
	})
	b.mux.HandleFunc("GET /v25.0/2/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Fb-Trace-Id", "HdrTrace2")
		writeJSON(w, 400, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"fbtrace_id":"BodyTrace"}}`)
	})
	ctx := t.Context()
	_, err := b.client.SystemUsers(ctx, "1")
	var ge *Error
	if !errors.As(err, &ge) || ge.FBTraceID != "HdrTrace1" {
		t.Errorf("without fbtrace_id in the body: %v", err)
	}
	_, err = b.client.SystemUsers(ctx, "2")
	if !errors.As(err, &ge) || ge.FBTraceID != "BodyTrace" {
		t.Errorf("with fbtrace_id in the body: %v", err)
	}
}

func TestBodySizeCap(t *testing.T) {
	t.Parallel()
	b := setup(t, WithMaxBodyBytes(256))
	big := `{"data":[` + strings.Repeat(`{"id":"1","name":"x"},`, 50) + `{"id":"2"}]}`
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, big)
	})
	b.mux.HandleFunc("GET /v25.0/2/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(500)
		fmt.Fprint(w, "<html><body><p>"+strings.Repeat("Internal error. ", 1000)+"</p></body></html>")
	})
	ctx := t.Context()
	_, err := b.client.SystemUsers(ctx, "1")
	var ge *Error
	if !errors.As(err, &ge) || ge.IsTransient || Classify(err) != ClassPermanent {
		t.Fatalf("over-size 2xx: %v, want a permanent *Error", err)
	}
	if want := "graph list_system_users: response body larger than 256 bytes"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = b.client.SystemUsers(ctx, "2")
	if !errors.As(err, &ge) || ge.HTTPStatus != 500 || len(ge.Body) > 256 || !strings.HasPrefix(ge.Body, "Internal error. Internal error.") {
		t.Fatalf("over-size 500: %v (Body %q)", err, ge.Body)
	}
	if Classify(err) != ClassTransient {
		t.Errorf("Classify: %v", Classify(err))
	}
}

// blockingServer answers nothing until the request is abandoned or the test
// ends. arrived receives each request as it comes in.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}) {
	t.Helper()
	arrived = make(chan struct{}, 10)
	done := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs before srv.Close
	return srv, arrived
}

func TestPerCallTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServer(t)
	rec := &callRecorder{}
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)), WithAppSecret(StaticToken(testAppSecret)),
		WithTimeout(50*time.Millisecond), WithObserver(rec.observe))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("SystemUsers: %v (%T), want *TransportError", err, err)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("%v does not match ErrTimeout", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("%v matches a context error: it would pass for the caller's", err)
	}
	if c := Classify(err); c != ClassTransient {
		t.Errorf("Classify: %v, want transient", c)
	}
	if want := "call timed out after 50ms"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	assertNoSecrets(t, err.Error())
	if calls := rec.all(); len(calls) != 1 || calls[0].Err != err {
		t.Errorf("calls %+v", calls)
	}
}

func TestHTTPClientTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServer(t)
	hc := srv.Client()
	hc.Timeout = 50 * time.Millisecond
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(hc), WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	if c := Classify(err); c != ClassTransient || !errors.Is(err, ErrTimeout) {
		t.Errorf("SystemUsers: %v classified %v, want a transient ErrTimeout", err, c)
	}
}

func TestCallerCancelIsCanceled(t *testing.T) {
	t.Parallel()
	srv, arrived := blockingServer(t)
	rec := &callRecorder{}
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)), WithObserver(rec.observe))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	err = c.AssignUser(ctx, "1", "2", []string{"MANAGE"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("AssignUser: %v, want context.Canceled", err)
	}
	var te *TransportError
	if errors.As(err, &te) {
		t.Errorf("the caller's cancellation is a *TransportError: %v", err)
	}
	if c := Classify(err); c != ClassCanceled {
		t.Errorf("Classify: %v, want canceled", c)
	}
	if want := "graph assign_user: context canceled"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if calls := rec.all(); len(calls) != 1 || calls[0].Err != err {
		t.Errorf("calls %+v", calls)
	}
}

func TestCallerDeadlineIsCanceled(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServer(t)
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)), WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = c.SystemUsers(ctx, "1")
	if !errors.Is(err, context.DeadlineExceeded) || Classify(err) != ClassCanceled {
		t.Errorf("SystemUsers: %v classified %v, want canceled with DeadlineExceeded", err, Classify(err))
	}
}

func TestCallerCancelCause(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(cause)
	_, err := b.client.SystemUsers(ctx, "1")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || Classify(err) != ClassCanceled {
		t.Errorf("SystemUsers: %v", err)
	}
	if n := len(b.calls.all()); n != 0 {
		t.Errorf("a call with a context already done reached the network (%d calls)", n)
	}
}

// cancelOnRead cancels a context when the client starts reading a body.
type cancelOnRead struct {
	rt     http.RoundTripper
	cancel context.CancelFunc
}

func (c cancelOnRead) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &cancelingBody{ReadCloser: resp.Body, cancel: c.cancel}
	}
	return resp, err
}

type cancelingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelingBody) Read(p []byte) (int, error) {
	b.cancel() // the caller gives up while the body is on its way
	return b.ReadCloser.Read(p)
}

func TestCancelDuringBodyRead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, _ := blockingServerAfterHeaders(t)
	rec := &callRecorder{}
	c, err := NewClient(WithBaseURL(srv.URL),
		WithHTTPClient(&http.Client{Transport: cancelOnRead{rt: srv.Client().Transport, cancel: cancel}}),
		WithToken(StaticToken(testToken)), WithObserver(rec.observe))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(ctx, "1")
	if !errors.Is(err, context.Canceled) || Classify(err) != ClassCanceled {
		t.Errorf("SystemUsers: %v, want canceled", err)
	}
	if calls := rec.all(); len(calls) != 1 || calls[0].HTTPStatus != 200 || calls[0].Err != err {
		t.Errorf("calls %+v", calls)
	}
}

// blockingServerAfterHeaders sends a 200 and the start of a body, then
// nothing until the request is abandoned or the test ends.
func blockingServerAfterHeaders(t *testing.T) (srv *httptest.Server, done chan struct{}) {
	t.Helper()
	done = make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fmt.Fprint(w, `{"data":[`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv, done
}

func TestPerCallTimeoutDuringBodyRead(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServerAfterHeaders(t)
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)), WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) || Classify(err) != ClassTransient {
		t.Errorf("SystemUsers: %v (%T), want a transient *TransportError with ErrTimeout", err, err)
	}
}

func TestBodyReadFailureIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		// Promise 100 bytes, send 9, hang up.
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data\":[")
		_ = buf.Flush()
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()), WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	var te *TransportError
	if !errors.As(err, &te) || Classify(err) != ClassTransient {
		t.Fatalf("SystemUsers: %v (%T), want a transient *TransportError", err, err)
	}
	if te.Op != OpListSystemUsers {
		t.Errorf("Op %q", te.Op)
	}
}

// assertNoSecrets fails when s holds a secret of the tests, or the query
// that carries appsecret_proof.
func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	assertNoSecretValues(t, s)
	for _, param := range []string{"appsecret_proof", "appsecret_time", "?"} {
		if strings.Contains(s, param) {
			t.Errorf("%q holds %q", s, param)
		}
	}
}

// assertNoSecretValues fails when s holds a secret of the tests.
func assertNoSecretValues(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{testToken, testAdminToken, testAppSecret} {
		if strings.Contains(s, secret) {
			t.Errorf("%q holds %q", s, secret)
		}
	}
}

func TestTransportErrorsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t,
		WithAdminToken(StaticToken(testAdminToken)),
		WithAppSecret(StaticToken(testAppSecret)))
	b.server.Close() // connection refused from now on

	ctx := t.Context()
	_, err := b.client.SystemUsers(ctx, "100200300")
	var te *TransportError
	if !errors.As(err, &te) || Classify(err) != ClassTransient {
		t.Fatalf("SystemUsers: %v (%T), want a transient *TransportError", err, err)
	}
	if !strings.Contains(err.Error(), "/v25.0/100200300/system_users") {
		t.Errorf("error %q does not say which URL failed", err)
	}
	assertNoSecrets(t, err.Error())

	err = b.client.AssignUser(ctx, "1", "2", []string{"MANAGE"})
	if !errors.As(err, &te) {
		t.Fatalf("AssignUser: %v, want *TransportError", err)
	}
	assertNoSecrets(t, err.Error())
	for _, call := range b.calls.all() {
		assertNoSecrets(t, call.Err.Error())
	}
}

// leakyTransport fails every request with an error that repeats all it
// knows, as a careless RoundTripper or proxy library might.
type leakyTransport struct{}

func (leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("dial failed for %s with %q", r.URL, r.Header.Get("Authorization"))
}

func TestTransportErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithHTTPClient(&http.Client{Transport: leakyTransport{}}),
		WithToken(StaticToken(testToken)), WithAppSecret(StaticToken(testAppSecret)),
		WithNow(func() time.Time { return time.Unix(1700000000, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	if Classify(err) != ClassTransient {
		t.Fatalf("SystemUsers: %v", err)
	}
	proof := appSecretProof(testAppSecret, testToken, "1700000000")
	if strings.Contains(err.Error(), proof) {
		t.Errorf("error %q holds the appsecret_proof", err)
	}
	assertNoSecretValues(t, err.Error())
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error %q: the secrets were not replaced", err)
	}
}

func TestResponseTextsAreRedacted(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	proof := appSecretProof(testAppSecret, testToken, "1700000000")
	b := setup(t, WithAppSecret(StaticToken(testAppSecret)), WithNow(func() time.Time { return now }))
	// Servers that echo the request back: a Graph error and a proxy page.
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, fmt.Sprintf(`{"error":{"message":"Malformed access token %s","type":"OAuthException","code":190,"error_user_msg":"proof %s","fbtrace_id":"x"}}`,
			testToken, r.URL.Query().Get("appsecret_proof")))
	})
	b.mux.HandleFunc("GET /v25.0/2/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		fmt.Fprintf(w, "<html><body>Denied: %s for %s</body></html>", r.URL.String(), r.Header.Get("Authorization"))
	})
	ctx := t.Context()
	for _, id := range []string{"1", "2"} {
		_, err := b.client.SystemUsers(ctx, id)
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("SystemUsers(%s): %v", id, err)
		}
		for _, s := range []string{err.Error(), ge.Message, ge.UserMessage, ge.Body} {
			assertNoSecretValues(t, s)
			if strings.Contains(s, proof) {
				t.Errorf("%q holds the appsecret_proof", s)
			}
		}
	}
}

func TestTokenSourceFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
		call func(c *Client) error
	}{
		{"read token missing", []Option{WithToken(FileToken("/nonexistent/token"))},
			func(c *Client) error { _, err := c.SystemUsers(t.Context(), "1"); return err }},
		{"read token empty", []Option{WithToken(StaticToken(""))},
			func(c *Client) error { return c.Probe(t.Context(), "1", false) }},
		{"read token with a newline", []Option{WithToken(StaticToken(testToken + "\nX-Injected: 1"))},
			func(c *Client) error { _, err := c.AssignedUsers(t.Context(), "1", "2"); return err }},
		{"read token with a space", []Option{WithToken(StaticToken("EAAG abcdefgh"))},
			func(c *Client) error { _, err := c.SystemUsers(t.Context(), "1"); return err }},
		{"admin token missing", []Option{WithAdminToken(FileToken("/nonexistent/admin"))},
			func(c *Client) error { return c.AssignUser(t.Context(), "1", "2", []string{"MANAGE"}) }},
		{"admin probe", []Option{WithAdminToken(StaticToken(""))},
			func(c *Client) error { return c.Probe(t.Context(), "1", true) }},
		{"app secret missing", []Option{WithAppSecret(FileToken("/nonexistent/secret"))},
			func(c *Client) error { _, err := c.SystemUsers(t.Context(), "1"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.opts...)
			err := tt.call(b.client)
			if c := Classify(err); c != ClassCredentials {
				t.Errorf("error %v classified %v, want credentials", err, c)
			}
			if err != nil && strings.Contains(err.Error(), "EAAG") {
				t.Errorf("error %q holds the token", err)
			}
			if n := len(b.calls.all()); n != 0 {
				t.Errorf("%d calls reached the network", n)
			}
		})
	}
}

// cancelingTransport fails like a transport that canceled the request on
// its own (for example, one that was closed), while the caller's context is
// alive.
type cancelingTransport struct{}

func (cancelingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("transport closed: %w", context.Canceled)
}

func TestTransportCancellationIsNotTheCallers(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithHTTPClient(&http.Client{Transport: cancelingTransport{}}), WithToken(StaticToken(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	var te *TransportError
	if !errors.As(err, &te) || errors.Is(err, context.Canceled) || Classify(err) != ClassTransient {
		t.Errorf("SystemUsers: %v (%T), want a transient *TransportError that is not context.Canceled", err, err)
	}
	if !strings.Contains(err.Error(), "transport closed: context canceled") {
		t.Errorf("error %q lost the transport's message", err)
	}
}

func TestTimeoutErrorIsANetTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := blockingServer(t)
	c, err := NewClient(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)), WithTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SystemUsers(t.Context(), "1")
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v does not report Timeout()", err)
	}
}

// waitingToken blocks until the context ends, as a token source that
// fetches from a slow secret store might.
type waitingToken struct{}

func (waitingToken) Token(ctx context.Context) (string, error) {
	<-ctx.Done()
	return "", fmt.Errorf("secret store: %w", ctx.Err())
}

func TestTokenSourceCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t, WithToken(waitingToken{}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// The context is already done: the client does not even ask.
	if _, err := b.client.SystemUsers(ctx, "1"); Classify(err) != ClassCanceled {
		t.Errorf("SystemUsers: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := b.client.SystemUsers(ctx, "1")
	if !errors.Is(err, context.DeadlineExceeded) || Classify(err) != ClassCanceled {
		t.Errorf("SystemUsers: %v classified %v, want canceled", err, Classify(err))
	}
	if n := len(b.calls.all()); n != 0 {
		t.Errorf("%d calls", n)
	}
}
