package graph

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The Graph side of the per-event hot path: turning an answer into a typed
// error and classifying it. Compare runs with benchstat (make bench-go).

func BenchmarkClassify(b *testing.B) {
	permanent := &Error{Op: OpAssignUser, HTTPStatus: 403, Code: 200, Type: "OAuthException",
		Message: "(#200) Permissions error", FBTraceID: "AbC123"}
	cases := []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"permanent", permanent},
		{"rate_limited", &Error{Op: OpListAssignedUsers, HTTPStatus: 400, Code: 80008, Subcode: 2446079,
			Type: "OAuthException", IsTransient: true, FBTraceID: "AzX9cV8bN7m"}},
		{"wrapped", fmt.Errorf("assign 102290129340398: %w", permanent)},
		{"transport", &TransportError{Op: OpListAssignedUsers, Err: ErrTimeout}},
		{"canceled", context.Canceled},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Classify(c.err)
			}
		})
	}
}

// BenchmarkCheckResponse parses Graph error answers into an *Error, as the
// client does on every non-2xx, and a plain success that holds no error.
func BenchmarkCheckResponse(b *testing.B) {
	h := http.Header{}
	h.Set(headerTraceID, "AbC123")
	now := time.Unix(1_800_000_000, 0)
	red := newRedactor("a-secret-token-value", "an-app-secret-value")
	for _, name := range []string{"error_200.json", "error_80008.json"} {
		body, err := os.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if e := checkResponse(OpAssignUser, 400, h, body, now, red); e == nil {
					b.Fatal("no error")
				}
			}
		})
	}
	success := []byte(`{"success":true}`)
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e := checkResponse(OpAssignUser, 200, h, success, now, red); e != nil {
				b.Fatal(e)
			}
		}
	})
}

// BenchmarkErrorString is the text a failed event and a log line carry.
func BenchmarkErrorString(b *testing.B) {
	e := &Error{Op: OpAssignUser, HTTPStatus: 403, Code: 100, Subcode: 33, Type: "GraphMethodException",
		Message: "(#100) Unsupported post request.", FBTraceID: "AbC123"}
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Error()
	}
}

// BenchmarkCall is one event's Graph calls against an in-process HTTP
// server answering as Meta does (usage headers, fbtrace id, JSON bodies):
// list the WABA's assigned users, assign, list again. The client's own cost
// per call: building the request, reading and checking the answer,
// decoding, observing.
func BenchmarkCall(b *testing.B) {
	srv := benchServer(b)
	var calls atomic.Int64
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(StaticToken("a-secret-token-value")),
		WithHTTPClient(srv.Client()), WithObserver(func(Call) { calls.Add(1) }))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.FindAssignedUser(ctx, "102290129340398", "100200300", "61550000000001"); err != nil {
			b.Fatal(err)
		}
		if err := c.AssignUser(ctx, "102290129340398", "61550000000001", []string{"MANAGE"}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.FindAssignedUser(ctx, "102290129340398", "100200300", "61550000000001"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
}

// BenchmarkCallFloor is BenchmarkCall's three round trips with bare
// net/http (the bench's floor program does them so): BenchmarkCall minus
// this is the client's own cost.
func BenchmarkCallFloor(b *testing.B) {
	srv := benchServer(b)
	hc := srv.Client()
	ctx := context.Background()
	base := srv.URL + "/" + DefaultVersion + "/102290129340398/assigned_users"
	call := func(method, u, body string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer a-secret-token-value")
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		call(http.MethodGet, base+"?business=100200300", "")
		call(http.MethodPost, base, "user=61550000000001&tasks=%5B%22MANAGE%22%5D")
		call(http.MethodGet, base+"?business=100200300", "")
	}
}

// benchServer answers as Meta does (usage headers, fbtrace id, JSON bodies).
func benchServer(b *testing.B) *httptest.Server {
	const assigned = `{"data":[{"id":"61550000000001","name":"waba-worker","tasks":["MANAGE"],"permitted_tasks":["MANAGE"]}],"paging":{"cursors":{"before":"QVFI","after":"QVFI"}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=UTF-8")
		h.Set(headerTraceID, "AbC123xYz")
		h.Set(headerAppUsage, `{"call_count":28,"total_cputime":12,"total_time":25}`)
		h.Set(headerBusinessUsage, `{"102290129340398":[{"type":"whatsapp","call_count":10,"total_cputime":1,"total_time":2,"estimated_time_to_regain_access":0}]}`)
		if r.Method == http.MethodPost {
			_, _ = io.WriteString(w, `{"success":true}`)
			return
		}
		_, _ = io.WriteString(w, assigned)
	}))
	b.Cleanup(srv.Close)
	return srv
}
