// Package tracing is the worker's OpenTelemetry tracing: one span per event
// (continuing the W3C traceparent of the incoming waba.shared message), one
// client span per Graph call, and the trace context carried on to the
// result event's headers.
//
// Setup builds the tracer provider from the standard OTEL_* variables, read
// through the getenv it is given: an OTLP/HTTP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, a no-op provider otherwise. With the no-op provider nothing is
// recorded, but a traceparent still passes from the input to the result.
//
// No span holds a secret: the Graph client's URLs carry appsecret_proof in
// their query, so Transport hides the query from the HTTP instrumentation
// (the request still goes out with it), and no header is recorded. Span
// attributes hold ids (event_id, waba_id, the Graph error code and
// fbtrace_id), never a token.
package tracing
