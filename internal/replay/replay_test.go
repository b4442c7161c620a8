package replay_test

import (
	"errors"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/replay"
	"github.com/wabaworker/waba-worker/internal/worker"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"90m", now.Add(-90 * time.Minute), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"0s", now, false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"2026-11-24T06:00:00Z", time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC), false},
		{"2026-11-24T07:00:00+01:00", time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC), false},
		{"2026-11-24T06:00:00.5Z", time.Date(2026, 11, 24, 6, 0, 0, 5e8, time.UTC), false},
		{"-5m", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-11-24", time.Time{}, true},
		{"d", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := replay.ParseTime(tt.in, now)
		if tt.err {
			if !errors.Is(err, replay.ErrBadTime) {
				t.Errorf("ParseTime(%q) = %v, %v; want ErrBadTime", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The scan reports its progress up to the total the window held, and stops
// at the stream's last sequence as it was when it began.
func TestRunProgressAndEmptyStream(t *testing.T) {
	t.Parallel()
	n := natstest.Start(t)
	_, js := n.Connect()
	topo := wabatype.Topology{}.WithDefaults()
	if _, err := worker.EnsureStream(t.Context(), js, topo); err != nil {
		t.Fatal(err)
	}
	sum, err := replay.Run(t.Context(), js, replay.Options{})
	if err != nil || sum.Scanned != 0 || sum.Matched != 0 {
		t.Fatalf("empty stream: %+v, %v", sum, err)
	}
	for i := range 50 {
		if _, err := js.Publish(t.Context(), topo.Subject, fmt.Appendf(nil, `{"waba_id":"%d"}`, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var last, total uint64
	calls := 0
	sum, err = replay.Run(t.Context(), js, replay.Options{Progress: func(s, tot uint64) { last, total = s, tot; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Scanned != 50 || calls != 50 || last != 50 || total != 50 || sum.FirstSeq != 1 || sum.LastSeq != 50 {
		t.Errorf("summary %+v; progress %d calls, last %d/%d", sum, calls, last, total)
	}

	if _, err := replay.Run(t.Context(), js, replay.Options{Topology: wabatype.Topology{Stream: "NOPE"}}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("missing stream: %v", err)
	}
}
