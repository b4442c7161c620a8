package emulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkServeHTTP measures the handler alone: a read and a write mix
// over many WABAs, with request recording on.
func BenchmarkServeHTTP(b *testing.B) {
	seed := DefaultSeed()
	seed.Businesses[0].OtherUsers = 10
	srv, err := New(seed, WithRecordLimit(10000))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ids := DevWABAIDs()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			waba := ids[int(i)%len(ids)]
			var r *http.Request
			if i%4 == 0 {
				r = httptest.NewRequest(http.MethodPost, "/v25.0/"+waba+"/assigned_users",
					strings.NewReader(url.Values{"user": {DevSystemUserID}, "tasks": {`["MANAGE"]`}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(http.MethodGet, "/v25.0/"+waba+"/assigned_users?business="+DevBusinessID, nil)
			}
			r.Header.Set("Authorization", "Bearer "+DevAdminToken)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("HTTP %d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkHTTP measures real HTTP round trips on loopback.
func BenchmarkHTTP(b *testing.B) {
	srv := newTestServer(b, DefaultSeed(), WithRecordLimit(10000))
	c := srv.Client()
	u := srv.URL() + "/v25.0/" + DevFirstWABAID + "/assigned_users?business=" + DevBusinessID
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest(http.MethodGet, u, nil)
			r.Header.Set("Authorization", "Bearer "+DevAdminToken)
			resp, err := c.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
		}
	})
}
