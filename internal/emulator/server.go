package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// OpUnassignUser is the op of DELETE /{waba-id}/assigned_users, which Meta
// serves and the worker must never call.
const OpUnassignUser = "unassign_user"

// OpReadNode is the op of GET /{id} on a business or a WABA.
const OpReadNode = "read_node"

// Server is the Graph emulator. It is an http.Handler; every method is safe
// for concurrent use.
type Server struct {
	logger     *slog.Logger
	recordMax  int
	ts         *httptest.Server
	done       chan struct{} // closed by Close: ends hangs and sleeps
	closeOnce  sync.Once
	maxBodyLen int64

	// Controls read on every request, lock-free.
	latency         atomic.Int64 // time.Duration
	jitter          atomic.Int64 // time.Duration: up to this much more, at random
	visibilityDelay atomic.Int64 // time.Duration
	outage          atomic.Int32 // Outage
	emptyPages      atomic.Int32
	alreadyAssigned atomic.Bool
	oldestVersion   atomic.Pointer[apiVersion]

	faults faultQueue
	meter  meter
	log    requestLog
	hooks  webhooks // webhooks.go

	// World state.
	mu         sync.RWMutex
	appSecret  string
	users      map[string]*user
	businesses map[string]*business
	wabas      map[string]*waba
	tokens     map[string]*token
}

// Option configures a Server.
type Option func(*Server) error

// WithLogger logs one line per request (method, path, op, status, Graph
// code, duration, trace id) at level Info. Tokens, proofs and query strings
// are never logged. Defaults to no logging.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error {
		if l == nil {
			return fmt.Errorf("emulator: WithLogger: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithRecordLimit keeps only about the last n requests in the record (for
// long benchmarks); counters are kept in full. Defaults to 0: keep all.
func WithRecordLimit(n int) Option {
	return func(s *Server) error {
		if n < 0 {
			return fmt.Errorf("emulator: WithRecordLimit: negative limit %d", n)
		}
		s.recordMax = n
		return nil
	}
}

// New builds an emulator seeded with seed. Serve it with any http.Server,
// or use Start (graphtest.NewTestServer in tests).
func New(seed Seed, opts ...Option) (*Server, error) {
	if err := seed.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		done:       make(chan struct{}),
		maxBodyLen: 1 << 20,
		appSecret:  seed.AppSecret,
		users:      map[string]*user{},
		businesses: map[string]*business{},
		wabas:      map[string]*waba{},
		tokens:     map[string]*token{},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.log.max = s.recordMax
	if err := s.load(seed); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the emulator on a loopback port of its own (an
// httptest.Server, which does not link package testing); Close stops it.
// graphtest.NewTestServer wraps it for tests.
func Start(seed Seed, opts ...Option) (*Server, error) {
	s, err := New(seed, opts...)
	if err != nil {
		return nil, err
	}
	s.ts = httptest.NewServer(s)
	return s, nil
}

// URL is the base URL of the test server (for GRAPH_BASE_URL), or "" for a
// Server made with New.
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Client returns an *http.Client for the test server (nil without one).
func (s *Server) Client() *http.Client {
	if s.ts == nil {
		return nil
	}
	return s.ts.Client()
}

// Close ends every hanging or sleeping request, closing its connection
// without an answer, and shuts down the test server if there is one. A
// Server serving on its own http.Server should be closed before that
// server's Shutdown, which waits for handlers. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeWebhooks()
		if s.ts != nil {
			s.ts.CloseClientConnections()
			s.ts.Close()
		}
	})
}

// exchange is one request on its way through the emulator.
type exchange struct {
	r       *http.Request
	start   time.Time
	trace   string
	version string // requested version, "" when the path has none
	served  string // version reported in facebook-api-version
	object  string // the id in the path
	edge    string
	extra   []string // path components past the edge
	op      string
	query   url.Values // the URL's query
	form    url.Values // query and body parameters
	formErr *response  // why the body could not be read
	body    url.Values // body parameters only
	ctype   string
	user    *user // the token's user, once authenticated
	rec     Request
}

// ServeHTTP answers one Graph request: it records it, applies the outage,
// faults and rate limit in force, does what Meta would, then waits the
// latency and writes the answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.serveControl(w, r) // control_http.go
		return
	}
	x := &exchange{r: r, start: time.Now(), trace: newTraceID(), query: r.URL.Query()}
	x.parsePath(s.oldestVersion.Load())
	x.rec = Request{
		Time:       x.start,
		Method:     r.Method,
		Op:         x.op,
		Path:       r.URL.Path,
		Object:     x.object,
		Version:    x.version,
		Query:      redact(x.query),
		AuthHeader: bearer(r) != "",
		TraceID:    x.trace,
	}
	x.rec.TokenInQuery = x.query.Has("access_token")
	x.formErr = x.parseForm(s.maxBodyLen)

	resp := s.handle(x)

	x.rec.Form = redact(x.body)
	x.rec.TokenInForm = x.body.Has("access_token")
	x.rec.ContentType = x.ctype
	x.rec.Status, x.rec.Code, x.rec.Subcode = resp.status, resp.code, resp.subcode
	x.rec.Fault = resp.fault
	x.rec.Dropped, x.rec.Hung = resp.drop, resp.hang
	if resp.drop || resp.hang {
		x.rec.Status = 0
	}
	s.log.add(x.rec)

	switch {
	case resp.drop:
		s.logRequest(x, resp, "dropped")
		drop(w)
		return
	case resp.hang:
		s.logRequest(x, resp, "hung")
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		drop(w) // never let net/http answer an empty 200
		return
	}
	// Meta has done the work; the answer takes its time to arrive.
	if !s.sleep(r.Context(), s.answerDelay()) {
		s.logRequest(x, resp, "canceled")
		drop(w)
		return
	}
	s.write(w, x, resp)
	s.logRequest(x, resp, "")
}

func (s *Server) handle(x *exchange) *response {
	switch s.Outage() {
	case OutageHTML:
		return &response{status: http.StatusServiceUnavailable, body: []byte(ErrorPage), contentType: contentHTML, fault: "outage"}
	case OutageDrop:
		return &response{drop: true, fault: "outage"}
	}
	f, faulted := s.faults.take(x.op, x.object)
	if faulted && !f.Apply {
		return s.faultResponse(x, f)
	}
	resp := s.process(x)
	if faulted {
		return s.faultResponse(x, f)
	}
	return resp
}

// process answers as Meta would, without faults.
func (s *Server) process(x *exchange) *response {
	if x.version == "" || x.object == "" {
		return x.fail(http.StatusBadRequest, 2500, 0, typeOAuth, "Unknown path components: "+x.r.URL.Path)
	}
	if len(x.extra) > 0 {
		return x.fail(http.StatusBadRequest, 2500, 0, typeOAuth, "Unknown path components: /"+strings.Join(x.extra, "/"))
	}
	if x.formErr != nil {
		return x.formErr
	}
	if resp := s.authenticate(x); resp != nil {
		return resp
	}
	if !isDigits(x.object) {
		// Meta resolves a non-numeric id as a username alias.
		return x.fail(http.StatusNotFound, 803, 0, typeOAuth, "(#803) Some of the aliases you requested do not exist: "+x.object)
	}
	if ok, wait := s.meter.allow(x.start); !ok {
		resp := errorResponse(x.trace, http.StatusBadRequest, apiError{
			Message: msgRateLimited, Type: typeOAuth, Code: 80008, Subcode: subcodeRateLimited, IsTransient: true,
		})
		resp.fault = "rate_limit"
		resp.bucMinutes = int(wait / time.Minute)
		return resp
	}
	return s.route(x)
}

func (s *Server) route(x *exchange) *response {
	m := x.r.Method
	switch {
	case x.edge == "" && m == http.MethodGet:
		return s.readNode(x)
	case x.edge == "system_users" && m == http.MethodGet:
		return s.listSystemUsers(x)
	case x.edge == "assigned_users" && m == http.MethodGet:
		return s.listAssignedUsers(x)
	case x.edge == "assigned_users" && m == http.MethodPost:
		return s.assignUser(x)
	case x.edge == "assigned_users" && m == http.MethodDelete:
		return s.unassignUser(x)
	case x.edge == edgeClientWABAs && m == http.MethodGet:
		return s.listClientWABAs(x)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.noSuchEdge(x)
}

// noSuchEdge answers a request for an edge the node does not have; the
// caller holds s.mu.
func (s *Server) noSuchEdge(x *exchange) *response {
	kind := s.nodeType(x.object, x.user.business)
	if kind == "" || x.r.Method != http.MethodGet {
		return x.unsupported(x.object)
	}
	return x.invalidParam(fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (%s)", x.edge, kind))
}

// parsePath splits /{version}/{id}/{edge}/... and names the op.
func (x *exchange) parsePath(oldest *apiVersion) {
	parts := strings.Split(strings.Trim(x.r.URL.Path, "/"), "/")
	v, ok := parseVersion(parts[0])
	if !ok {
		x.served = graph.DefaultVersion
		return
	}
	x.version = parts[0]
	x.served = x.version
	if oldest != nil && v.less(*oldest) {
		x.served = oldest.String()
	}
	if len(parts) > 1 {
		x.object = parts[1]
	}
	if len(parts) > 2 {
		x.edge = parts[2]
	}
	if len(parts) > 3 {
		x.extra = parts[3:]
		return
	}
	switch {
	case x.object == "":
	case x.edge == "" && x.r.Method == http.MethodGet:
		x.op = OpReadNode
	case x.edge == "system_users" && x.r.Method == http.MethodGet:
		x.op = graph.OpListSystemUsers
	case x.edge == "assigned_users" && x.r.Method == http.MethodGet:
		x.op = graph.OpListAssignedUsers
	case x.edge == "assigned_users" && x.r.Method == http.MethodPost:
		x.op = graph.OpAssignUser
	case x.edge == "assigned_users" && x.r.Method == http.MethodDelete:
		x.op = OpUnassignUser
	case x.edge == edgeClientWABAs && x.r.Method == http.MethodGet:
		x.op = graph.OpListClientWABAs
	}
}

// parseForm gathers query and body parameters. Like Meta it takes
// form-encoded, multipart and JSON bodies.
func (x *exchange) parseForm(maxBody int64) *response {
	r := x.r
	x.form = x.query
	x.body = url.Values{}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	x.ctype = r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(x.ctype)
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	switch mt {
	case "application/json":
		var m map[string]json.RawMessage
		dec := json.NewDecoder(body)
		if err := dec.Decode(&m); err != nil && err != io.EOF {
			return x.invalidParam("(#100) Invalid JSON in the request body")
		}
		for k, raw := range m {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				x.body.Add(k, str)
			} else {
				x.body.Add(k, string(raw))
			}
		}
	case "multipart/form-data":
		r.Body = body
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return x.invalidParam("(#100) Invalid multipart request body")
		}
		x.body = r.PostForm
	default:
		b, err := io.ReadAll(body)
		if err != nil {
			return x.invalidParam("(#100) Request body too large or unreadable")
		}
		if x.body, err = url.ParseQuery(string(b)); err != nil {
			return x.invalidParam("(#100) Invalid form-encoded request body")
		}
	}
	// Body parameters first, as net/http's Request.Form does.
	merged := url.Values{}
	for k, v := range x.body {
		merged[k] = append(merged[k], v...)
	}
	for k, v := range x.form {
		merged[k] = append(merged[k], v...)
	}
	x.form = merged
	return nil
}

// bearer returns the token of an "Authorization: Bearer|OAuth <token>"
// header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "OAuth")) {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticate checks the access token and the appsecret_proof.
func (s *Server) authenticate(x *exchange) *response {
	tok := bearer(x.r)
	if tok == "" {
		tok = x.form.Get("access_token")
	}
	if tok == "" {
		return x.fail(http.StatusBadRequest, 104, 0, typeOAuth, msgTokenRequired)
	}
	s.mu.RLock()
	t := s.tokens[tok]
	var u *user
	if t != nil {
		u = s.users[t.userID]
	}
	secret := s.appSecret
	var st tokenStatus
	var expiredAt time.Time
	if t != nil {
		st, expiredAt = t.status, t.expiredAt
	}
	s.mu.RUnlock()
	switch {
	case t == nil || u == nil || st == tokenRevoked:
		return x.fail(http.StatusUnauthorized, 190, 0, typeOAuth, msgTokenInvalid)
	case st == tokenExpired:
		return x.fail(http.StatusUnauthorized, 190, subcodeExpired, typeOAuth, expiredMessage(expiredAt, x.start))
	}
	if secret != "" {
		if resp := x.checkProof(secret, tok); resp != nil {
			return resp
		}
	}
	x.user = u
	return nil
}

func (x *exchange) checkProof(secret, tok string) *response {
	proof := x.form.Get("appsecret_proof")
	if proof == "" {
		return x.fail(http.StatusBadRequest, 100, 0, typeGraphMethod, msgProofMissing)
	}
	ts := x.form.Get("appsecret_time")
	if ts == "" {
		return x.fail(http.StatusBadRequest, 100, 0, typeGraphMethod, msgProofTimeNeeded)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return x.fail(http.StatusBadRequest, 100, 0, typeGraphMethod, msgProofTimeBad)
	}
	if d := x.start.Sub(time.Unix(sec, 0)); d > proofWindow || d < -proofWindow {
		return x.fail(http.StatusBadRequest, 100, 0, typeGraphMethod, msgProofTimeBad)
	}
	got, err := hex.DecodeString(proof)
	if err != nil || !hmac.Equal(got, appSecretProof(secret, tok, ts)) {
		return x.fail(http.StatusBadRequest, 100, 0, typeGraphMethod, msgProofInvalid)
	}
	return nil
}

// proofWindow is how far appsecret_time may be from the emulator's clock.
const proofWindow = 5 * time.Minute

func appSecretProof(secret, tok, unixTime string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tok + "|" + unixTime))
	return m.Sum(nil)
}

// AppSecretProof computes the appsecret_proof for token at unix time t, as
// a client must send it: hex(HMAC-SHA256(secret, token+"|"+t)).
func AppSecretProof(secret, token string, t int64) string {
	return hex.EncodeToString(appSecretProof(secret, token, strconv.FormatInt(t, 10)))
}

var pacific = time.FixedZone("PST", -8*60*60)

func expiredMessage(expiredAt, now time.Time) string {
	const layout = "Monday, 02-Jan-06 15:04:05 MST"
	return fmt.Sprintf("Error validating access token: Session has expired on %s. The current time is %s.",
		expiredAt.In(pacific).Format(layout), now.In(pacific).Format(layout))
}

// sleep waits d unless the request or the server ends first; it reports
// whether the full time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) write(w http.ResponseWriter, x *exchange, resp *response) {
	h := w.Header()
	h.Set("X-Fb-Trace-Id", x.trace)
	if resp.graphHeaders {
		h.Set("Facebook-Api-Version", x.served)
		appUsage, buc := s.meter.usage(x.start, x.object, resp.bucMinutes)
		h.Set("X-App-Usage", appUsage)
		h.Set("X-Business-Use-Case-Usage", buc)
	}
	if resp.contentType != "" {
		h.Set("Content-Type", resp.contentType)
	}
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: resets the stream
}

func (s *Server) logRequest(x *exchange, resp *response, outcome string) {
	if s.logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", x.r.Method),
		slog.String("path", x.r.URL.Path),
		slog.String("op", x.op),
		slog.Int("status", x.rec.Status),
		slog.Int("code", resp.code),
		slog.Duration("duration", time.Since(x.start)),
		slog.String("fbtrace_id", x.trace),
	}
	if resp.fault != "" {
		attrs = append(attrs, slog.String("fault", resp.fault))
	}
	if outcome != "" {
		attrs = append(attrs, slog.String("outcome", outcome))
	}
	s.logger.LogAttrs(x.r.Context(), slog.LevelInfo, "graph request", attrs...)
}

// apiVersion is a parsed "vMAJOR.MINOR".
type apiVersion struct{ major, minor int }

func parseVersion(s string) (apiVersion, bool) {
	rest, ok := strings.CutPrefix(s, "v")
	if !ok {
		return apiVersion{}, false
	}
	a, b, ok := strings.Cut(rest, ".")
	if !ok || !isDigits(a) || !isDigits(b) || len(a) > 4 || len(b) > 4 {
		return apiVersion{}, false
	}
	maj, _ := strconv.Atoi(a)
	mnr, _ := strconv.Atoi(b)
	return apiVersion{maj, mnr}, true
}

func (v apiVersion) less(o apiVersion) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

func (v apiVersion) String() string { return fmt.Sprintf("v%d.%d", v.major, v.minor) }
