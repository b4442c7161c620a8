package graph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Secrets used by the tests. They are long enough to be redacted (see
// minSecretLen) and distinct, so that a leak is easy to spot.
const (
	testToken      = "EAAGreadToken0123456789abcdef"
	testAdminToken = "EAAGadminToken9876543210fedcba"
	testAppSecret  = "app-secret-0123456789"
)

// testBundle is what one test works with: a real HTTP server (routes go on
// mux), a client pointed at it, and the calls the client observed.
type testBundle struct {
	mux    *http.ServeMux
	server *httptest.Server
	client *Client
	calls  *callRecorder
}

// setup starts a server and a client for one test. opts come after the
// defaults (base URL, HTTP client, read token, observer) and may override
// them.
func setup(t *testing.T, opts ...Option) *testBundle {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rec := &callRecorder{}
	defaults := []Option{
		WithBaseURL(srv.URL),
		WithHTTPClient(srv.Client()),
		WithToken(StaticToken(testToken)),
		WithObserver(rec.observe),
	}
	c, err := NewClient(append(defaults, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return &testBundle{mux: mux, server: srv, client: c, calls: rec}
}

// callRecorder keeps the Calls a client reports.
type callRecorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *callRecorder) observe(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *callRecorder) all() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// counter counts requests a handler saw.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) inc() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if got := r.Method; got != want {
		t.Errorf("request method: %v, want %v", got, want)
	}
}

func testHeader(t *testing.T, r *http.Request, header, want string) {
	t.Helper()
	if got := r.Header.Get(header); got != want {
		t.Errorf("header %s: %q, want %q", header, got, want)
	}
}

// testFormValues checks the request's query and form against want, exactly.
func testFormValues(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if err := r.ParseForm(); err != nil {
		t.Errorf("ParseForm: %v", err)
		return
	}
	if want == nil {
		want = url.Values{}
	}
	if !reflect.DeepEqual(r.Form, want) {
		t.Errorf("request parameters: %v, want %v", r.Form, want)
	}
}

// testQuery checks the query string alone (not the body), exactly.
func testQuery(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if want == nil {
		want = url.Values{}
	}
	if got := r.URL.Query(); !reflect.DeepEqual(got, want) {
		t.Errorf("query: %v, want %v", got, want)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// graphCase is one entry of testdata/cases.json.
type graphCase struct {
	Name              string            `json:"name"`
	File              string            `json:"file"`
	Status            int               `json:"status"`
	Headers           map[string]string `json:"headers"`
	Class             string            `json:"class"`
	Code              int               `json:"code"`
	Subcode           int               `json:"subcode"`
	RetryAfterSeconds int               `json:"retry_after_seconds"`

	body []byte
}

func (gc graphCase) header() http.Header {
	h := http.Header{}
	for k, v := range gc.Headers {
		h.Set(k, v)
	}
	return h
}

// serve answers like Meta did in this case.
func (gc graphCase) serve(w http.ResponseWriter) {
	for k, v := range gc.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(gc.Status)
	_, _ = w.Write(gc.body)
}

func loadCases(t testing.TB) []graphCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []graphCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("testdata/cases.json: %v", err)
	}
	for i := range cases {
		cases[i].body, err = os.ReadFile(filepath.Join("testdata", cases[i].File))
		if err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

// graphErrorMessage reads error.message from a Graph error body, without
// the client's code.
func graphErrorMessage(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return ""
	}
	return v.Error.Message
}
