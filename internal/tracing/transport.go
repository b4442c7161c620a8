package tracing

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// WrapClient returns a copy of hc (nil: a default client) whose transport
// gives every request a client span; see Transport.
func WrapClient(hc *http.Client, tp trace.TracerProvider) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.Transport = Transport(c.Transport, tp)
	return c
}

// Transport wraps base (nil: http.DefaultTransport) so that every request
// gets a client span from tp (otelhttp), a child of the span in the
// request's context, named "graph GET assigned_users" (method and the
// path's last segment).
//
// The span never sees the URL's query, which carries appsecret_proof: the
// query is taken off the request before the instrumentation and put back
// under it, just before base sends it. No trace header is sent to Graph
// either.
func Transport(base http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	instrumented := otelhttp.NewTransport(restoreQuery{base},
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "graph " + r.Method + " " + path.Base(r.URL.Path)
		}),
	)
	return hideQuery{instrumented}
}

type queryKey struct{}

// hideQuery hands next a copy of the request without its query, keeping
// the query in the context for restoreQuery.
type hideQuery struct{ next http.RoundTripper }

func (h hideQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL == nil || (r.URL.RawQuery == "" && !r.URL.ForceQuery) {
		return h.next.RoundTrip(r)
	}
	r2 := r.Clone(context.WithValue(r.Context(), queryKey{}, r.URL.RawQuery))
	r2.URL.RawQuery, r2.URL.ForceQuery = "", false
	resp, err := h.next.RoundTrip(r2)
	if resp != nil {
		resp.Request = r
	}
	return resp, err
}

// restoreQuery puts the query hideQuery took off back on the request.
type restoreQuery struct{ next http.RoundTripper }

func (rq restoreQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	q, ok := r.Context().Value(queryKey{}).(string)
	if !ok {
		return rq.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q
	resp, err := rq.next.RoundTrip(r2)
	if err != nil {
		err = scrubQuery(err, q)
	}
	return resp, err
}

// scrubQuery keeps the instrumentation from recording the query through an
// error message (Go's transport errors do not quote the URL, but a custom
// base might).
func scrubQuery(err error, rawQuery string) error {
	msg := err.Error()
	secrets := []string{rawQuery}
	if vals, perr := url.ParseQuery(rawQuery); perr == nil {
		for _, vs := range vals {
			for _, v := range vs {
				if len(v) >= 8 {
					secrets = append(secrets, v)
				}
			}
		}
	}
	found := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
			found = true
		}
	}
	if !found {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// scrubbedError is err with another message; errors.Is and errors.As still
// see err.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
