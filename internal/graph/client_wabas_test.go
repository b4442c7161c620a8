package graph

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// The request ListClientWABAs sends, page by page: its own page size, the
// fields, the cursor of the previous page, the read token; paging.next is
// never followed (it points elsewhere here).
func TestListClientWABAsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, WithAdminToken(StaticToken(testAdminToken)), WithPageSize(7))
	b.mux.HandleFunc("GET /v25.0/100200300/client_whatsapp_business_accounts", func(w http.ResponseWriter, r *http.Request) {
		testHeader(t, r, "Authorization", "Bearer "+testToken)
		want := url.Values{"fields": {"id,name"}, "limit": {"100"}}
		switch after := r.URL.Query().Get("after"); after {
		case "":
			testQuery(t, r, want)
			writeJSON(w, 200, `{"data":[{"id":"1","name":"A"},{"id":"2"}],
				"paging":{"cursors":{"before":"b1","after":"c1"},"next":"https://evil.example/steal"}}`)
		case "c1":
			want.Set("after", "c1")
			testQuery(t, r, want)
			writeJSON(w, 200, `{"data":[{"id":"3","name":"C","currency":"USD"}],"paging":{"cursors":{"before":"c1","after":"c2"}}}`)
		default:
			t.Errorf("unexpected cursor %q", after)
			writeJSON(w, 500, `{}`)
		}
	})
	var pages [][]ClientWABA
	err := b.client.ListClientWABAs(t.Context(), "100200300", 0, func(p []ClientWABA) error {
		pages = append(pages, slices.Clone(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]ClientWABA{{{ID: "1", Name: "A"}, {ID: "2"}}, {{ID: "3", Name: "C"}}}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("pages %v, want %v", pages, want)
	}
	calls := b.calls.all()
	if len(calls) != 2 || calls[0].Op != OpListClientWABAs || calls[1].Op != OpListClientWABAs {
		t.Errorf("calls %+v", calls)
	}
}

func TestListClientWABAsLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.mux.HandleFunc("GET /v25.0/9/client_whatsapp_business_accounts", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, url.Values{"fields": {"id,name"}, "limit": {"25"}})
		writeJSON(w, 200, `{"data":[]}`)
	})
	n := 0
	if err := b.client.ListClientWABAs(t.Context(), "9", 25, func(p []ClientWABA) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("fn called %d times for one empty page, want 1", n)
	}
	for _, bad := range []int{-1, MaxPageSize + 1} {
		if err := b.client.ListClientWABAs(t.Context(), "9", bad, func([]ClientWABA) error { return nil }); err == nil {
			t.Errorf("limit %d accepted", bad)
		}
	}
	if err := b.client.ListClientWABAs(t.Context(), "", 0, func([]ClientWABA) error { return nil }); err == nil {
		t.Error("empty business id accepted")
	}
	if err := b.client.ListClientWABAs(t.Context(), "9", 0, nil); err == nil {
		t.Error("nil fn accepted")
	}
}

// fn's error stops the listing and comes back unwrapped; no further page is
// asked for.
func TestListClientWABAsStopsOnFnError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hits counter
	b.mux.HandleFunc("GET /v25.0/9/client_whatsapp_business_accounts", func(w http.ResponseWriter, r *http.Request) {
		n := hits.inc()
		writeJSON(w, 200, fmt.Sprintf(`{"data":[{"id":"%d"}],"paging":{"cursors":{"after":"c%d"},"next":"x"}}`, n, n))
	})
	stop := errors.New("stop here")
	err := b.client.ListClientWABAs(t.Context(), "9", 0, func([]ClientWABA) error { return stop })
	if err != stop {
		t.Fatalf("err %v, want the fn's error as it is", err)
	}
	if n := hits.get(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// The listing has its own page cap, not WithMaxPages's: a BSP's WABAs run to
// thousands.
func TestListClientWABAsMaxPages(t *testing.T) {
	t.Parallel()
	b := setup(t, WithMaxPages(1), WithMaxClientWABAPages(3))
	var hits counter
	b.mux.HandleFunc("GET /v25.0/9/client_whatsapp_business_accounts", func(w http.ResponseWriter, r *http.Request) {
		n := hits.inc()
		writeJSON(w, 200, fmt.Sprintf(`{"data":[{"id":"%d"}],"paging":{"cursors":{"after":"c%d"},"next":"x"}}`, n, n))
	})
	seen := 0
	err := b.client.ListClientWABAs(t.Context(), "9", 0, func(p []ClientWABA) error { seen += len(p); return nil })
	if !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("err %v, want ErrTooManyPages", err)
	}
	if got, want := err.Error(), "graph list_client_wabas: graph: too many pages (more than 3)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if seen != 3 || hits.get() != 3 {
		t.Errorf("saw %d WABAs in %d requests, want 3 and 3", seen, hits.get())
	}
	if _, err := NewClient(WithToken(StaticToken(testToken)), WithMaxClientWABAPages(0)); err == nil {
		t.Error("WithMaxClientWABAPages(0) accepted")
	}
}

// A Graph error of a page is returned as the *Error it is, so that the
// caller can Classify it (a rejected token pauses the sweep).
func TestListClientWABAsCredentialsError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.mux.HandleFunc("GET /v25.0/9/client_whatsapp_business_accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"T1"}}`)
	})
	err := b.client.ListClientWABAs(t.Context(), "9", 0, func([]ClientWABA) error { return nil })
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != 190 || ge.Op != OpListClientWABAs || Classify(err) != ClassCredentials {
		t.Fatalf("err %v (class %v), want a credentials *Error of %s", err, Classify(err), OpListClientWABAs)
	}
}
