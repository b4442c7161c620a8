package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/wabaworker/waba-worker/internal/graph"
)

const clientsPath = "/" + bizID + "/client_whatsapp_business_accounts"

type clientWABAsPage struct {
	Data   []graph.ClientWABA `json:"data"`
	Paging *paging            `json:"paging"`
}

// withWABAs shares n more WABAs (700000000000001 ...) with bizID, named
// "Client N".
func withWABAs(n int) func(*Seed) {
	return func(s *Seed) {
		for i := range n {
			s.Businesses[0].WABAs = append(s.Businesses[0].WABAs,
				WABA{ID: strconv.Itoa(700000000000001 + i), Name: fmt.Sprintf("Client %d", i+1)})
		}
	}
}

func TestClientWABAsList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var p clientWABAsPage
	b.get(t, clientsPath, readTok, url.Values{"fields": {"id,name"}}).decode(t, &p)
	want := []graph.ClientWABA{{ID: wabaA, Name: "Customer A"}, {ID: wabaB, Name: "Customer B"}}
	if !slices.Equal(p.Data, want) || p.Paging == nil || p.Paging.Next != "" {
		t.Fatalf("page %+v, paging %+v; want %v and no next", p.Data, p.Paging, want)
	}
	if n := b.srv.CountFor(graph.OpListClientWABAs, bizID); n != 1 {
		t.Errorf("CountFor = %d, want 1", n)
	}

	// fields is honoured leniently: id only, or unknown fields ignored.
	p = clientWABAsPage{}
	b.get(t, clientsPath, readTok, url.Values{"fields": {"id"}}).decode(t, &p)
	if p.Data[0] != (graph.ClientWABA{ID: wabaA}) {
		t.Errorf("fields=id: %+v", p.Data[0])
	}
	p = clientWABAsPage{}
	b.get(t, clientsPath, readTok, url.Values{"fields": {"id, name,currency"}}).decode(t, &p)
	if p.Data[0].Name != "Customer A" {
		t.Errorf("fields with blanks and an extra field: %+v", p.Data[0])
	}
	p = clientWABAsPage{}
	b.get(t, clientsPath, readTok, nil).decode(t, &p)
	if p.Data[0].Name != "Customer A" {
		t.Errorf("no fields: %+v, want id and name", p.Data[0])
	}
}

// Sharing and unsharing change the listing at once.
func TestClientWABAsFollowSharing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := func() []string {
		var p clientWABAsPage
		b.get(t, clientsPath, adminTok, nil).decode(t, &p)
		var out []string
		for _, w := range p.Data {
			out = append(out, w.ID)
		}
		return out
	}
	if err := b.srv.Unshare(bizID, wabaA); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{wabaB}) {
		t.Fatalf("after Unshare: %v", got)
	}
	if err := b.srv.AddWABA(bizID, "800"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Share(bizID, otherWABA); err != nil {
		t.Fatal(err)
	}
	// Id order is numeric: the short id first.
	if got := ids(); !slices.Equal(got, []string{"800", wabaB, otherWABA}) {
		t.Fatalf("after AddWABA and Share: %v", got)
	}
}

// More than 100 WABAs: pages of at most 100 (limit is clamped) that walk
// every WABA once, in order, with a next link until the last page.
func TestClientWABAsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, withWABAs(248)) // 250 in all
	for _, tc := range []struct {
		limit string
		sizes []int
	}{
		{"", []int{25, 25, 25, 25, 25, 25, 25, 25, 25, 25}},
		{"100", []int{100, 100, 50}},
		{"1000", []int{100, 100, 50}},
	} {
		q := url.Values{"fields": {"id,name"}}
		if tc.limit != "" {
			q.Set("limit", tc.limit)
		}
		sizes, ids := b.walk(t, clientsPath, q)
		if !slices.Equal(sizes, tc.sizes) {
			t.Errorf("limit %q: page sizes %v, want %v", tc.limit, sizes, tc.sizes)
		}
		if len(ids) != 250 || ids[0] != wabaA || ids[1] != wabaB || ids[2] != "700000000000001" || ids[249] != "700000000000248" {
			t.Errorf("limit %q: %d ids, first %v last %v", tc.limit, len(ids), ids[:3], ids[len(ids)-1])
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("limit %q: %s listed twice", tc.limit, id)
			}
			seen[id] = true
		}
	}
}

func TestClientWABAsErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Another business's id: as if it did not exist.
	b.get(t, "/"+otherBizID+"/client_whatsapp_business_accounts", adminTok, nil).
		wantError(t, http.StatusBadRequest, 100, subcodeUnsupported, typeGraphMethod)
	b.get(t, "/999999/client_whatsapp_business_accounts", adminTok, nil).
		wantError(t, http.StatusBadRequest, 100, subcodeUnsupported, typeGraphMethod)
	// A WABA has no such edge.
	e := b.get(t, "/"+wabaA+"/client_whatsapp_business_accounts", adminTok, nil).
		wantError(t, http.StatusBadRequest, 100, 0, typeOAuth)
	if want := "(#100) Tried accessing nonexisting field (client_whatsapp_business_accounts) on node type (WhatsAppBusinessAccount)"; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	// Tokens.
	b.get(t, clientsPath, "", nil).wantError(t, http.StatusBadRequest, 104, 0, typeOAuth)
	b.get(t, clientsPath, "nope", nil).wantError(t, http.StatusUnauthorized, 190, 0, typeOAuth)
	b.srv.ExpireToken(readTok)
	b.get(t, clientsPath, readTok, nil).wantError(t, http.StatusUnauthorized, 190, subcodeExpired, typeOAuth)
	// A bad cursor.
	b.get(t, clientsPath, adminTok, url.Values{"after": {"!!"}}).wantError(t, http.StatusBadRequest, 100, 0, typeOAuth)
	// POST is not served.
	b.post(t, clientsPath, adminTok, url.Values{}).wantError(t, http.StatusBadRequest, 100, subcodeUnsupported, typeGraphMethod)

	if n := b.srv.Count(graph.OpListClientWABAs); n != 7 {
		t.Errorf("Count = %d GETs, want 7", n)
	}
}

// Faults can be injected on the op like on any other.
func TestClientWABAsFault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.InjectFault(graph.OpListClientWABAs, Fault{Code: 80008, IsTransient: true})
	b.get(t, clientsPath, adminTok, nil).wantError(t, http.StatusBadRequest, 80008, 0, typeOAuth)
	var p clientWABAsPage
	b.get(t, clientsPath, adminTok, nil).decode(t, &p)
	if len(p.Data) != 2 {
		t.Errorf("after the fault: %+v", p.Data)
	}
}
