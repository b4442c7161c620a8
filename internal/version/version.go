// Package version reports what binary this is. The Makefile sets Version,
// Commit and Date with -ldflags; without them the values come from the
// module's build information.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X github.com/wabaworker/waba-worker/internal/version.Version=..."
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is the version of this binary.
type Info struct {
	Version, Commit, Date, GoVersion string
}

// Get returns the version, falling back to build information.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.time" && i.Date == "":
				i.Date = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}

func (i Info) String() string {
	return fmt.Sprintf("waba-worker %s (commit %s, built %s, %s %s/%s)",
		i.Version, i.Commit, i.Date, i.GoVersion, runtime.GOOS, runtime.GOARCH)
}
