package cli

import (
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
