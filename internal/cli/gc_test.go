package cli

import (
	"io"
	"runtime/debug"
	"testing"
)

// Not parallel: it changes the process's GC target.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if TuneGC(func(string) (string, bool) { return "", false }) != true {
		t.Fatal("TuneGC without GOGC did nothing")
	}
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Errorf("GC percent %d, want %d", got, DefaultGCPercent)
	}
	if TuneGC(func(k string) (string, bool) { return "150", k == "GOGC" }) {
		t.Error("TuneGC overrode GOGC")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after TuneGC with GOGC set, want 100 (untouched)", got)
	}
}

// The long-running commands set it; the one-shot ones keep the runtime's
// default. Not parallel, as above.
func TestGCTargetByCommand(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	noEnv := func(string) (string, bool) { return "", false }
	for _, c := range []struct {
		cmd  string
		want int
	}{{"sweep", 100}, {"emit", 100}, {"status", 100}, {"replay", 100}, {"run", DefaultGCPercent}, {"webhook", DefaultGCPercent}, {"dev", DefaultGCPercent}} {
		debug.SetGCPercent(100)
		_ = Run(t.Context(), []string{c.cmd, "--help"}, noEnv, io.Discard, io.Discard)
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("worker %s: GC percent %d, want %d", c.cmd, got, c.want)
		}
	}
}
