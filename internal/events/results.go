package events

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Succeeded is the waba.assignment.succeeded event.
type Succeeded struct {
	EventID         string    `json:"event_id"`
	WabaID          string    `json:"waba_id"`
	SystemUserID    string    `json:"system_user_id"`
	Tasks           []string  `json:"tasks"`
	AlreadyAssigned bool      `json:"already_assigned"`
	Attempts        int       `json:"attempts"`
	CompletedAt     time.Time `json:"completed_at"`
}

// Failed is the waba.assignment.failed event. Event holds the input as
// received, so that a replay can republish it unchanged.
type Failed struct {
	EventID      string          `json:"event_id"`
	WabaID       string          `json:"waba_id,omitempty"`
	SystemUserID string          `json:"system_user_id,omitempty"`
	Tasks        []string        `json:"tasks,omitempty"`
	Attempts     int             `json:"attempts"`
	FailedAt     time.Time       `json:"failed_at"`
	Error        Failure         `json:"error"`
	Event        json.RawMessage `json:"event"`
}

// Encode returns the event's JSON with Event byte for byte as received
// (json.Marshal would compact it), so that a replay republishes exactly the
// input. The worker publishes this encoding.
func (f Failed) Encode() ([]byte, error) {
	event := f.Event
	f.Event = nil
	b, err := json.Marshal(struct {
		Failed
		Event json.RawMessage `json:"event,omitempty"`
	}{Failed: f})
	if err != nil {
		return nil, err
	}
	if len(event) == 0 || !json.Valid(event) {
		event = []byte("null")
	}
	out := make([]byte, 0, len(b)+len(event)+10)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"event":`...)
	out = append(out, event...)
	return append(out, '}'), nil
}

// Failure says why an event failed. The Graph fields are set when the cause
// was an answer from Graph.
type Failure struct {
	Kind         string `json:"kind"`
	Message      string `json:"message"`
	GraphCode    *int   `json:"graph_code,omitempty"`
	GraphSubcode *int   `json:"graph_subcode,omitempty"`
	FBTraceID    string `json:"fbtrace_id,omitempty"`
	Retryable    bool   `json:"retryable"`
}

// MaxEmbeddedEvent bounds the input kept in a failed event. A larger input
// (already invalid: the limit is MaxPayload) is kept as a truncated string;
// the original stays in the stream.
const MaxEmbeddedEvent = 256 << 10

// RawEvent returns the input as a failed event carries it: the JSON itself
// when it parses, else its text as a JSON string.
func RawEvent(data []byte) json.RawMessage {
	if len(data) <= MaxEmbeddedEvent && json.Valid(data) {
		return json.RawMessage(append([]byte(nil), data...))
	}
	s := data
	if len(s) > MaxEmbeddedEvent {
		s = s[:MaxEmbeddedEvent]
	}
	text := string(s)
	if !utf8.ValidString(text) {
		text = string([]rune(text)) // replaces invalid bytes with U+FFFD
	}
	b, _ := json.Marshal(text) // a string always marshals
	return b
}

// Replayable returns the payload a replay republishes: the JSON document
// when Event holds one, else the bytes of the string it holds.
func (f Failed) Replayable() []byte {
	var s string
	if len(f.Event) > 0 && f.Event[0] == '"' && json.Unmarshal(f.Event, &s) == nil {
		return []byte(s)
	}
	return f.Event
}
