package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// OpProbe names the cheap credentials and health check (Probe) in errors,
// Call records and metrics labels.
const OpProbe = "probe"

// Defaults of the options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxPages     = 100
	DefaultMaxBodyBytes = 1 << 20
	// MaxPageSize is the largest page size WithPageSize accepts.
	MaxPageSize = 100
)

// maxMaxBodyBytes bounds WithMaxBodyBytes.
const maxMaxBodyBytes = 1 << 30

const userAgent = "waba-worker"

var versionRE = regexp.MustCompile(`^v\d+\.\d+$`)

// errCallTimeout is the cause of the per-call context when WithTimeout fires.
var errCallTimeout = errors.New("graph: per-call timeout")

// Client calls the few Graph API endpoints the worker needs. It is safe for
// concurrent use. Create it with NewClient.
type Client struct {
	base     string // scheme://host[/prefix], no trailing slash
	version  string
	hc       *http.Client
	timeout  time.Duration
	token    TokenSource
	admin    TokenSource
	secret   TokenSource
	observer func(Call)
	pageSize int
	maxPages int
	wabaMax  int // page cap of ListClientWABAs (client_wabas.go)
	now      func() time.Time
	maxBody  int64
	kits     *[2]atomic.Pointer[callKit] // by token source: 0 the access token, 1 the admin token; shared by copies
}

// callKit is what every call with one token shares: the request headers
// (a GET's, and a form POST's with Content-Type) and, without an app
// secret, the redactor. A request's header map is only read once built:
// net/http copies it for redirects, the tracing transport clones the
// request before its instrumentation, and a RoundTripper may not modify
// the request. So one map serves every call, concurrent ones included,
// until the token changes: six allocations fewer a call.
type callKit struct {
	token     string
	red       *redactor // nil with an app secret: its proof changes
	get, form http.Header
}

// kit returns the callKit of token, from source i's cache when it is
// token's.
func (c *Client) kit(i int, token string) *callKit {
	if k := c.kits[i].Load(); k != nil && k.token == token {
		return k
	}
	auth := []string{"Bearer " + token}
	k := &callKit{
		token: token,
		get:   http.Header{"Authorization": auth, "Accept": acceptJSON, "User-Agent": userAgentValue},
		form:  http.Header{"Authorization": auth, "Accept": acceptJSON, "User-Agent": userAgentValue, "Content-Type": formContentType},
	}
	if c.secret == nil {
		k.red = newRedactor(token)
	}
	c.kits[i].Store(k)
	return k
}

// Option configures a Client. Options check their argument; NewClient
// returns the first error.
type Option func(*Client) error

// NewClient returns a Client. WithToken is required.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		base:     DefaultBaseURL,
		version:  DefaultVersion,
		timeout:  DefaultTimeout,
		maxPages: DefaultMaxPages,
		wabaMax:  DefaultMaxClientWABAPages,
		now:      time.Now,
		maxBody:  DefaultMaxBodyBytes,
		kits:     new([2]atomic.Pointer[callKit]),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.token == nil {
		return nil, errors.New("graph: a token is required (WithToken)")
	}
	if c.admin == nil {
		c.admin = c.token
	}
	c.hc = noRedirects(c.hc)
	return c, nil
}

// noRedirects returns a copy of hc (or a new client) that does not follow
// redirects: Graph does not redirect API calls, and a redirect must not
// carry the token or appsecret_proof to another place. A 3xx answer is an
// *Error.
func noRedirects(hc *http.Client) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// WithBaseURL sets the Graph host, an absolute http or https URL that may
// end in a path prefix (for example an emulator's "http://127.0.0.1:8080/graph").
// Defaults to DefaultBaseURL.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil {
			return errors.New("graph: base URL: not a valid URL")
		}
		switch {
		case p.User != nil:
			return errors.New("graph: base URL: must not hold user info")
		case p.Scheme != "http" && p.Scheme != "https":
			return fmt.Errorf("graph: base URL %q: must be an absolute http or https URL", u)
		case p.Host == "":
			return fmt.Errorf("graph: base URL %q: has no host", u)
		case p.RawQuery != "" || p.ForceQuery || p.Fragment != "":
			return fmt.Errorf("graph: base URL %q: must not hold a query or fragment", u)
		}
		s := p.String()
		c.base = strings.TrimRight(s, "/")
		return nil
	}
}

// WithVersion sets the Graph API version, such as "v25.0". Defaults to
// DefaultVersion.
func WithVersion(v string) Option {
	return func(c *Client) error {
		if !versionRE.MatchString(v) {
			return fmt.Errorf("graph: version %q: want the form v25.0", v)
		}
		c.version = v
		return nil
	}
}

// WithHTTPClient sets the HTTP client (its transport, TLS settings and
// instrumentation). The Client works on a copy that never follows
// redirects. Defaults to a client over http.DefaultTransport.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return errors.New("graph: HTTP client is nil")
		}
		c.hc = h
		return nil
	}
}

// WithTimeout bounds each HTTP round trip, body included. A call that runs
// out of it fails with a *TransportError (transient) wrapping ErrTimeout,
// unlike the caller's context ending. Defaults to DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("graph: timeout %s: must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithToken sets the source of the access token used for reads. Required.
func WithToken(ts TokenSource) Option {
	return func(c *Client) error {
		if ts == nil {
			return errors.New("graph: token source is nil")
		}
		c.token = ts
		return nil
	}
}

// WithAdminToken sets the source of the token used for AssignUser (the
// admin system user's). Defaults to the read token.
func WithAdminToken(ts TokenSource) Option {
	return func(c *Client) error {
		if ts == nil {
			return errors.New("graph: admin token source is nil")
		}
		c.admin = ts
		return nil
	}
}

// WithAppSecret sets the source of the app secret. With it every call
// carries appsecret_proof and appsecret_time.
func WithAppSecret(ts TokenSource) Option {
	return func(c *Client) error {
		if ts == nil {
			return errors.New("graph: app secret source is nil")
		}
		c.secret = ts
		return nil
	}
}

// WithObserver sets a function called once per HTTP round trip, whatever
// its outcome, for metrics and logs. It is called on the calling goroutine
// and must not block. A call that never reached the network (invalid
// argument, token failure, context already done) is not observed.
func WithObserver(fn func(Call)) Option {
	return func(c *Client) error {
		c.observer = fn
		return nil
	}
}

// WithPageSize sets the "limit" parameter of listings, 1 to MaxPageSize.
// Defaults to 0: not sent (Graph's default page size is 25).
func WithPageSize(n int) Option {
	return func(c *Client) error {
		if n < 0 || n > MaxPageSize {
			return fmt.Errorf("graph: page size %d: want 0 to %d", n, MaxPageSize)
		}
		c.pageSize = n
		return nil
	}
}

// WithMaxPages caps the pages a listing follows; a listing that needs more
// fails with ErrTooManyPages. Defaults to DefaultMaxPages.
func WithMaxPages(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("graph: max pages %d: must be at least 1", n)
		}
		c.maxPages = n
		return nil
	}
}

// WithNow sets the clock used for appsecret_time and for Retry-After dates.
// Defaults to time.Now.
func WithNow(fn func() time.Time) Option {
	return func(c *Client) error {
		if fn == nil {
			return errors.New("graph: clock is nil")
		}
		c.now = fn
		return nil
	}
}

// WithMaxBodyBytes caps how much of a response body is read. Defaults to
// DefaultMaxBodyBytes (1 MiB).
func WithMaxBodyBytes(n int64) Option {
	return func(c *Client) error {
		if n < 1 || n > maxMaxBodyBytes {
			return fmt.Errorf("graph: max body bytes %d: want 1 to %d", n, maxMaxBodyBytes)
		}
		c.maxBody = n
		return nil
	}
}

// SystemUsers lists the system users of a business, following every page.
func (c *Client) SystemUsers(ctx context.Context, businessID string) ([]SystemUser, error) {
	var all []SystemUser
	err := c.listSystemUsers(ctx, businessID, func(users []SystemUser) bool {
		all = append(all, users...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// FindSystemUser returns the first system user of a business for which
// match is true, and stops paging there. found is false when none matched.
func (c *Client) FindSystemUser(ctx context.Context, businessID string, match func(SystemUser) bool) (user SystemUser, found bool, err error) {
	if match == nil {
		return SystemUser{}, false, fmt.Errorf("graph %s: match function is nil", OpListSystemUsers)
	}
	err = c.listSystemUsers(ctx, businessID, func(users []SystemUser) bool {
		for _, u := range users {
			if match(u) {
				user, found = u, true
				return false
			}
		}
		return true
	})
	if err != nil {
		return SystemUser{}, false, err
	}
	return user, found, nil
}

func (c *Client) listSystemUsers(ctx context.Context, businessID string, visit func([]SystemUser) bool) error {
	if err := checkID(OpListSystemUsers, "business", businessID); err != nil {
		return err
	}
	return list(ctx, c, OpListSystemUsers, businessID, "system_users", nil, visit)
}

// AssignedUsers lists the users assigned to a WABA, as seen by a business
// (GET /{waba-id}/assigned_users?business={business-id}), following every
// page.
func (c *Client) AssignedUsers(ctx context.Context, wabaID, businessID string) ([]AssignedUser, error) {
	var all []AssignedUser
	err := c.listAssignedUsers(ctx, wabaID, businessID, func(users []AssignedUser) bool {
		all = append(all, users...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// FindAssignedUser returns the assignment of userID on a WABA, and stops
// paging there. found is false when the user is not assigned.
func (c *Client) FindAssignedUser(ctx context.Context, wabaID, businessID, userID string) (user AssignedUser, found bool, err error) {
	if err := checkID(OpListAssignedUsers, "user", userID); err != nil {
		return AssignedUser{}, false, err
	}
	err = c.listAssignedUsers(ctx, wabaID, businessID, func(users []AssignedUser) bool {
		for _, u := range users {
			if u.ID == userID {
				user, found = u, true
				return false
			}
		}
		return true
	})
	if err != nil {
		return AssignedUser{}, false, err
	}
	return user, found, nil
}

func (c *Client) listAssignedUsers(ctx context.Context, wabaID, businessID string, visit func([]AssignedUser) bool) error {
	if err := checkID(OpListAssignedUsers, "WABA", wabaID); err != nil {
		return err
	}
	if err := checkID(OpListAssignedUsers, "business", businessID); err != nil {
		return err
	}
	params := url.Values{"business": {businessID}}
	return list(ctx, c, OpListAssignedUsers, wabaID, "assigned_users", params, visit)
}

// AssignUser assigns a user to a WABA with tasks
// (POST /{waba-id}/assigned_users, form-encoded user=<id>&tasks=["MANAGE"]),
// using the admin token. Graph replaces the user's tasks with tasks: the
// caller passes every task the user should hold. An answer without
// "success": true is an *Error.
func (c *Client) AssignUser(ctx context.Context, wabaID, userID string, tasks []string) error {
	const op = OpAssignUser
	if err := checkID(op, "WABA", wabaID); err != nil {
		return err
	}
	if err := checkID(op, "user", userID); err != nil {
		return err
	}
	if len(tasks) == 0 {
		return fmt.Errorf("graph %s: no tasks", op)
	}
	for _, t := range tasks {
		if t == "" {
			return fmt.Errorf("graph %s: empty task", op)
		}
	}
	tasksJSON, err := json.Marshal(tasks)
	if err != nil {
		return fmt.Errorf("graph %s: encode tasks: %w", op, err)
	}
	form := url.Values{"user": {userID}, "tasks": {string(tasksJSON)}}
	var answer successJSON
	return c.do(ctx, &request{
		op:     op,
		method: http.MethodPost,
		id:     wabaID,
		edge:   "assigned_users",
		params: form,
		admin:  true,
		decode: func(r *response) *Error {
			if decodeBody(r.body, &answer) != nil {
				return r.unexpectedBody()
			}
			if answer.Success == nil || !*answer.Success {
				return notConfirmed(r.op, r.status, r.header, r.body, answer, r.now, r.red)
			}
			return nil
		},
	})
}

// Probe is a cheap check of credentials and of Graph's health:
// GET /{business-id}/system_users?limit=1 with the read token, or with the
// admin token when admin is true. Its errors classify like any other call's.
func (c *Client) Probe(ctx context.Context, businessID string, admin bool) error {
	if err := checkID(OpProbe, "business", businessID); err != nil {
		return err
	}
	var p page[SystemUser]
	return c.do(ctx, &request{
		op:     OpProbe,
		method: http.MethodGet,
		id:     businessID,
		edge:   "system_users",
		params: url.Values{"limit": {"1"}},
		admin:  admin,
		decode: pageDecoder(&p),
	})
}

// checkID rejects ids that are empty or would walk the URL path ("." and
// ".."); every other id is escaped into a single path segment.
func checkID(op, kind, id string) error {
	switch id {
	case "":
		return fmt.Errorf("graph %s: empty %s id", op, kind)
	case ".", "..":
		return fmt.Errorf("graph %s: invalid %s id %q", op, kind, id)
	}
	return nil
}

// list follows the cursor paging of a listing, calling visit with each
// page's data until visit returns false or the last page. It builds each
// request itself from paging.cursors.after, on the client's own base URL:
// it never follows paging.next, which could point anywhere.
func list[T any](ctx context.Context, c *Client, op, id, edge string, params url.Values, visit func([]T) bool) error {
	seen := make(map[string]bool)
	after := ""
	for n := 1; ; n++ {
		if n > c.maxPages {
			return fmt.Errorf("graph %s: %w (more than %d)", op, ErrTooManyPages, c.maxPages)
		}
		q := url.Values{}
		for k, v := range params {
			q[k] = v
		}
		if c.pageSize > 0 {
			q.Set("limit", strconv.Itoa(c.pageSize))
		}
		if after != "" {
			q.Set("after", after)
		}
		var p page[T]
		err := c.do(ctx, &request{
			op:     op,
			method: http.MethodGet,
			id:     id,
			edge:   edge,
			params: q,
			decode: pageDecoder(&p),
		})
		if err != nil {
			return err
		}
		if !visit(*p.Data) {
			return nil
		}
		after = p.nextCursor()
		if after == "" {
			return nil
		}
		if seen[after] {
			return fmt.Errorf("graph %s: %w (after page %d)", op, ErrCursorLoop, n)
		}
		seen[after] = true
	}
}

func pageDecoder[T any](p *page[T]) func(*response) *Error {
	return func(r *response) *Error {
		if !p.decode(r.body) {
			return r.unexpectedBody()
		}
		return nil
	}
}

// request is one Graph call.
type request struct {
	op     string
	method string
	id     string
	edge   string
	params url.Values // query (GET) or form (POST); do adds appsecret_proof
	admin  bool       // use the admin token
	// decode checks and decodes the body of a 2xx answer that holds no
	// Graph error.
	decode func(*response) *Error
}

// response is a 2xx answer handed to request.decode.
type response struct {
	op     string
	status int
	header http.Header
	body   []byte
	now    time.Time
	red    *redactor
}

func (r *response) unexpectedBody() *Error {
	return unexpectedBody(r.op, r.status, r.header, r.body, r.now, r.red)
}

// canceled is the error of a call whose caller's context ended: it matches
// context.Canceled or context.DeadlineExceeded (and the context's cause).
func canceled(ctx context.Context, op string) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("graph %s: %w: %w", op, err, cause)
	}
	return fmt.Errorf("graph %s: %w", op, err)
}

// do makes one HTTP round trip and reports it to the observer.
// Request header values every call sends.
var (
	acceptJSON      = []string{"application/json"}
	userAgentValue  = []string{userAgent}
	formContentType = []string{"application/x-www-form-urlencoded"}
)

func (c *Client) do(ctx context.Context, r *request) error {
	if ctx.Err() != nil {
		return canceled(ctx, r.op)
	}
	src, what, which := c.token, "access token", 0
	if r.admin {
		src, what, which = c.admin, "admin token", 1
	}
	token, err := credential(ctx, r.op, what, src, true)
	if err != nil {
		return err
	}
	kit := c.kit(which, token)
	encoded := r.params.Encode()
	red := kit.red
	if c.secret != nil {
		secret, err := credential(ctx, r.op, "app secret", c.secret, false)
		if err != nil {
			return err
		}
		t := strconv.FormatInt(c.now().Unix(), 10)
		proof := appSecretProof(secret, token, t)
		if encoded != "" {
			encoded += "&"
		}
		// Encoded apart: appending them to r.params would write the caller's map.
		encoded += url.Values{"appsecret_proof": {proof}, "appsecret_time": {t}}.Encode()
		red = newRedactor(token, secret, proof)
	}

	target := c.base + "/" + c.version + "/" + url.PathEscape(r.id) + "/" + r.edge
	var body io.Reader
	if r.method == http.MethodGet {
		if encoded != "" {
			target += "?" + encoded
		}
	} else {
		body = strings.NewReader(encoded)
	}

	callCtx, cancel := context.WithTimeoutCause(ctx, c.timeout, errCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, r.method, target, body)
	if err != nil {
		return fmt.Errorf("graph %s: build request: %w", r.op, sanitizeTransportErr(err, false, 0, red))
	}
	req.Header = kit.get
	if body != nil {
		req.Header = kit.form
	}

	call := Call{Op: r.op, Method: r.method, RequestedVersion: c.version}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		call.Duration = time.Since(start)
		call.Err = c.transportErr(ctx, callCtx, r.op, err, red)
		c.observe(call)
		return call.Err
	}
	data, truncated, err := readBody(resp.Body, resp.ContentLength, c.maxBody)
	resp.Body.Close()
	call.Duration = time.Since(start)
	call.HTTPStatus = resp.StatusCode
	call.ServedVersion = sanitizeLine(resp.Header.Get(headerAPIVersion), 32)
	call.Usage = Usage{AppHeader: resp.Header.Get(headerAppUsage), BusinessHeader: resp.Header.Get(headerBusinessUsage)}
	if err != nil {
		call.Err = c.transportErr(ctx, callCtx, r.op, err, red)
		c.observe(call)
		return call.Err
	}

	now := c.now()
	gerr := checkResponse(r.op, resp.StatusCode, resp.Header, data, now, red)
	if gerr == nil {
		if truncated {
			gerr = tooLarge(r.op, resp.StatusCode, resp.Header, c.maxBody, now, red)
		} else if r.decode != nil {
			gerr = r.decode(&response{op: r.op, status: resp.StatusCode, header: resp.Header, body: data, now: now, red: red})
		}
	}
	if gerr != nil {
		call.Code = gerr.Code
		call.Err = gerr
		c.observe(call)
		return gerr
	}
	c.observe(call)
	return nil
}

// transportErr builds the error of a round trip that got no usable
// response. The caller's context wins: when it ended, the error says so.
func (c *Client) transportErr(ctx, callCtx context.Context, op string, err error, red *redactor) error {
	if ctx.Err() != nil {
		return canceled(ctx, op)
	}
	timedOut := callCtx.Err() != nil && errors.Is(context.Cause(callCtx), errCallTimeout)
	return &TransportError{Op: op, Err: sanitizeTransportErr(err, timedOut, c.timeout, red)}
}

func (c *Client) observe(call Call) {
	if c.observer != nil {
		c.observer(call)
	}
}
