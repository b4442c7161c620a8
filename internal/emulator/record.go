package emulator

import (
	"net/url"
	"slices"
	"sync"
	"time"
)

// Redacted replaces secret parameter values in a recorded Request.
const Redacted = "REDACTED"

// Request is the record of one request, made before its answer is sent:
// a test that got an answer finds its request in Requests.
type Request struct {
	Time    time.Time // when it arrived
	Method  string
	Op      string // graph.Op* constant, OpUnassignUser, OpReadNode, or "" for an unknown path
	Path    string
	Object  string // the id in the path
	Version string // the version in the path, "" when invalid
	// Query and Form (the body's parameters) with access_token and
	// appsecret_proof values replaced by Redacted.
	Query       url.Values
	Form        url.Values
	ContentType string // of the body

	Status  int // HTTP status; 0 when dropped or hung
	Code    int // Graph error code; 0 on success
	Subcode int
	TraceID string // fbtrace_id / x-fb-trace-id
	// Fault says what failed the request on purpose: "fault" (InjectFault),
	// "outage" (SetOutage), "rate_limit" (SetRateLimit), or "".
	Fault   string
	Dropped bool // the connection was closed without an answer
	Hung    bool // the request was held until the client gave up

	AuthHeader   bool // an Authorization: Bearer token was sent
	TokenInQuery bool // access_token was in the URL's query
	TokenInForm  bool // access_token was in the body
}

type countKey struct{ op, object string }

// requestLog is the record of requests: appended under a short lock.
type requestLog struct {
	mu     sync.Mutex
	max    int
	reqs   []Request
	counts map[countKey]int
	total  int
}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && len(l.reqs) >= 2*l.max {
		n := copy(l.reqs, l.reqs[len(l.reqs)-l.max:])
		clear(l.reqs[n:])
		l.reqs = l.reqs[:n]
	}
	l.reqs = append(l.reqs, r)
	if l.counts == nil {
		l.counts = map[countKey]int{}
	}
	l.counts[countKey{r.Op, ""}]++
	if r.Object != "" {
		l.counts[countKey{r.Op, r.Object}]++
	}
	l.total++
}

// Requests returns the record of requests, oldest first (a copy).
func (s *Server) Requests() []Request {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return slices.Clone(s.log.reqs)
}

// RequestsFor returns the recorded requests of op ("*" for all).
func (s *Server) RequestsFor(op string) []Request {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	var out []Request
	for _, r := range s.log.reqs {
		if op == "*" || r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// ResetRequests forgets the record and the counters.
func (s *Server) ResetRequests() {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.reqs = nil
	s.log.counts = nil
	s.log.total = 0
}

// Count reports how many requests of op arrived (any outcome); "*" counts
// every request.
func (s *Server) Count(op string) int {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	if op == "*" {
		return s.log.total
	}
	return s.log.counts[countKey{op, ""}]
}

// CountFor reports how many requests of op on object (a WABA or business
// id) arrived, e.g. CountFor(graph.OpAssignUser, wabaID) for the POSTs for
// one WABA.
func (s *Server) CountFor(op, object string) int {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.counts[countKey{op, object}]
}

func redact(v url.Values) url.Values {
	if len(v) == 0 {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vals := range v {
		if k == "access_token" || k == "appsecret_proof" {
			r := make([]string, len(vals))
			for i := range r {
				r[i] = Redacted
			}
			out[k] = r
			continue
		}
		out[k] = slices.Clone(vals)
	}
	return out
}
