package graph_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// Meta answers a listing with a rate-limit error; the worker classifies it
// and learns how long to wait.
func ExampleClassify() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Business-Use-Case-Usage",
			`{"100200300":[{"type":"whatsapp","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":2}]}`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"(#80008) There have been too many calls to this WhatsApp Business account.","type":"OAuthException","code":80008,"fbtrace_id":"AbC123"}}`)
	}))
	defer srv.Close()

	client, err := graph.NewClient(
		graph.WithBaseURL(srv.URL),
		graph.WithHTTPClient(srv.Client()),
		graph.WithToken(graph.StaticToken("EAAG-example-token")),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.AssignedUsers(context.Background(), "102290129340398", "100200300")
	fmt.Println(err)

	class := graph.Classify(err)
	fmt.Println(class, class.Retryable(), graph.RetryAfter(err))

	var gerr *graph.Error
	if errors.As(err, &gerr) {
		fmt.Println(gerr.HTTPStatus, gerr.Code, gerr.FBTraceID)
	}
	// Output:
	// graph list_assigned_users: (#80008) There have been too many calls to this WhatsApp Business account. (code 80008, fbtrace_id AbC123)
	// rate_limited true 2m0s
	// 400 80008 AbC123
}
