package graph

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestClassifySpecTable pins every code of the error table in README ("How it fails").
func TestClassifySpecTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want Class
	}{
		// transient
		{1, ClassTransient},
		{2, ClassTransient},
		{341, ClassTransient},
		{131000, ClassTransient},
		{131016, ClassTransient},
		{133004, ClassTransient},
		{131057, ClassTransient},
		// rate limited (transient, and slow down)
		{4, ClassRateLimited},
		{17, ClassRateLimited},
		{32, ClassRateLimited},
		{613, ClassRateLimited},
		{80007, ClassRateLimited},
		{80008, ClassRateLimited},
		{130429, ClassRateLimited},
		// credentials
		{102, ClassCredentials},
		{190, ClassCredentials},
		// permanent
		{3, ClassPermanent},
		{10, ClassPermanent},
		{100, ClassPermanent},
		{200, ClassPermanent},
		{210, ClassPermanent},
		{294, ClassPermanent},
		{299, ClassPermanent},
		{368, ClassPermanent},
		{131009, ClassPermanent},
	}
	for _, tt := range tests {
		// At HTTP 400, with and without the OAuthException type Graph often
		// sends, the code alone decides.
		for _, typ := range []string{"", "OAuthException", "GraphMethodException"} {
			e := &Error{HTTPStatus: 400, Code: tt.code, Type: typ}
			want := tt.want
			if typ == "OAuthException" && tt.code == 131009 {
				want = ClassCredentials // not a listed code: the type decides
			}
			if got := Classify(e); got != want {
				t.Errorf("code %d type %q: %v, want %v", tt.code, typ, got, want)
			}
		}
	}
}

func TestClassifyGraphErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want Class
	}{
		{"100 subcode 33", &Error{HTTPStatus: 400, Code: 100, Subcode: 33}, ClassPermanent},
		{"190 any subcode", &Error{HTTPStatus: 400, Code: 190, Subcode: 463, Type: "OAuthException"}, ClassCredentials},
		{"190 at 500", &Error{HTTPStatus: 500, Code: 190}, ClassCredentials},
		{"190 is_transient", &Error{HTTPStatus: 400, Code: 190, IsTransient: true}, ClassCredentials},
		{"80008 at 400", &Error{HTTPStatus: 400, Code: 80008}, ClassRateLimited},
		{"4 at 403", &Error{HTTPStatus: 403, Code: 4, Type: "OAuthException"}, ClassRateLimited},
		{"100 at 500", &Error{HTTPStatus: 500, Code: 100}, ClassPermanent},
		{"100 at 500 is_transient", &Error{HTTPStatus: 500, Code: 100, IsTransient: true}, ClassTransient},
		{"200 at 503", &Error{HTTPStatus: 503, Code: 200, Type: "OAuthException"}, ClassPermanent},
		{"OAuthException code 0", &Error{HTTPStatus: 400, Type: "OAuthException", Message: "An active access token must be used"}, ClassCredentials},
		{"OAuthException unknown code", &Error{HTTPStatus: 400, Code: 999, Type: "OAuthException"}, ClassCredentials},
		{"OAuthException is_transient", &Error{HTTPStatus: 400, Code: 999, Type: "OAuthException", IsTransient: true}, ClassTransient},
		{"unknown code is_transient", &Error{HTTPStatus: 400, Code: 999, IsTransient: true}, ClassTransient},
		{"unknown code at 400", &Error{HTTPStatus: 400, Code: 999}, ClassPermanent},
		{"unknown code at 500", &Error{HTTPStatus: 500, Code: 999}, ClassTransient},
		{"unknown code at 429", &Error{HTTPStatus: 429, Code: 999}, ClassTransient},
		{"429 without code", &Error{HTTPStatus: 429}, ClassRateLimited},
		{"429 without code is_transient", &Error{HTTPStatus: 429, IsTransient: true}, ClassRateLimited},
		{"502 html", &Error{HTTPStatus: 502, Body: "Bad Gateway"}, ClassTransient},
		{"503 empty", &Error{HTTPStatus: 503}, ClassTransient},
		{"599", &Error{HTTPStatus: 599}, ClassTransient},
		{"404 text", &Error{HTTPStatus: 404, Body: "not found"}, ClassPermanent},
		{"302", &Error{HTTPStatus: 302}, ClassPermanent},
		{"2xx unparsable", &Error{HTTPStatus: 200, IsTransient: true}, ClassTransient},
		{"2xx success false", &Error{HTTPStatus: 200, Message: "not confirmed"}, ClassPermanent},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	t.Parallel()
	graphErr := &Error{Op: OpAssignUser, HTTPStatus: 400, Code: 80008, RetryAfter: 2 * time.Minute}
	deadline, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassNone},
		{"canceled", context.Canceled, ClassCanceled},
		{"deadline", context.DeadlineExceeded, ClassCanceled},
		{"deadline of a context", deadline.Err(), ClassCanceled},
		{"wrapped canceled", fmt.Errorf("graph list_system_users: %w", context.Canceled), ClassCanceled},
		{"transport", &TransportError{Op: OpProbe, Err: errors.New("connection reset by peer")}, ClassTransient},
		{"per-call timeout", &TransportError{Op: OpProbe, Err: &timeoutError{msg: "call timed out after 10s"}}, ClassTransient},
		{"wrapped transport", fmt.Errorf("assign 1: %w", &TransportError{Err: errors.New("EOF")}), ClassTransient},
		{"wrapped graph", fmt.Errorf("assign 1: %w", graphErr), ClassRateLimited},
		{"joined graph", errors.Join(errors.New("x"), graphErr), ClassRateLimited},
		{"credentials", &credentialsError{op: OpProbe, what: "access token", err: errors.New("token file: stat /x: no such file")}, ClassCredentials},
		{"credentials canceled", &credentialsError{op: OpProbe, what: "access token", err: context.Canceled}, ClassCanceled},
		{"too many pages", fmt.Errorf("graph x: %w", ErrTooManyPages), ClassPermanent},
		{"anything else", errors.New("boom"), ClassPermanent},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := RetryAfter(fmt.Errorf("wrapped: %w", graphErr)); got != 2*time.Minute {
		t.Errorf("RetryAfter through wrapping: %s", got)
	}
	for _, err := range []error{nil, errors.New("x"), &TransportError{Err: errors.New("x")}} {
		if got := RetryAfter(err); got != 0 {
			t.Errorf("RetryAfter(%v) = %s, want 0", err, got)
		}
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	for c, want := range map[Class]string{
		ClassNone: "none", ClassCanceled: "canceled", ClassTransient: "transient", ClassRateLimited: "rate_limited",
		ClassCredentials: "credentials", ClassPermanent: "permanent", Class(99): "unknown",
	} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", int(c), c.String(), want)
		}
		if retry := c == ClassTransient || c == ClassRateLimited; c.Retryable() != retry {
			t.Errorf("%v.Retryable() = %v", c, c.Retryable())
		}
	}
}
