package graph

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fuzzSecret makes a realistic secret (alphanumeric, at least 16 bytes) out
// of fuzz input, or "" when the input does not make one.
func fuzzSecret(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, s)
	if len(s) < 16 || strings.Contains(strings.ToUpper(s), "REDACTED") {
		return ""
	}
	return s
}

// checkErrorInvariants holds for every *Error the parsing path makes.
func checkErrorInvariants(t *testing.T, e *Error, status int, secret string) {
	t.Helper()
	msg := e.Error()
	if msg == "" || !strings.HasPrefix(msg, "graph ") {
		t.Errorf("Error() = %q", msg)
	}
	if e.HTTPStatus != status {
		t.Errorf("HTTPStatus %d, want %d", e.HTTPStatus, status)
	}
	if len(e.Body) > maxExcerpt || !utf8.ValidString(e.Body) {
		t.Errorf("Body: %d bytes, valid UTF-8 %v", len(e.Body), utf8.ValidString(e.Body))
	}
	for _, r := range e.Body {
		if !unicode.IsPrint(r) {
			t.Errorf("Body %q holds the non-printable %U", e.Body, r)
		}
	}
	if e.Body != strings.TrimSpace(e.Body) {
		t.Errorf("Body %q is not trimmed", e.Body)
	}
	if len(e.Message) > maxMessage || len(e.UserTitle) > maxMessage || len(e.UserMessage) > maxMessage ||
		len(e.Type) > maxShortField || len(e.FBTraceID) > maxShortField {
		t.Errorf("a field is over its size limit: %d %d %d %d %d",
			len(e.Message), len(e.UserTitle), len(e.UserMessage), len(e.Type), len(e.FBTraceID))
	}
	if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
		t.Errorf("RetryAfter %s", e.RetryAfter)
	}
	switch c := Classify(e); c {
	case ClassTransient, ClassRateLimited, ClassCredentials, ClassPermanent:
	default:
		t.Errorf("Classify: %v", c)
	}
	if secret != "" {
		for _, s := range []string{e.Body, e.Message, e.UserMessage, e.UserTitle, e.Type, e.FBTraceID} {
			if strings.Contains(s, secret) {
				t.Errorf("%q holds the secret %q", s, secret)
			}
		}
	}
}

// FuzzParseError fuzzes the response parsing path: status, headers and body
// to an *Error (or, for a 2xx, to a decoded page or answer).
func FuzzParseError(f *testing.F) {
	for _, gc := range loadCases(f) {
		f.Add(gc.Status, gc.Headers["Retry-After"], gc.Headers["X-Business-Use-Case-Usage"], gc.Headers["X-App-Usage"], gc.Headers["X-Fb-Trace-Id"], gc.body, "")
	}
	f.Add(200, "", "", "", "", []byte(`{"data":[{"id":"1","name":"x"}],"paging":{"cursors":{"after":"c"},"next":"n"}}`), "")
	f.Add(200, "", "", "", "", []byte(`{"success":true}`), "")
	f.Add(200, "", "", "", "", []byte(`{"error":{"message":"m EAAGsecret0123456789","code":"190"}}`), "EAAGsecret0123456789")
	f.Add(500, "5", `{"1":[{"estimated_time_to_regain_access":"3"}]}`, `{"call_count":1.5}`, "T", []byte(`<html><script>x</script>EAAGsecret0123456789</html>`), "EAAGsecret0123456789")
	f.Add(429, "Tue, 24 Nov 2026 12:01:00 GMT", "", "", "", []byte{}, "")
	f.Add(400, "", "", "", "", []byte(`{"error":"invalid_request"}`), "")
	f.Add(502, "", "", "", "", []byte("\xff\xfe<b\x00"), "")

	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, retryAfterH, buc, appUsage, trace string, body []byte, secretIn string) {
		if status < 0 {
			status = -status
		}
		status = 100 + status%900
		h := http.Header{}
		for k, v := range map[string]string{
			"Retry-After": retryAfterH, "X-Business-Use-Case-Usage": buc, "X-App-Usage": appUsage, "X-Fb-Trace-Id": trace,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		secret := fuzzSecret(secretIn)
		red := newRedactor(secret)

		_ = parseAppUsage(appUsage)
		_ = parseBusinessUsage(buc)

		e := checkResponse(OpListSystemUsers, status, h, body, now, red)
		if !is2xx(status) && e == nil {
			t.Fatalf("HTTP %d yielded no error", status)
		}
		if e != nil {
			checkErrorInvariants(t, e, status, secret)
			return
		}
		// A 2xx without a Graph error: what the decoders make of it.
		var p page[AssignedUser]
		if p.decode(body) {
			if p.Data == nil {
				t.Fatal("decode accepted a page without data")
			}
			_ = p.nextCursor()
		} else {
			checkErrorInvariants(t, unexpectedBody(OpListSystemUsers, status, h, body, now, red), status, secret)
		}
		checkErrorInvariants(t, notConfirmed(OpAssignUser, status, h, body, successJSON{}, now, red), status, secret)
		checkErrorInvariants(t, tooLarge(OpAssignUser, status, h, 10, now, red), status, secret)
	})
}

// FuzzUsageHeaders fuzzes the usage and Retry-After header parsing.
func FuzzUsageHeaders(f *testing.F) {
	f.Add(`{"call_count":28,"total_time":25,"total_cputime":12}`, `{"100200300":[{"type":"whatsapp","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":2}]}`, "120")
	f.Add(`{"call_count":"1e400"}`, `{"1":[{"estimated_time_to_regain_access":1e300}]}`, "Tue, 24 Nov 2026 12:01:00 GMT")
	f.Add(`null`, `{"1":null}`, "-1")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, app, buc, ra string) {
		_ = parseAppUsage(app)
		for _, entries := range parseBusinessUsage(buc) {
			_ = entries
		}
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("X-Business-Use-Case-Usage", buc)
		if d := retryAfter(h, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("retryAfter = %s", d)
		}
	})
}
