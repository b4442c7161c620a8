package graph

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Classify says what the worker should do about an error returned by the
// client (possibly wrapped):
//
//   - nil: ClassNone.
//   - the caller's context was canceled or its deadline passed
//     (context.Canceled, context.DeadlineExceeded): ClassCanceled. The
//     client's own per-call timeout is a *TransportError instead.
//   - *TransportError (network error, reset, per-call timeout, body read
//     failure): ClassTransient.
//   - *Error: by Graph code first, then is_transient, then HTTP status:
//     codes 4, 17, 32, 613, 80007, 80008, 130429 (and HTTP 429 without a
//     code) are ClassRateLimited; codes 1, 2, 341, 131000, 131016, 133004,
//     131057 are ClassTransient; codes 102 and 190 (any subcode) are
//     ClassCredentials; then is_transient: true is ClassTransient; codes 3, 10,
//     100, 200-299 and 368 are ClassPermanent; then type OAuthException (with
//     a code not listed above) is ClassCredentials; then HTTP 5xx and 429 are
//     ClassTransient; everything else is ClassPermanent.
//   - a token source that failed or yielded an unusable token:
//     ClassCredentials.
//   - anything else (invalid arguments, ErrTooManyPages, ErrCursorLoop):
//     ClassPermanent.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassCanceled
	}
	var te *TransportError
	if errors.As(err, &te) {
		return ClassTransient
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge.class()
	}
	var ce *credentialsError
	if errors.As(err, &ce) {
		return ClassCredentials
	}
	return ClassPermanent
}

// RetryAfter returns how long Meta asked the caller to wait (Retry-After, or
// estimated_time_to_regain_access in X-Business-Use-Case-Usage), found in the
// *Error within err; 0 when err holds no *Error or Meta did not say.
func RetryAfter(err error) time.Duration {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.RetryAfter
	}
	return 0
}

// Graph codes by class; see Classify and the table in README ("How it fails").
var (
	rateLimitedCodes = map[int]bool{4: true, 17: true, 32: true, 613: true, 80007: true, 80008: true, 130429: true}
	transientCodes   = map[int]bool{1: true, 2: true, 341: true, 131000: true, 131016: true, 133004: true, 131057: true}
	credentialCodes  = map[int]bool{102: true, 190: true}
)

// permanentCode reports the codes README ("How it fails") names as
// permanent. They stay permanent whatever the HTTP status (unless
// is_transient says otherwise).
func permanentCode(code int) bool {
	switch {
	case code == 3, code == 10, code == 100, code == 368:
		return true
	case code >= 200 && code <= 299:
		return true
	}
	return false
}

func (e *Error) class() Class {
	switch {
	case rateLimitedCodes[e.Code]:
		return ClassRateLimited
	case transientCodes[e.Code]:
		return ClassTransient
	case credentialCodes[e.Code]:
		return ClassCredentials
	case e.Code == 0 && e.HTTPStatus == http.StatusTooManyRequests:
		return ClassRateLimited
	case e.IsTransient:
		return ClassTransient
	case permanentCode(e.Code):
		return ClassPermanent
	case e.Type == "OAuthException":
		return ClassCredentials
	case e.HTTPStatus == http.StatusTooManyRequests, e.HTTPStatus >= 500 && e.HTTPStatus <= 599:
		return ClassTransient
	}
	return ClassPermanent
}
