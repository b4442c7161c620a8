package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func withOtherUsers(n int) func(*Seed) {
	return func(s *Seed) { s.Businesses[0].OtherUsers = n }
}

// walk follows next links from the first page and returns each page's
// size and the ids in order.
func (b *testBundle) walk(t *testing.T, path string, query url.Values) (sizes []int, ids []string) {
	t.Helper()
	r := b.get(t, path, adminTok, query)
	for range 1000 {
		var p struct {
			Data   []struct{ ID string }
			Paging *paging
		}
		if r.status != http.StatusOK {
			t.Fatalf("HTTP %d %s", r.status, r.body)
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Data))
		for _, u := range p.Data {
			ids = append(ids, u.ID)
		}
		if p.Paging == nil || p.Paging.Next == "" {
			return sizes, ids
		}
		if !strings.HasPrefix(p.Paging.Next, b.srv.URL()+"/"+ver+path+"?") {
			t.Fatalf("next %q is not on the emulator's host and path", p.Paging.Next)
		}
		r = b.must(t, req{method: http.MethodGet, path: p.Paging.Next, token: adminTok})
	}
	t.Fatal("paging did not end")
	return nil, nil
}

func TestPagingDefaultSize(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(60))

	sizes, ids := b.walk(t, "/"+bizID+"/system_users", nil)
	if !slices.Equal(sizes, []int{25, 25, 12}) {
		t.Fatalf("page sizes = %v, want [25 25 12]", sizes)
	}
	// Filler users come first; the system users last.
	if len(ids) != 62 || ids[60] != adminID || ids[61] != readerID || ids[0] != fillerID(0, 0) {
		t.Fatalf("ids = %v", ids)
	}

	// assigned_users: 60 fillers holding MANAGE ahead of the admin.
	sizes, ids = b.walk(t, "/"+wabaB+"/assigned_users", url.Values{"business": {bizID}})
	if !slices.Equal(sizes, []int{25, 25, 11}) || ids[60] != adminID {
		t.Fatalf("assigned_users sizes = %v, last = %s", sizes, ids[len(ids)-1])
	}
	if got := b.assigned(t, wabaB); len(got) != 61 || !slices.Equal(got[fillerID(0, 59)], []string{"MANAGE"}) {
		t.Fatalf("assigned = %d users", len(got))
	}
}

func TestPagingLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(150))
	for _, tc := range []struct {
		limit string
		sizes []int
	}{
		{"10", []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 2}},
		{"100", []int{100, 52}},
		{"500", []int{100, 52}}, // clamped
		{"0", []int{25, 25, 25, 25, 25, 25, 2}},
	} {
		sizes, ids := b.walk(t, "/"+bizID+"/system_users", url.Values{"limit": {tc.limit}})
		if !slices.Equal(sizes, tc.sizes) || len(ids) != 152 {
			t.Errorf("limit=%s: sizes = %v, want %v", tc.limit, sizes, tc.sizes)
		}
	}

	r := b.get(t, "/"+bizID+"/system_users", adminTok, url.Values{"limit": {"500"}})
	var p systemUsersPage
	r.decode(t, &p)
	next, err := url.Parse(p.Paging.Next)
	if err != nil || next.Query().Get("limit") != "100" || next.Query().Get("after") != p.Paging.Cursors.After {
		t.Fatalf("next = %q", p.Paging.Next)
	}
	if p.Paging.Previous != "" {
		t.Errorf("first page has previous %q", p.Paging.Previous)
	}

	// The second page links back.
	r = b.must(t, req{method: http.MethodGet, path: p.Paging.Next, token: adminTok})
	var p2 systemUsersPage
	r.decode(t, &p2)
	if p2.Paging.Previous == "" || p2.Paging.Next != "" {
		t.Errorf("last page: paging = %+v", p2.Paging)
	}
}

func TestPagingEmptyPages(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(30))
	b.srv.SetEmptyPages(2)

	sizes, ids := b.walk(t, "/"+bizID+"/system_users", nil)
	if !slices.Equal(sizes, []int{0, 0, 25, 0, 0, 7}) {
		t.Fatalf("sizes = %v", sizes)
	}
	if len(ids) != 32 || ids[30] != adminID {
		t.Fatalf("ids = %v", ids)
	}

	// An empty page still carries cursors and next.
	r := b.get(t, "/"+bizID+"/system_users", adminTok, nil)
	var p systemUsersPage
	r.decode(t, &p)
	if len(p.Data) != 0 || p.Paging == nil || p.Paging.Next == "" || p.Paging.Cursors.After == "" || p.Paging.Cursors.Before == "" {
		t.Fatalf("empty page = %s", r.body)
	}
	if !strings.Contains(string(r.body), `"data":[]`) {
		t.Errorf("data should be [], not null: %s", r.body)
	}

	// An empty listing: the empty pages, then {"data":[]}.
	b = setup(t)
	b.srv.SetEmptyPages(2)
	sizes, _ = b.walk(t, "/"+wabaA+"/assigned_users", url.Values{"business": {bizID}})
	if !slices.Equal(sizes, []int{0, 0, 0}) {
		t.Fatalf("empty listing sizes = %v", sizes)
	}
}

func TestPagingBadParams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, q := range []url.Values{{"limit": {"ten"}}, {"limit": {"-1"}}, {"after": {"not-a-cursor"}}, {"before": {"%%%"}}} {
		b.get(t, "/"+bizID+"/system_users", adminTok, q).wantError(t, http.StatusBadRequest, 100, 0, "OAuthException")
	}
}

func TestPagingNextRepeatsQueryToken(t *testing.T) {
	t.Parallel()
	b := setup(t, withOtherUsers(30))
	// Meta repeats an access_token given in the query in its next link.
	r := b.get(t, "/"+bizID+"/system_users", "", url.Values{"access_token": {adminTok}})
	var p systemUsersPage
	r.decode(t, &p)
	if !strings.Contains(p.Paging.Next, "access_token="+adminTok) {
		t.Fatalf("next = %q", p.Paging.Next)
	}
	// With the header, the token stays out of the link.
	r = b.get(t, "/"+bizID+"/system_users", adminTok, nil)
	r.decode(t, &p)
	if strings.Contains(p.Paging.Next, "access_token") {
		t.Fatalf("next = %q", p.Paging.Next)
	}
}
