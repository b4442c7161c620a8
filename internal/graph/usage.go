package graph

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Usage and rate-limit headers. Meta documents them at
// https://developers.facebook.com/docs/graph-api/overview/rate-limiting.
const (
	headerAppUsage      = "X-App-Usage"
	headerBusinessUsage = "X-Business-Use-Case-Usage"
	headerRetryAfter    = "Retry-After"
	headerTraceID       = "X-Fb-Trace-Id"
	headerAPIVersion    = "Facebook-Api-Version"
)

// maxRetryAfter bounds what Meta may ask for, so that an absurd header cannot
// overflow a time.Duration or park a caller for years.
const maxRetryAfter = 24 * time.Hour

// flexInt decodes a JSON number or a numeric string; anything else decodes
// to 0 without an error, so that one odd field does not lose the rest.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			*n = 0
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*n = flexInt(clampInt(i))
		return nil
	}
	if f, err := strconv.ParseFloat(string(b), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		switch {
		case f > math.MaxInt32:
			*n = math.MaxInt32
		case f < math.MinInt32:
			*n = math.MinInt32
		default:
			*n = flexInt(int(f))
		}
		return nil
	}
	*n = 0
	return nil
}

// clampInt keeps a value within int32 so that it means the same on every
// platform.
func clampInt(i int64) int {
	switch {
	case i > math.MaxInt32:
		return math.MaxInt32
	case i < math.MinInt32:
		return math.MinInt32
	}
	return int(i)
}

// flexBool decodes true/false, "true"/"false" and 1/0; anything else is false.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(bytes.TrimSpace(b)), `"`) {
	case "true", "1":
		*v = true
	default:
		*v = false
	}
	return nil
}

// flexString decodes a JSON string; a number is kept as its text, anything
// else decodes to "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var str string
	if json.Unmarshal(b, &str) == nil {
		*s = flexString(str)
		return nil
	}
	var num json.Number
	if json.Unmarshal(b, &num) == nil {
		*s = flexString(num.String())
		return nil
	}
	*s = ""
	return nil
}

// Usage is what a call's rate-limit headers said, as Graph sent them:
// X-App-Usage and X-Business-Use-Case-Usage, "" when absent. They are
// parsed only when asked (App, Business): parsing both on every answer
// was a tenth of the worker's CPU per event, and only the metrics read
// them, at scrape time.
type Usage struct {
	AppHeader      string
	BusinessHeader string
}

// IsZero reports whether the answer carried neither header.
func (u Usage) IsZero() bool { return u.AppHeader == "" && u.BusinessHeader == "" }

// App parses X-App-Usage; nil when absent or malformed.
func (u Usage) App() *AppUsage { return parseAppUsage(u.AppHeader) }

// Business parses X-Business-Use-Case-Usage, keyed by the business object's
// id; nil when absent or malformed.
func (u Usage) Business() map[string][]BusinessUseCaseUsage {
	return parseBusinessUsage(u.BusinessHeader)
}

type appUsageJSON struct {
	CallCount    flexInt `json:"call_count"`
	TotalCPUTime flexInt `json:"total_cputime"`
	TotalTime    flexInt `json:"total_time"`
}

// parseAppUsage parses X-App-Usage, e.g.
// {"call_count":28,"total_time":25,"total_cputime":25}. It returns nil when
// the header is absent or malformed.
func parseAppUsage(h string) *AppUsage {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil
	}
	var v *appUsageJSON
	if json.Unmarshal([]byte(h), &v) != nil || v == nil {
		return nil
	}
	return &AppUsage{CallCount: int(v.CallCount), TotalCPUTime: int(v.TotalCPUTime), TotalTime: int(v.TotalTime)}
}

type businessUsageJSON struct {
	Type                        flexString `json:"type"`
	CallCount                   flexInt    `json:"call_count"`
	TotalCPUTime                flexInt    `json:"total_cputime"`
	TotalTime                   flexInt    `json:"total_time"`
	EstimatedTimeToRegainAccess flexInt    `json:"estimated_time_to_regain_access"`
}

// parseBusinessUsage parses X-Business-Use-Case-Usage, e.g.
// {"100200300":[{"type":"whatsapp","call_count":100,"total_cputime":1,
// "total_time":1,"estimated_time_to_regain_access":2}]}. It returns nil when
// the header is absent or malformed.
func parseBusinessUsage(h string) map[string][]BusinessUseCaseUsage {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil
	}
	var raw map[string][]businessUsageJSON
	if json.Unmarshal([]byte(h), &raw) != nil || len(raw) == 0 {
		return nil
	}
	out := make(map[string][]BusinessUseCaseUsage, len(raw))
	for id, entries := range raw {
		list := make([]BusinessUseCaseUsage, 0, len(entries))
		for _, e := range entries {
			list = append(list, BusinessUseCaseUsage{
				Type:                        string(e.Type),
				CallCount:                   int(e.CallCount),
				TotalCPUTime:                int(e.TotalCPUTime),
				TotalTime:                   int(e.TotalTime),
				EstimatedTimeToRegainAccess: int(e.EstimatedTimeToRegainAccess),
			})
		}
		out[id] = list
	}
	return out
}

// retryAfter returns the wait Meta asked for: the Retry-After header (delay
// in seconds or an HTTP date, relative to now), else the largest
// estimated_time_to_regain_access (minutes) in X-Business-Use-Case-Usage;
// 0 when neither says. The result is within [0, maxRetryAfter].
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := parseRetryAfter(h.Get(headerRetryAfter), now); ok {
		return d
	}
	var maxMin int
	for _, entries := range parseBusinessUsage(h.Get(headerBusinessUsage)) {
		for _, e := range entries {
			maxMin = max(maxMin, e.EstimatedTimeToRegainAccess)
		}
	}
	if maxMin > int(maxRetryAfter/time.Minute) {
		return maxRetryAfter
	}
	return time.Duration(maxMin) * time.Minute
}

// parseRetryAfter parses a Retry-After value. ok is false when the header is
// absent or malformed.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampRetryAfter(t.Sub(now)), true
	}
	return 0, false
}

func clampRetryAfter(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d
}
