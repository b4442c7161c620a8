package cli

import (
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/emulator"
)

// The seed shown by `worker graph-emulator --help` is a seed the emulator
// accepts.
func TestEmulatorHelpSeedLoads(t *testing.T) {
	t.Parallel()
	var doc strings.Builder
	for _, l := range emulatorHelp().after {
		if strings.HasPrefix(l, "  ") {
			doc.WriteString(l + "\n")
		}
	}
	seed, err := emulator.LoadSeed(strings.NewReader(doc.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc.String())
	}
	if len(seed.Businesses) != 1 || len(seed.Businesses[0].WABAs) != 2 || seed.AppSecret == "" {
		t.Errorf("seed %+v", seed)
	}
}
