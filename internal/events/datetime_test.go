package events

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// dateTimePattern is JSON Schema's date-time shape as a regexp, the way
// isDateTime checked it before it was written by hand.
var dateTimePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// patternSays is what isDateTime must say: the pattern, then Go's parser.
func patternSays(s string) bool {
	if !dateTimePattern.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	return err == nil
}

// isDateTime accepts exactly what the pattern and Go's parser both accept.
func TestIsDateTimeMatchesThePattern(t *testing.T) {
	cases := []string{
		"2026-11-24T12:00:00Z", "2026-11-24t12:00:00z", "2026-11-24T12:00:00.5Z", "2026-11-24T12:00:00.123456789+02:00",
		"2026-11-24T12:00:00-05:30", "2026-11-24T12:00:00", "2026-11-24 12:00:00Z", "2026-11-24T12:00:00.Z",
		"2026-11-24T12:00:00+0200", "2026-11-24T12:00:00+02:0", "2026-13-24T12:00:00Z", "2026-02-30T12:00:00Z",
		"2026-11-24T25:00:00Z", "2026-11-24T12:60:00Z", "2026-11-24T12:00:00+24:00", "2026-11-24T12:00:00ZZ",
		"2026-11-24T12:00:00Z ", " 2026-11-24T12:00:00Z", "26-11-24T12:00:00Z", "2026-1-24T12:00:00Z", "yesterday", "",
		"2026-11-24T12:00:00.1234567890123Z", "2026-11-24T12:00:00\u00e9", "２026-11-24T12:00:00Z", "2026-11-24T12:00:00+02:00\n",
	}
	for _, s := range cases {
		if got, want := isDateTime(s), patternSays(s); got != want {
			t.Errorf("isDateTime(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	// Every prefix and one-byte change of a valid time, too.
	valid := "2026-11-24T12:34:56.789+02:00"
	for i := 0; i <= len(valid); i++ {
		if got, want := isDateTime(valid[:i]), patternSays(valid[:i]); got != want {
			t.Errorf("isDateTime(%q) = %v, the pattern says %v", valid[:i], got, want)
		}
	}
	for i := 0; i < len(valid); i++ {
		for _, c := range []byte("0a-:.+Zz T9") {
			s := valid[:i] + string(c) + valid[i+1:]
			if got, want := isDateTime(s), patternSays(s); got != want {
				t.Errorf("isDateTime(%q) = %v, the pattern says %v", s, got, want)
			}
		}
	}
}

func FuzzIsDateTime(f *testing.F) {
	for _, s := range []string{"2026-11-24T12:00:00Z", "2026-11-24T12:00:00.5+02:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isDateTime(s), patternSays(s); got != want {
			t.Errorf("isDateTime(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
