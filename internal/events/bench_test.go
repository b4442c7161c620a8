package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
)

// The per-event hot path of the worker outside Graph: decode and validate
// the input, pick its id, build and encode the result. Compare runs with
// benchstat (make bench-go).

// specInput is the SPEC's waba.shared example: what a publisher sends.
var specInput = []byte(`{"id": "evt-7f3c", "waba_id": "102290129340398", "business_id": "100200300", "tasks": ["MANAGE"], "source": "embedded_signup", "occurred_at": "2026-11-24T12:00:00Z"}`)

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		doc  []byte
	}{
		{"spec", specInput},
		{"minimal", []byte(`{"waba_id": "102290129340398"}`)},
		{"invalid", []byte(`{"id": "evt-7f3c", "waba_id": "102290129340398", "tasks": ["OWNER"]}`)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				_, _ = events.Decode(c.doc)
			}
		})
	}
}

func BenchmarkEventID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = events.EventID("", "evt-7f3c", 42)
	}
}

// BenchmarkSucceeded is what the worker publishes for a done event.
func BenchmarkSucceeded(b *testing.B) {
	s := events.Succeeded{
		EventID: "evt-7f3c", WabaID: "102290129340398", SystemUserID: "1972555232742222",
		Tasks: []string{"MANAGE"}, Attempts: 1, CompletedAt: time.Date(2026, 11, 24, 12, 0, 1, 0, time.UTC),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFailed builds a permanent failure as the handler does (the input
// kept with RawEvent) and encodes it as the worker publishes it.
func BenchmarkFailed(b *testing.B) {
	code, sub := 200, 0
	b.ReportAllocs()
	for b.Loop() {
		f := events.Failed{
			EventID: "evt-7f3c", WabaID: "102290129340398", SystemUserID: "1972555232742222",
			Tasks: []string{"MANAGE"}, Attempts: 1, FailedAt: time.Date(2026, 11, 24, 12, 0, 1, 0, time.UTC),
			Error: events.Failure{Kind: events.KindPermanent, Message: "(#200) Permissions error",
				GraphCode: &code, GraphSubcode: &sub, FBTraceID: "AbC123"},
			Event: events.RawEvent(specInput),
		}
		if _, err := f.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// PeekWabaID runs on every delivery (its lease key) before Decode.
func BenchmarkPeekWabaID(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(specInput)))
	for b.Loop() {
		_ = events.PeekWabaID(specInput)
	}
}
