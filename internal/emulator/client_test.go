package emulator_test

// A few contract tests of the Graph client (package graph) against the
// emulator: the two must agree on what Meta does.

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/graph/graphtest"
)

func newClient(t *testing.T, srv *emulator.Server, tok string, opts ...graph.Option) *graph.Client {
	t.Helper()
	c, err := graph.NewClient(append([]graph.Option{
		graph.WithBaseURL(srv.URL()),
		graph.WithHTTPClient(srv.Client()),
		graph.WithToken(graph.StaticToken(tok)),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAssignFlow(t *testing.T) {
	t.Parallel()
	const secret = "client-secret"
	seed := emulator.DefaultSeed()
	seed.AppSecret = secret
	seed.Businesses[0].OtherUsers = 130
	srv := graphtest.NewTestServer(t, seed)
	srv.SetEmptyPages(1)
	c := newClient(t, srv, emulator.DevReadToken,
		graph.WithAdminToken(graph.StaticToken(emulator.DevAdminToken)),
		graph.WithAppSecret(graph.StaticToken(secret)))
	ctx := t.Context()
	waba := emulator.DevFirstWABAID

	u, found, err := c.FindSystemUser(ctx, emulator.DevBusinessID, func(u graph.SystemUser) bool { return u.Name == emulator.DevSystemUserName })
	if err != nil || !found || u.ID != emulator.DevSystemUserID {
		t.Fatalf("FindSystemUser = %+v, %v, %v", u, found, err)
	}
	if _, found, err := c.FindAssignedUser(ctx, waba, emulator.DevBusinessID, u.ID); err != nil || found {
		t.Fatalf("before: found %v, err %v", found, err)
	}
	if err := c.AssignUser(ctx, waba, u.ID, []string{"MANAGE"}); err != nil {
		t.Fatal(err)
	}
	au, found, err := c.FindAssignedUser(ctx, waba, emulator.DevBusinessID, u.ID)
	if err != nil || !found || !slices.Equal(au.Tasks, []string{"MANAGE"}) {
		t.Fatalf("after: %+v, %v, %v", au, found, err)
	}
	if got := srv.CountFor(graph.OpAssignUser, waba); got != 1 {
		t.Errorf("%d POSTs", got)
	}
	for _, r := range srv.Requests() {
		if !r.AuthHeader || r.TokenInQuery || r.TokenInForm || r.Status != http.StatusOK {
			t.Errorf("request %s %s: header %v, query %v, form %v, status %d", r.Method, r.Path, r.AuthHeader, r.TokenInQuery, r.TokenInForm, r.Status)
		}
	}
}

func TestClientErrorClasses(t *testing.T) {
	t.Parallel()
	srv := graphtest.NewTestServer(t, emulator.DefaultSeed())
	admin := newClient(t, srv, emulator.DevAdminToken)
	reader := newClient(t, srv, emulator.DevReadToken)
	ctx := t.Context()
	waba := emulator.DevFirstWABAID
	list := func() error { _, err := admin.SystemUsers(ctx, emulator.DevBusinessID); return err }

	check := func(name string, err error, class graph.Class, code int) {
		t.Helper()
		if got := graph.Classify(err); got != class {
			t.Errorf("%s: class %v, want %v (%v)", name, got, class, err)
		}
		var ge *graph.Error
		if code != 0 && (!errors.As(err, &ge) || ge.Code != code) {
			t.Errorf("%s: want Graph code %d, got %v", name, code, err)
		}
	}

	check("EMPLOYEE POST", reader.AssignUser(ctx, waba, emulator.DevSystemUserID, []string{"MANAGE"}), graph.ClassPermanent, 200)
	check("unknown WABA", admin.AssignUser(ctx, "1", emulator.DevSystemUserID, []string{"MANAGE"}), graph.ClassPermanent, 100)

	srv.SetRateLimit(1, time.Hour)
	_ = list()
	err := list()
	check("rate limit", err, graph.ClassRateLimited, 80008)
	if d := graph.RetryAfter(err); d < 58*time.Minute {
		t.Errorf("RetryAfter = %v, want about 59m", d)
	}
	srv.SetRateLimit(0, 0)

	srv.RevokeToken(emulator.DevAdminToken)
	check("revoked", list(), graph.ClassCredentials, 190)
	srv.ExpireToken(emulator.DevAdminToken)
	check("expired", list(), graph.ClassCredentials, 190)
	srv.RestoreToken(emulator.DevAdminToken)

	srv.SetOutage(emulator.OutageHTML)
	check("outage", list(), graph.ClassTransient, 0)
	srv.SetOutage(emulator.OutageOff)

	srv.InjectFault(graph.OpListSystemUsers, emulator.Fault{Drop: true, Times: 2})
	err = list()
	var te *graph.TransportError
	if !errors.As(err, &te) {
		t.Errorf("drop: want a *TransportError, got %v", err)
	}
	srv.ClearFaults()
	if err := list(); err != nil {
		t.Fatalf("after all: %v", err)
	}
}
