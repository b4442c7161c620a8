package emulator_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
)

// The client lists every WABA shared with the business, one page at a time
// over real HTTP, with appsecret_proof, through empty pages, in as few calls
// as the page size allows.
func TestClientListClientWABAs(t *testing.T) {
	t.Parallel()
	const secret = "client-secret"
	seed := emulator.DefaultSeed()
	seed.AppSecret = secret
	for i := range 230 {
		seed.Businesses[0].WABAs = append(seed.Businesses[0].WABAs, emulator.WABA{ID: strconv.Itoa(300000000000000 + i)})
	}
	total := emulator.DevWABACount + 230
	srv := graphtest.NewTestServer(t, seed)
	c := newClient(t, srv, emulator.DevReadToken, graph.WithAppSecret(graph.StaticToken(secret)))

	seen := map[string]bool{}
	var sizes []int
	err := c.ListClientWABAs(t.Context(), emulator.DevBusinessID, 0, func(page []graph.ClientWABA) error {
		sizes = append(sizes, len(page))
		for _, w := range page {
			if seen[w.ID] {
				t.Errorf("%s listed twice", w.ID)
			}
			seen[w.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != total || len(sizes) != 3 || sizes[0] != 100 {
		t.Fatalf("%d WABAs in pages %v, want %d in 3 pages of up to 100", len(seen), sizes, total)
	}
	if !seen[emulator.DevFirstWABAID] {
		t.Errorf("%s not listed", emulator.DevFirstWABAID)
	}
	if n := srv.CountFor(graph.OpListClientWABAs, emulator.DevBusinessID); n != 3 {
		t.Errorf("%d list calls, want 3", n)
	}

	// Empty pages in between change nothing but the number of calls.
	srv.SetEmptyPages(1)
	n := 0
	if err := c.ListClientWABAs(t.Context(), emulator.DevBusinessID, 50, func(p []graph.ClientWABA) error { n += len(p); return nil }); err != nil || n != total {
		t.Fatalf("with empty pages: %d WABAs, %v", n, err)
	}

	// A rejected token is a credentials error the caller can tell apart.
	srv.RevokeToken(emulator.DevReadToken)
	err = c.ListClientWABAs(t.Context(), emulator.DevBusinessID, 0, func([]graph.ClientWABA) error { return nil })
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.Code != 190 || graph.Classify(err) != graph.ClassCredentials {
		t.Fatalf("revoked token: %v (class %v)", err, graph.Classify(err))
	}
	srv.RestoreToken(emulator.DevReadToken)

	// Another business: permanent (100/33).
	err = c.ListClientWABAs(t.Context(), "123", 0, func([]graph.ClientWABA) error { return nil })
	if !errors.As(err, &ge) || ge.Code != 100 || ge.Subcode != 33 || graph.Classify(err) != graph.ClassPermanent {
		t.Fatalf("unknown business: %v", err)
	}
}
