package graph

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAppUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want *AppUsage
	}{
		{``, nil},
		{`  `, nil},
		{`{"call_count":28,"total_time":25,"total_cputime":12}`, &AppUsage{CallCount: 28, TotalTime: 25, TotalCPUTime: 12}},
		{`{"call_count":"28","total_time":25.7}`, &AppUsage{CallCount: 28, TotalTime: 25}},
		{`{}`, &AppUsage{}},
		{`{"call_count":`, nil},
		{`[1,2]`, nil},
		{`null`, nil},
	}
	for _, tt := range tests {
		if got := parseAppUsage(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAppUsage(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseBusinessUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want map[string][]BusinessUseCaseUsage
	}{
		{``, nil},
		{`{"100200300":[{"type":"whatsapp","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":2}]}`,
			map[string][]BusinessUseCaseUsage{"100200300": {{Type: "whatsapp", CallCount: 100, TotalCPUTime: 1, TotalTime: 1, EstimatedTimeToRegainAccess: 2}}}},
		{`{"1":[{"type":"whatsapp_business_management","call_count":5},{"type":"pages","call_count":"7"}],"2":[]}`,
			map[string][]BusinessUseCaseUsage{
				"1": {{Type: "whatsapp_business_management", CallCount: 5}, {Type: "pages", CallCount: 7}},
				"2": {},
			}},
		{`{}`, nil},
		{`{"1":{"type":"x"}}`, nil},
		{`not json`, nil},
	}
	for _, tt := range tests {
		if got := parseBusinessUsage(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseBusinessUsage(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	buc := `{"1":[{"type":"whatsapp","estimated_time_to_regain_access":2}],"2":[{"type":"pages","estimated_time_to_regain_access":5},{"type":"x","estimated_time_to_regain_access":1}]}`
	tests := []struct {
		name       string
		retryAfter string
		buc        string
		want       time.Duration
	}{
		{"none", "", "", 0},
		{"seconds", "120", "", 2 * time.Minute},
		{"zero seconds", "0", buc, 0},
		{"http date", "Tue, 24 Nov 2026 12:00:30 GMT", "", 30 * time.Second},
		{"http date in the past", "Tue, 24 Nov 2026 11:00:00 GMT", buc, 0},
		{"business usage: the largest wait", "", buc, 5 * time.Minute},
		{"Retry-After wins", "7", buc, 7 * time.Second},
		{"malformed Retry-After", "soon", buc, 5 * time.Minute},
		{"negative Retry-After", "-5", "", 0},
		{"malformed business usage", "", `{"1":`, 0},
		{"negative estimate", "", `{"1":[{"estimated_time_to_regain_access":-3}]}`, 0},
		{"huge seconds", "99999999999999999", "", maxRetryAfter},
		{"huge minutes", "", `{"1":[{"estimated_time_to_regain_access":2147483647}]}`, maxRetryAfter},
		{"huge date", "Fri, 31 Dec 9999 23:59:59 GMT", "", maxRetryAfter},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		if tt.buc != "" {
			h.Set("X-Business-Use-Case-Usage", tt.buc)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestRetryAfterOverHTTP(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b := setup(t, WithNow(func() time.Time { return now }))
	b.mux.HandleFunc("GET /v25.0/1/system_users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "Tue, 24 Nov 2026 12:01:00 GMT")
		writeJSON(w, 429, `{"error":{"message":"(#17) User request limit reached","type":"OAuthException","code":17,"is_transient":true}}`)
	})
	_, err := b.client.SystemUsers(t.Context(), "1")
	if RetryAfter(err) != time.Minute || Classify(err) != ClassRateLimited {
		t.Errorf("SystemUsers: %v: RetryAfter %s, class %v", err, RetryAfter(err), Classify(err))
	}
}

// Usage keeps the headers as sent and parses each on demand.
func TestUsageParsesOnDemand(t *testing.T) {
	t.Parallel()
	u := Usage{AppHeader: `{"call_count":5}`, BusinessHeader: `{"1":[{"type":"whatsapp","call_count":7}]}`}
	if a := u.App(); a == nil || a.CallCount != 5 {
		t.Errorf("App() = %+v", a)
	}
	if b := u.Business(); len(b["1"]) != 1 || b["1"][0].CallCount != 7 || b["1"][0].Type != "whatsapp" {
		t.Errorf("Business() = %+v", b)
	}
	if u.IsZero() || !(Usage{}).IsZero() {
		t.Error("IsZero")
	}
	if (Usage{}).App() != nil || (Usage{}).Business() != nil || (Usage{AppHeader: "{"}).App() != nil {
		t.Error("absent or malformed headers parsed to something")
	}
}

// readBody trusts a declared length only as a size hint: a body longer than
// declared is read on to the limit, one shorter fails.
func TestReadBodyWithContentLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body      string
		size      int64
		limit     int64
		want      string
		truncated bool
		err       bool
	}{
		{body: `{"data":[]}`, size: 11, limit: 100, want: `{"data":[]}`},
		{body: `{"data":[]}`, size: -1, limit: 100, want: `{"data":[]}`},
		{body: `{"data":[]}`, size: 4, limit: 100, want: `{"data":[]}`},
		{body: `{"data":[]}`, size: 4, limit: 6, want: `{"dat`[:5] + `a`, truncated: true},
		{body: `{"data":[]}`, size: 50, limit: 100, err: true},
		{body: `{"data":[]}`, size: 11, limit: 5, want: `{"dat`, truncated: true},
		{body: ``, size: 0, limit: 5, want: ``},
	} {
		got, truncated, err := readBody(strings.NewReader(tc.body), tc.size, tc.limit)
		if (err != nil) != tc.err {
			t.Errorf("readBody(%q, %d, %d): error %v", tc.body, tc.size, tc.limit, err)
			continue
		}
		if !tc.err && (string(got) != tc.want || truncated != tc.truncated) {
			t.Errorf("readBody(%q, %d, %d) = %q, %v; want %q, %v", tc.body, tc.size, tc.limit, got, truncated, tc.want, tc.truncated)
		}
	}
}
