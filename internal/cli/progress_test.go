package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, total uint64
		want     string
	}{
		{0, 10, "[..........]   0%  0/10"},
		{5, 10, "[#####.....]  50%  5/10"},
		{10, 10, "[##########] 100%  10/10"},
		{12, 10, "[##########] 100%  10/10"},
		{0, 0, "[..........]   0%  0/1"},
	}
	for _, tt := range tests {
		if got := bar(tt.n, tt.total, 10); got != tt.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tt.n, tt.total, got, tt.want)
		}
	}
}

// The bar shows only on long scans, at most ten times a second, always at
// the end, and is erased when done.
func TestProgressThrottles(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	var out bytes.Buffer
	p := newProgress(&out, func() time.Time { return now })
	p.update(1, 100)
	now = now.Add(400 * time.Millisecond)
	p.update(2, 100)
	if out.Len() != 0 {
		t.Fatalf("drawn in the first half second: %q", out.String())
	}
	now = now.Add(200 * time.Millisecond)
	p.update(3, 100)
	p.update(4, 100) // same instant: skipped
	now = now.Add(50 * time.Millisecond)
	p.update(5, 100) // 50ms later: skipped
	p.update(100, 100)
	p.done()
	got := out.String()
	if n := strings.Count(got, "scanning"); n != 2 || !strings.Contains(got, "3/100") || !strings.Contains(got, "100/100") ||
		!strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("drew %q", got)
	}

	var quiet bytes.Buffer
	q := newProgress(&quiet, time.Now)
	q.update(1, 1)
	q.done()
	if quiet.Len() != 0 {
		t.Errorf("a short scan drew %q", quiet.String())
	}
}
