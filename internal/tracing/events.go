package tracing

import (
	"context"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the worker's tracer.
const TracerName = "github.com/wabaworker/waba-worker"

// propagator carries the W3C trace context (traceparent, tracestate) on
// NATS messages.
var propagator = propagation.TraceContext{}

// HeaderCarrier adapts NATS message headers to OpenTelemetry propagation.
// NATS header names are case-sensitive: Get finds a name in any case, and
// Set writes it in lower case, as W3C Trace Context spells traceparent.
type HeaderCarrier nats.Header

// Get returns the first value of key, in any case.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces every value of key, in any case, with value.
func (c HeaderCarrier) Set(key, value string) {
	for k := range c {
		if strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[strings.ToLower(key)] = []string{value}
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context of ctx into h (traceparent, and tracestate
// when there is one). Without a valid span context it writes nothing.
func Inject(ctx context.Context, h nats.Header) {
	if h != nil {
		propagator.Inject(ctx, HeaderCarrier(h))
	}
}

// Extract returns ctx with the remote span context of h's traceparent, if
// h has a valid one.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, HeaderCarrier(h))
}

// StartEvent starts the span of one delivery of an input message, as a
// child of the traceparent in its headers (a new trace without one). It
// names the delivery; EndEvent adds the event's ids from the outcome, so the
// input is decoded once, by the handler.
func StartEvent(ctx context.Context, tr trace.Tracer, h nats.Header, subject string, m wabatype.Message) (context.Context, trace.Span) {
	return tr.Start(Extract(ctx, h), "process "+subject,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", subject),
			attribute.Int("waba.delivery", m.Delivery),
			attribute.Int64("waba.stream_sequence", int64(m.StreamSeq)),
		))
}

// EndEvent records the outcome of a delivery on its span (it does not end
// it): the outcome as the metrics name it, and for a failed event its kind,
// Graph code and fbtrace_id, with an error status.
func EndEvent(span trace.Span, out wabatype.Outcome) {
	if !span.IsRecording() {
		return
	}
	// Ids, not secrets; a waba_id that is not a Graph id is left out.
	span.SetAttributes(attribute.String("event_id", out.EventID))
	if out.WabaID != "" {
		span.SetAttributes(attribute.String("waba_id", out.WabaID))
	}
	switch out.Verdict {
	case wabatype.Done:
		span.SetAttributes(attribute.String("waba.outcome", "succeeded"))
		if s := out.Succeeded; s != nil {
			span.SetAttributes(attribute.Bool("waba.already_assigned", s.AlreadyAssigned),
				attribute.String("waba.system_user_id", s.SystemUserID))
		}
	case wabatype.Failed:
		span.SetAttributes(attribute.String("waba.outcome", "failed"))
		kind := "unknown"
		if f := out.Failed; f != nil {
			kind = f.Error.Kind
			span.SetAttributes(attribute.String("waba.error.kind", kind))
			if f.Error.GraphCode != nil {
				span.SetAttributes(attribute.Int("graph.code", *f.Error.GraphCode))
			}
			if f.Error.GraphSubcode != nil {
				span.SetAttributes(attribute.Int("graph.subcode", *f.Error.GraphSubcode))
			}
			if f.Error.FBTraceID != "" {
				span.SetAttributes(attribute.String("graph.fbtrace_id", f.Error.FBTraceID))
			}
		}
		span.SetStatus(codes.Error, kind)
	case wabatype.RetryLater:
		span.SetAttributes(attribute.String("waba.outcome", "retried"),
			attribute.Float64("waba.retry_delay_seconds", out.Delay.Seconds()))
	case wabatype.Paused:
		span.SetAttributes(attribute.String("waba.outcome", "paused"),
			attribute.String("waba.pause_reason", out.Reason.String()))
	}
	if out.Err != nil {
		// wabatype.Outcome.Err never holds a secret: Graph errors are
		// scrubbed by internal/graph.
		span.RecordError(out.Err)
	}
}
