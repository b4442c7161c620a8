package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Error is an answer from Graph that is not a success: every non-2xx
// response, a 2xx whose body holds an "error" object, a 2xx whose body cannot
// be parsed, and a POST answered with "success": false.
//
// The Graph fields are copied from Graph's error object
// {"error":{"message","type","code","error_subcode","error_user_title",
// "error_user_msg","fbtrace_id","is_transient"}}. When the body is not Graph
// JSON (an HTML error page from a proxy, garbage, an empty body) only
// HTTPStatus, FBTraceID (from the x-fb-trace-id header), RetryAfter and Body
// are set.
type Error struct {
	Op          string        // Op* constant
	HTTPStatus  int           // the response's status code
	Code        int           // Graph's error code
	Subcode     int           // error_subcode
	Type        string        // e.g. OAuthException
	Message     string        // Graph's message, e.g. "(#200) Permissions error"
	UserTitle   string        // error_user_title
	UserMessage string        // error_user_msg
	FBTraceID   string        // fbtrace_id, or the x-fb-trace-id header
	IsTransient bool          // is_transient
	RetryAfter  time.Duration // from Retry-After, or estimated_time_to_regain_access in X-Business-Use-Case-Usage; 0 when Meta did not say
	Body        string        // short excerpt (<= 256 bytes, sanitized) when the body was not Graph JSON
}

// Error formats the error for logs, for example
//
//	graph list_assigned_users: (#100) Unsupported get request. (code 100, subcode 33, fbtrace_id AbC123)
//	graph assign_user: HTTP 502: 502 Bad Gateway
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph ")
	if e.Op != "" {
		b.WriteString(e.Op)
	} else {
		b.WriteString("call")
	}
	b.WriteString(": ")

	if e.Message == "" && e.Code == 0 {
		// Not Graph JSON: say what came back.
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.HTTPStatus))
		b.WriteString(": ")
		if e.Body != "" {
			b.WriteString(e.Body)
		} else {
			b.WriteString("empty body")
		}
		if e.FBTraceID != "" {
			b.WriteString(" (fbtrace_id ")
			b.WriteString(e.FBTraceID)
			b.WriteString(")")
		}
		return b.String()
	}

	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.HTTPStatus))
	}
	var details []string
	if e.Code != 0 {
		details = append(details, "code "+strconv.Itoa(e.Code))
	}
	if e.Subcode != 0 {
		details = append(details, "subcode "+strconv.Itoa(e.Subcode))
	}
	if e.FBTraceID != "" {
		details = append(details, "fbtrace_id "+e.FBTraceID)
	}
	if len(details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(details, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// TransportError is a call that got no usable response: a network error, a
// reset, a timeout (the client's own per-call timeout, see WithTimeout), or a
// failure while reading the body. It is always transient. The caller's own
// context ending is not a TransportError (see Classify).
//
// Its message never holds the request URL's query (where appsecret_proof
// travels) nor any secret the client knows of.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string {
	op := e.Op
	if op == "" {
		op = "call"
	}
	if e.Err == nil {
		return "graph " + op + ": transport error"
	}
	return "graph " + op + ": " + e.Err.Error()
}

func (e *TransportError) Unwrap() error { return e.Err }

// ErrTimeout is wrapped by the *TransportError of a call that outlived its
// per-call timeout (WithTimeout, or the http.Client's own Timeout). Such an
// error does not match context.DeadlineExceeded: that one is reserved for the
// caller's context.
var ErrTimeout = errors.New("graph: call timed out")

// ErrTooManyPages is wrapped by the error of a listing that needed more pages
// than WithMaxPages allows.
var ErrTooManyPages = errors.New("graph: too many pages")

// ErrCursorLoop is wrapped by the error of a listing whose paging cursor came
// back a second time (which would otherwise page forever).
var ErrCursorLoop = errors.New("graph: paging cursor repeated")

// timeoutError replaces the error of a timed-out call so that its chain holds
// ErrTimeout and not context.DeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }
func (e *timeoutError) Timeout() bool        { return true }

// credentialsError is a token source (or app secret source) that failed, or
// yielded an unusable value. Classify maps it to ClassCredentials.
type credentialsError struct {
	op   string
	what string // "access token", "admin token", "app secret"
	err  error
}

func (e *credentialsError) Error() string {
	return "graph " + e.op + ": " + e.what + ": " + e.err.Error()
}

func (e *credentialsError) Unwrap() error { return e.err }

// redactor removes known secrets from text that ends up in error strings.
// Secrets shorter than minSecretLen are not redacted (they would garble
// messages, and no real token is that short).
type redactor struct {
	secrets []string
	once    sync.Once
	r       *strings.Replacer // built on first use: most calls never redact
}

const minSecretLen = 8

func newRedactor(secrets ...string) *redactor {
	var keep []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			keep = append(keep, s)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return &redactor{secrets: keep}
}

// contains reports whether s holds a secret.
func (r *redactor) contains(s string) bool {
	if r == nil {
		return false
	}
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

func (r *redactor) redact(s string) string {
	if r == nil || !r.contains(s) {
		return s
	}
	r.once.Do(func() {
		pairs := make([]string, 0, 2*len(r.secrets))
		for _, sec := range r.secrets {
			pairs = append(pairs, sec, "[REDACTED]")
		}
		r.r = strings.NewReplacer(pairs...)
	})
	return r.r.Replace(s)
}

// redactedError hides secrets in the message of an error while keeping its
// chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redactor) wrap(err error) error {
	if err == nil || !r.contains(err.Error()) {
		return err
	}
	return &redactedError{msg: r.redact(err.Error()), err: err}
}

// stripURL returns u without its query, fragment and user info.
func stripURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	return u.String()
}

// sanitizeTransportErr rebuilds an error from http.Client.Do or a body read
// so that it holds no URL query and no secret, and so that a timeout matches
// ErrTimeout rather than a context error. timedOut is set when the client's
// per-call timeout fired.
func sanitizeTransportErr(err error, timedOut bool, timeout time.Duration, red *redactor) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		inner = sanitizeInner(inner, timedOut, timeout, red)
		return &url.Error{Op: ue.Op, URL: stripURL(ue.URL), Err: inner}
	}
	return sanitizeInner(err, timedOut, timeout, red)
}

func sanitizeInner(err error, timedOut bool, timeout time.Duration, red *redactor) error {
	switch {
	case timedOut:
		return &timeoutError{msg: fmt.Sprintf("call timed out after %s", timeout)}
	case errors.Is(err, context.DeadlineExceeded):
		// A timeout of the http.Client itself (Client.Timeout): not the
		// caller's context, which the client checks before it gets here.
		return &timeoutError{msg: red.redact(err.Error())}
	case errors.Is(err, context.Canceled):
		// A transport that canceled the request on its own: drop the chain
		// so that it is not taken for the caller's cancellation.
		return errors.New(red.redact(err.Error()))
	}
	return red.wrap(err)
}
