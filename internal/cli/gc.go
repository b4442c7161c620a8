package cli

import "runtime/debug"

// DefaultGCPercent is the garbage collector's target (GOGC) of the
// long-running commands (run, webhook, dev) when GOGC is not set. The
// worker's live heap is a few MiB, so the runtime's default of 100 collects
// every few MiB allocated, several times a second under load; at 400, make
// bench measured 9 to 25% less CPU per event for about 11 MiB more RSS at 64
// in flight, 30 MiB at 256 (README "Performance"). GOMEMLIMIT, set in the
// manifests, still makes the collector work harder near the container's
// limit. The one-shot commands (sweep, emit, replay, status) keep the
// runtime's default: they are short, and their peak memory is what counts.
const DefaultGCPercent = 400

// TuneGC sets the collector's target to DefaultGCPercent unless GOGC is set
// in the environment, and reports whether it did.
func TuneGC(lookupEnv func(string) (string, bool)) bool {
	if _, set := lookupEnv("GOGC"); set {
		return false
	}
	debug.SetGCPercent(DefaultGCPercent)
	return true
}
