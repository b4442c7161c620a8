package graph

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestGraphErrorCases replays the answers in testdata/cases.json over HTTP.
func TestGraphErrorCases(t *testing.T) {
	t.Parallel()
	for _, gc := range loadCases(t) {
		t.Run(gc.Name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.mux.HandleFunc("GET /v25.0/102290129340398/assigned_users", func(w http.ResponseWriter, r *http.Request) {
				gc.serve(w)
			})
			users, err := b.client.AssignedUsers(t.Context(), "102290129340398", "100200300")
			if users != nil {
				t.Errorf("users %+v returned with an error", users)
			}
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("AssignedUsers: %v (%T), want *Error", err, err)
			}
			if got := Classify(err).String(); got != gc.Class {
				t.Errorf("Classify: %s, want %s", got, gc.Class)
			}
			if ge.Op != OpListAssignedUsers || ge.HTTPStatus != gc.Status || ge.Code != gc.Code || ge.Subcode != gc.Subcode {
				t.Errorf("Op %q HTTPStatus %d Code %d Subcode %d, want %q %d %d %d",
					ge.Op, ge.HTTPStatus, ge.Code, ge.Subcode, OpListAssignedUsers, gc.Status, gc.Code, gc.Subcode)
			}
			if want := time.Duration(gc.RetryAfterSeconds) * time.Second; ge.RetryAfter != want || RetryAfter(err) != want {
				t.Errorf("RetryAfter %s, want %s", ge.RetryAfter, want)
			}
			if msg := graphErrorMessage(t, gc.body); msg != ge.Message {
				t.Errorf("Message %q, want %q", ge.Message, msg)
			}
			if gc.Code == 0 {
				if ge.Body == "" || ge.Message != "" {
					t.Errorf("non-JSON body: Body %q Message %q", ge.Body, ge.Message)
				}
			} else if ge.Body != "" || ge.FBTraceID == "" || ge.Type != "OAuthException" && ge.Type != "GraphMethodException" {
				t.Errorf("Graph JSON: Body %q FBTraceID %q Type %q", ge.Body, ge.FBTraceID, ge.Type)
			}
			calls := b.calls.all()
			if len(calls) != 1 || calls[0].Code != gc.Code || calls[0].HTTPStatus != gc.Status || calls[0].Err != err {
				t.Errorf("calls %+v", calls)
			}
		})
	}
}

// TestGraphErrorFields pins every field parsed from the testdata bodies.
func TestGraphErrorFields(t *testing.T) {
	t.Parallel()
	cases := make(map[string]graphCase)
	for _, gc := range loadCases(t) {
		cases[gc.Name] = gc
	}
	tests := []struct {
		name   string
		want   Error
		errStr string
	}{
		{"unsupported_get_100_33", Error{
			Op: OpListAssignedUsers, HTTPStatus: 400, Code: 100, Subcode: 33, Type: "GraphMethodException",
			Message:   "Unsupported get request. Object with ID '102290129340398' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
			FBTraceID: "AbC123xYz9q",
		}, "graph list_assigned_users: Unsupported get request. Object with ID '102290129340398' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api (code 100, subcode 33, fbtrace_id AbC123xYz9q)"},
		{"token_expired_190_463", Error{
			Op: OpListAssignedUsers, HTTPStatus: 400, Code: 190, Subcode: 463, Type: "OAuthException",
			Message:   "Error validating access token: Session has expired on Tuesday, 24-Nov-26 04:00:00 PST. The current time is Tuesday, 24-Nov-26 04:05:12 PST.",
			FBTraceID: "A7kP2mQx9Zt",
		}, "graph list_assigned_users: Error validating access token: Session has expired on Tuesday, 24-Nov-26 04:00:00 PST. The current time is Tuesday, 24-Nov-26 04:05:12 PST. (code 190, subcode 463, fbtrace_id A7kP2mQx9Zt)"},
		{"permissions_200", Error{
			Op: OpListAssignedUsers, HTTPStatus: 403, Code: 200, Type: "OAuthException",
			Message: "(#200) Permissions error", FBTraceID: "AbC123",
		}, "graph list_assigned_users: (#200) Permissions error (code 200, fbtrace_id AbC123)"},
		{"unexpected_2_transient", Error{
			Op: OpListAssignedUsers, HTTPStatus: 500, Code: 2, Type: "OAuthException",
			Message:   "An unexpected error has occurred. Please retry your request later.",
			FBTraceID: "ApZ0x8w1KqL", IsTransient: true,
		}, "graph list_assigned_users: An unexpected error has occurred. Please retry your request later. (code 2, fbtrace_id ApZ0x8w1KqL)"},
		{"app_limit_4", Error{
			Op: OpListAssignedUsers, HTTPStatus: 403, Code: 4, Subcode: 1504022, Type: "OAuthException",
			Message: "(#4) Application request limit reached", FBTraceID: "AsDf4GhJ7kL", IsTransient: true,
		}, "graph list_assigned_users: (#4) Application request limit reached (code 4, subcode 1504022, fbtrace_id AsDf4GhJ7kL)"},
		{"waba_limit_80007", Error{
			Op: OpListAssignedUsers, HTTPStatus: 400, Code: 80007, Subcode: 2494055, Type: "OAuthException",
			Message:     "(#80007) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
			UserTitle:   "Rate limit hit",
			UserMessage: "Too many calls to this WhatsApp Business account. Try again later.",
			FBTraceID:   "AqW3eR5tY7u", RetryAfter: 2 * time.Minute,
		}, "graph list_assigned_users: (#80007) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting. (code 80007, subcode 2494055, fbtrace_id AqW3eR5tY7u)"},
		{"buc_limit_80008", Error{
			Op: OpListAssignedUsers, HTTPStatus: 400, Code: 80008, Type: "OAuthException",
			Message:   "(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#buc-rate-limits.",
			FBTraceID: "AzX9cV8bN7m", RetryAfter: 2 * time.Minute,
		}, "graph list_assigned_users: (#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#buc-rate-limits. (code 80008, fbtrace_id AzX9cV8bN7m)"},
		{"bad_gateway_502_html", Error{
			Op: OpListAssignedUsers, HTTPStatus: 502, FBTraceID: "Gx5Hk2Lm8Np",
			Body: "502 Bad Gateway Bad Gateway The proxy server received an invalid response from an upstream server. Sorry for the inconvenience & please try again. nginx",
		}, "graph list_assigned_users: HTTP 502: 502 Bad Gateway Bad Gateway The proxy server received an invalid response from an upstream server. Sorry for the inconvenience & please try again. nginx (fbtrace_id Gx5Hk2Lm8Np)"},
	}
	if len(tests) != len(cases) {
		t.Errorf("%d tests for %d cases in testdata/cases.json", len(tests), len(cases))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gc, ok := cases[tt.name]
			if !ok {
				t.Fatalf("no case %q in testdata/cases.json", tt.name)
			}
			got := checkResponse(OpListAssignedUsers, gc.Status, gc.header(), gc.body, time.Now(), nil)
			if got == nil {
				t.Fatal("checkResponse: nil")
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("checkResponse:\n got %+v\nwant %+v", *got, tt.want)
			}
			if got.Error() != tt.errStr {
				t.Errorf("Error():\n got %q\nwant %q", got.Error(), tt.errStr)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: OpListAssignedUsers, HTTPStatus: 400, Code: 100, Subcode: 33, Message: "(#100) Unsupported get request.", FBTraceID: "AbC123"},
			"graph list_assigned_users: (#100) Unsupported get request. (code 100, subcode 33, fbtrace_id AbC123)"},
		{&Error{Op: OpAssignUser, HTTPStatus: 502, Body: "<html>Bad Gateway</html>"},
			"graph assign_user: HTTP 502: <html>Bad Gateway</html>"},
		{&Error{Op: OpAssignUser, HTTPStatus: 503},
			"graph assign_user: HTTP 503: empty body"},
		{&Error{Op: OpAssignUser, HTTPStatus: 503, FBTraceID: "T1"},
			"graph assign_user: HTTP 503: empty body (fbtrace_id T1)"},
		{&Error{Op: OpListSystemUsers, HTTPStatus: 400, Code: 190, Type: "OAuthException"},
			"graph list_system_users: HTTP 400 (code 190)"},
		{&Error{Op: OpListSystemUsers, HTTPStatus: 400, Message: "bad"},
			"graph list_system_users: bad"},
		{&Error{Code: 4, Message: "(#4) Application request limit reached"},
			"graph call: (#4) Application request limit reached (code 4)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error():\n got %q\nwant %q", got, tt.want)
		}
	}
	if got, want := (&TransportError{Op: OpProbe, Err: errors.New("connection reset by peer")}).Error(), "graph probe: connection reset by peer"; got != want {
		t.Errorf("TransportError: %q, want %q", got, want)
	}
	if got := (&TransportError{}).Error(); got != "graph call: transport error" {
		t.Errorf("empty TransportError: %q", got)
	}
	inner := errors.New("reset")
	if !errors.Is(&TransportError{Err: inner}, inner) {
		t.Error("TransportError does not unwrap")
	}
}

func TestNonJSONBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string // Body
		class  Class
	}{
		{"empty 503", 503, "", "", ClassTransient},
		{"text 404", 404, "404 page not found\n", "404 page not found", ClassPermanent},
		{"json without error 500", 500, `{"message":"Internal Server Error"}`, `{"message":"Internal Server Error"}`, ClassTransient},
		{"empty error object", 400, `{"error":{}}`, `{"error":{}}`, ClassPermanent},
		{"null error", 400, `{"error":null}`, `{"error":null}`, ClassPermanent},
		{"error is a number", 400, `{"error":5}`, `{"error":5}`, ClassPermanent},
		{"control characters", 500, "boom\x00\x1b[31m\r\nred\u202e", "boom [31m red", ClassTransient},
		{"invalid utf-8", 500, "bad \xff\xfe bytes", "bad ? bytes", ClassTransient},
		{"html with script", 502, "<html><script>var x = '<b>';</script><STYLE type=x>p{}</STYLE><!-- c --><p>Upstream &lt;down&gt;</p></html>", "Upstream <down>", ClassTransient},
		{"unterminated tag", 502, "<html><p>partial <b", "partial", ClassTransient},
		{"429 without code", 429, "Too Many Requests", "Too Many Requests", ClassRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := checkResponse(OpAssignUser, tt.status, http.Header{}, []byte(tt.body), time.Now(), nil)
			if e == nil {
				t.Fatal("checkResponse: nil")
			}
			if e.Body != tt.want || e.Code != 0 || e.Message != "" || e.HTTPStatus != tt.status {
				t.Errorf("Body %q Code %d Message %q HTTPStatus %d, want Body %q", e.Body, e.Code, e.Message, e.HTTPStatus, tt.want)
			}
			if got := Classify(e); got != tt.class {
				t.Errorf("Classify: %v, want %v", got, tt.class)
			}
			want := fmt.Sprintf("graph assign_user: HTTP %d: %s", tt.status, tt.want)
			if tt.want == "" {
				want = fmt.Sprintf("graph assign_user: HTTP %d: empty body", tt.status)
			}
			if e.Error() != want {
				t.Errorf("Error() %q, want %q", e.Error(), want)
			}
		})
	}
}

func TestGraphErrorTolerantDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Error
	}{
		{"string error", `{"error":"invalid_request"}`, Error{Message: "invalid_request"}},
		{"code as string", `{"error":{"message":"m","code":"190","error_subcode":"460","is_transient":"true"}}`,
			Error{Message: "m", Code: 190, Subcode: 460, IsTransient: true}},
		{"odd types", `{"error":{"message":["x"],"type":5,"code":{"a":1},"error_subcode":1.5,"fbtrace_id":7,"is_transient":1}}`,
			Error{Type: "5", Subcode: 1, FBTraceID: "7", IsTransient: true}},
		{"huge code", `{"error":{"message":"m","code":99999999999999999999}}`, Error{Message: "m", Code: 2147483647}},
		{"long message", `{"error":{"message":"` + strings.Repeat("é", 2000) + `","code":1,"fbtrace_id":"` + strings.Repeat("T", 200) + `"}}`,
			Error{Message: strings.Repeat("é", 1022) + "...", Code: 1, FBTraceID: strings.Repeat("T", 125) + "..."}},
		{"extra fields", `{"error":{"message":"m","code":100,"error_data":{"details":"x"},"messaging_product":"whatsapp"}}`,
			Error{Message: "m", Code: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := checkResponse("op", 400, http.Header{}, []byte(tt.body), time.Now(), nil)
			if e == nil {
				t.Fatal("nil")
			}
			tt.want.Op, tt.want.HTTPStatus = "op", 400
			if !reflect.DeepEqual(*e, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *e, tt.want)
			}
		})
	}
}

func TestErrorIn2xx(t *testing.T) {
	t.Parallel()
	if e := checkResponse("op", 200, http.Header{}, []byte(`{"data":[]}`), time.Now(), nil); e != nil {
		t.Errorf("a plain 2xx is an error: %v", e)
	}
	if e := checkResponse("op", 200, http.Header{}, []byte(`garbage`), time.Now(), nil); e != nil {
		t.Errorf("checkResponse leaves 2xx bodies to the decoder, got %v", e)
	}
	e := checkResponse("op", 200, http.Header{}, []byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"F"}}`), time.Now(), nil)
	if e == nil || e.Code != 190 || e.HTTPStatus != 200 || Classify(e) != ClassCredentials {
		t.Errorf("2xx with an error: %+v", e)
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300) // 600 bytes
	got := excerpt([]byte(long))
	if len(got) > maxExcerpt || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("excerpt of a long body: %d bytes, valid %v: %q", len(got), utf8.ValidString(got), got)
	}
	if got := excerpt([]byte("  \n\t ")); got != "" {
		t.Errorf("excerpt of white space: %q", got)
	}
	if got := excerpt([]byte(strings.Repeat("a", 10000))); len(got) != maxExcerpt {
		t.Errorf("excerpt of 10000 bytes: %d bytes", len(got))
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	if r := newRedactor("short", ""); r != nil {
		t.Error("secrets under minSecretLen are redacted")
	}
	var none *redactor
	if none.contains("x") || none.redact("x") != "x" || none.wrap(errors.New("x")).Error() != "x" {
		t.Error("a nil redactor changes text")
	}
	r := newRedactor("0123456789", "abcdefghij")
	inner := errors.New("token 0123456789 and abcdefghij")
	err := r.wrap(inner)
	if err.Error() != "token [REDACTED] and [REDACTED]" || !errors.Is(err, inner) {
		t.Errorf("wrap: %q", err)
	}
	clean := errors.New("nothing here")
	if r.wrap(clean) != clean {
		t.Error("wrap changed an error without secrets")
	}
}

func TestStripURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://graph.facebook.com/v25.0/1/system_users?appsecret_proof=abc&limit=1": "https://graph.facebook.com/v25.0/1/system_users",
		"https://u:p@h/x?q#f": "https://h/x",
		"http://h/a%2Fb?x=1":  "http://h/a%2Fb",
		"%zz?secret":          "%zz",
	} {
		if got := stripURL(in); got != want {
			t.Errorf("stripURL(%q) = %q, want %q", in, got, want)
		}
	}
}
