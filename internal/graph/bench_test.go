package graph

import (
	"context"
	"fmt"
	"net/http"
	"os"
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
