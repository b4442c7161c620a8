package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/natsserver"
)

// A server whose max_payload cannot take one change of the largest body the
// gateway accepts is named at start, with what to set; one that can, or a
// value not known yet, says nothing.
func TestWarnMaxPayload(t *testing.T) {
	for _, tc := range []struct {
		max  int64
		warn bool
	}{{1 << 20, true}, {NeededMaxPayload - 1, true}, {NeededMaxPayload, false}, {64 << 20, false}, {0, false}} {
		var buf bytes.Buffer
		warnMaxPayload(tc.max, slog.New(slog.NewTextHandler(&buf, nil)))
		got := buf.String()
		if warned := strings.Contains(got, "level=WARN") && strings.Contains(got, "max_payload to 8MB"); warned != tc.warn {
			t.Errorf("max_payload %d: logged %q, want a warning: %v", tc.max, got, tc.warn)
		}
	}
}

// The embedded server (worker dev, tests) is one the gateway does not warn
// about.
func TestEmbeddedServerTakesTheLargestChange(t *testing.T) {
	if natsserver.DefaultMaxPayload < NeededMaxPayload {
		t.Fatalf("embedded max_payload %d, the gateway needs %d", natsserver.DefaultMaxPayload, NeededMaxPayload)
	}
}
