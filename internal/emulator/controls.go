package emulator

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// SetLatency adds d to every answer. The request is processed first (a POST
// takes effect even when the client gives up), then the answer waits d,
// without holding any lock; the wait ends early when the request's context
// or the server ends. 0 disables.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// SetLatencyJitter adds a random extra of up to d to each answer's latency
// (uniform), so that concurrent requests finish in no fixed order, as on
// the internet. 0 disables.
func (s *Server) SetLatencyJitter(d time.Duration) { s.jitter.Store(int64(max(d, 0))) }

// answerDelay is the latency of one answer: SetLatency plus a random part
// of SetLatencyJitter.
func (s *Server) answerDelay() time.Duration {
	d := time.Duration(s.latency.Load())
	if j := s.jitter.Load(); j > 0 {
		d += time.Duration(rand.Int64N(j + 1))
	}
	return d
}

// SetVisibilityDelay makes a successful POST (or DELETE) show in GET
// assigned_users only d after it was answered, as Meta's replicas
// sometimes do. Assignments shows it at once. 0 disables.
func (s *Server) SetVisibilityDelay(d time.Duration) { s.visibilityDelay.Store(int64(max(d, 0))) }

// SetAlreadyAssignedError makes a POST for a user that already holds every
// posted task answer code 100 ("... already assigned ...") and change
// nothing, as Meta sometimes does, instead of {"success":true}.
func (s *Server) SetAlreadyAssignedError(on bool) { s.alreadyAssigned.Store(on) }

// SetEmptyPages makes every listing serve n empty pages (data [] with
// cursors and a next link) before each page of data, and before the final
// answer of an empty listing. 0 disables.
func (s *Server) SetEmptyPages(n int) { s.emptyPages.Store(int32(max(n, 0))) }

// SetOldestVersion makes the emulator serve requests for versions older
// than v (e.g. "v20.0") as v and say so in facebook-api-version, as Meta
// does for an expired version. "" disables (the default: every version is
// served as requested).
func (s *Server) SetOldestVersion(v string) error {
	if v == "" {
		s.oldestVersion.Store(nil)
		return nil
	}
	pv, ok := parseVersion(v)
	if !ok {
		return fmt.Errorf("emulator: SetOldestVersion: %q is not like v25.0", v)
	}
	s.oldestVersion.Store(&pv)
	return nil
}

// Outage is a mode of SetOutage.
type Outage int32

const (
	// OutageOff answers normally.
	OutageOff Outage = iota
	// OutageHTML answers every request with HTTP 503 and an HTML page.
	OutageHTML
	// OutageDrop closes every connection without an answer.
	OutageDrop
)

// SetOutage starts (or with OutageOff ends) an outage: every request, of any
// op, fails the same way and changes nothing.
func (s *Server) SetOutage(o Outage) { s.outage.Store(int32(o)) }

// Outage reports the current outage mode.
func (s *Server) Outage() Outage { return Outage(s.outage.Load()) }

// SetRateLimit answers every authenticated request beyond n in a fixed
// window of length per with HTTP 400, code 80008 (subcode 2446079,
// is_transient true) and an X-Business-Use-Case-Usage header whose
// estimated_time_to_regain_access is the rest of the window in whole
// minutes, rounded down (0 for windows under a minute). n <= 0 disables.
func (s *Server) SetRateLimit(n int, per time.Duration) {
	s.meter.mu.Lock()
	defer s.meter.mu.Unlock()
	if n <= 0 || per <= 0 {
		n, per = 0, 0
	}
	s.meter.limit, s.meter.per = n, per
	s.meter.winStart, s.meter.used = time.Time{}, 0
}

// Fault is a scripted failure for InjectFault. The zero Fault answers HTTP
// 500 with code 2 once.
type Fault struct {
	// Status is the HTTP status. Defaults to 502 for HTML; else by code:
	// 500 for codes 1 and 2, 401 for 102 and 190, 403 for 200-299, 400
	// otherwise.
	Status int
	// Code and Subcode of the Graph error. Code defaults to 2 for a 5xx (or
	// no status) and to 1 otherwise; Subcode 0 is omitted.
	Code, Subcode int
	// Type defaults to OAuthException.
	Type string
	// Message defaults to Meta's text for Code.
	Message     string
	IsTransient bool
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// BUCEstimatedMinutes, when > 0, is reported as
	// estimated_time_to_regain_access in X-Business-Use-Case-Usage.
	BUCEstimatedMinutes int
	// Hang blocks until the request's context (or the server) ends; no
	// answer is sent.
	Hang bool
	// Drop closes the connection without an answer: the client sees a
	// transport error. (Go's transport retries an idempotent request that
	// failed on a reused connection; use a new connection, or Times > 1, to
	// make a GET fail.)
	Drop bool
	// HTML, when set, is sent as a text/html body instead of a Graph error
	// (ErrorPage is Facebook's).
	HTML string
	// Body, when set, is sent verbatim as an application/json body instead
	// of a Graph error (for malformed or unexpected JSON).
	Body string
	// Times is how many requests the fault answers. Defaults to 1; -1 means
	// until ClearFaults.
	Times int
	// Object, when set, limits the fault to requests on that id (a WABA or
	// business id).
	Object string
	// Apply lets the request take effect first (a POST assigns) and then
	// answers with the fault: the "it failed but it happened" case.
	Apply bool
}

type faultEntry struct {
	op   string
	f    Fault
	left int // -1: forever
}

// faultQueue holds the scripted faults in injection order.
type faultQueue struct {
	n       atomic.Int32 // len(entries), for a lock-free empty check
	mu      sync.Mutex
	entries []*faultEntry
}

// InjectFault queues f for requests of op (graph.OpListSystemUsers,
// graph.OpListAssignedUsers, graph.OpAssignUser, graph.OpListClientWABAs,
// OpUnassignUser, OpReadNode, or "*" for any request, even one with an
// unknown path). A request takes the oldest queued fault that matches it.
func (s *Server) InjectFault(op string, f Fault) {
	e := &faultEntry{op: op, f: f, left: f.Times}
	if e.left == 0 {
		e.left = 1
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.entries = append(s.faults.entries, e)
	s.faults.n.Store(int32(len(s.faults.entries)))
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.entries = nil
	s.faults.n.Store(0)
}

// PendingFaults reports how many faults are still queued.
func (s *Server) PendingFaults() int { return int(s.faults.n.Load()) }

func (q *faultQueue) take(op, object string) (Fault, bool) {
	if q.n.Load() == 0 {
		return Fault{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, e := range q.entries {
		if (e.op != "*" && e.op != op) || (e.f.Object != "" && e.f.Object != object) {
			continue
		}
		if e.left > 0 {
			e.left--
			if e.left == 0 {
				q.entries = append(q.entries[:i], q.entries[i+1:]...)
				q.n.Store(int32(len(q.entries)))
			}
		}
		return e.f, true
	}
	return Fault{}, false
}

func (s *Server) faultResponse(x *exchange, f Fault) *response {
	switch {
	case f.Drop:
		return &response{drop: true, fault: "fault"}
	case f.Hang:
		return &response{hang: true, fault: "fault"}
	}
	var resp *response
	switch {
	case f.HTML != "":
		resp = &response{status: f.Status, body: []byte(f.HTML), contentType: contentHTML}
		if resp.status == 0 {
			resp.status = http.StatusBadGateway
		}
	default:
		code := f.Code
		if code == 0 {
			code = 1
			if f.Status == 0 || f.Status >= 500 {
				code = 2
			}
		}
		status := f.Status
		if status == 0 {
			status = defaultStatus(code)
		}
		if f.Body != "" {
			resp = &response{status: status, body: []byte(f.Body), contentType: contentJSON, graphHeaders: true}
			break
		}
		typ, msg := f.Type, f.Message
		if typ == "" {
			typ = typeOAuth
		}
		if msg == "" {
			msg = defaultMessages[code]
			if msg == "" {
				msg = fmt.Sprintf("(#%d) An error occurred", code)
			}
		}
		resp = errorResponse(x.trace, status, apiError{
			Message: msg, Type: typ, Code: code, Subcode: f.Subcode, IsTransient: f.IsTransient,
		})
	}
	if f.RetryAfter != "" {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		resp.header.Set("Retry-After", f.RetryAfter)
	}
	resp.bucMinutes = f.BUCEstimatedMinutes
	resp.fault = "fault"
	return resp
}

func defaultStatus(code int) int {
	switch {
	case code == 1 || code == 2:
		return http.StatusInternalServerError
	case code == 102 || code == 190:
		return http.StatusUnauthorized
	case code >= 200 && code <= 299:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// meter counts requests for the rate limit and the usage headers.
type meter struct {
	mu       sync.Mutex
	limit    int
	per      time.Duration
	winStart time.Time
	used     int
	minStart time.Time // per-minute count for X-App-Usage
	minCount int
}

// allow counts one request against the rate limit; when it is over, wait
// is the rest of the window.
func (m *meter) allow(now time.Time) (ok bool, wait time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit == 0 {
		return true, 0
	}
	if now.Sub(m.winStart) >= m.per {
		m.winStart, m.used = now, 0
	}
	m.used++
	if m.used <= m.limit {
		return true, 0
	}
	return false, m.winStart.Add(m.per).Sub(now)
}

// usage renders X-App-Usage and X-Business-Use-Case-Usage: percentages of
// the rate limit's window when one is set, else of a notional budget of
// 10,000 calls a minute (capped at 95%).
func (m *meter) usage(now time.Time, object string, bucMinutes int) (app, buc string) {
	m.mu.Lock()
	if now.Sub(m.minStart) >= time.Minute {
		m.minStart, m.minCount = now, 0
	}
	m.minCount++
	pct := min(m.minCount/100, 95)
	if m.limit > 0 && now.Sub(m.winStart) < m.per {
		pct = m.used * 100 / m.limit
	}
	m.mu.Unlock()
	if bucMinutes > 0 {
		pct = max(pct, 100)
	}
	app = fmt.Sprintf(`{"call_count":%d,"total_cputime":%d,"total_time":%d}`, pct, pct/4, pct/2)
	if !isDigits(object) {
		return app, "{}"
	}
	buc = fmt.Sprintf(`{"%s":[{"type":"whatsapp_business_management","call_count":%d,"total_cputime":%d,"total_time":%d,"estimated_time_to_regain_access":%d}]}`,
		object, pct, pct/4, pct/2, max(bucMinutes, 0))
	return app, buc
}
