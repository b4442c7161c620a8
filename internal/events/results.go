package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Succeeded is the waba.assignment.succeeded event.
type Succeeded struct {
	EventID      string   `json:"event_id"`
	WabaID       string   `json:"waba_id"`
	SystemUserID string   `json:"system_user_id"`
	Tasks        []string `json:"tasks"`
	// HeldTasks is every task the user holds on the WABA after the
	// assignment, as the final read-back showed (a superset of Tasks).
	HeldTasks       []string  `json:"held_tasks"`
	AlreadyAssigned bool      `json:"already_assigned"`
	Attempts        int       `json:"attempts"`
	CompletedAt     time.Time `json:"completed_at"`
}

// Failed is the waba.assignment.failed event. Event holds the input as
// received, so that a replay can republish it unchanged; when Event cannot
// hold it exactly as JSON every strict parser reads (see SetEvent),
// EventBase64 holds its exact bytes. Build one with SetEvent, read one with
// DecodeFailed and get the input back with Replayable.
type Failed struct {
	EventID      string          `json:"event_id"`
	WabaID       string          `json:"waba_id,omitempty"`
	SystemUserID string          `json:"system_user_id,omitempty"`
	Tasks        []string        `json:"tasks,omitempty"`
	Attempts     int             `json:"attempts"`
	FailedAt     time.Time       `json:"failed_at"`
	Error        Failure         `json:"error"`
	Event        json.RawMessage `json:"event"`
	EventBase64  []byte          `json:"event_base64,omitempty"` // standard base64 in JSON
}

// Encode returns the event's JSON with Event byte for byte as received
// (json.Marshal would compact it), so that a replay republishes exactly the
// input. The worker publishes this encoding. An Event set directly rather
// than by SetEvent is carried as SetEvent would carry it, so the encoding is
// always valid UTF-8 JSON that strict parsers accept.
func (f Failed) Encode() ([]byte, error) {
	if f.EventBase64 == nil && len(f.Event) > 0 && !portableJSON(f.Event) {
		f.SetEvent(f.Event)
	}
	event, exact := f.Event, f.EventBase64
	f.Event, f.EventBase64 = nil, nil
	b, err := json.Marshal(struct {
		Failed
		Event       json.RawMessage `json:"event,omitempty"`
		EventBase64 []byte          `json:"event_base64,omitempty"`
	}{Failed: f})
	if err != nil {
		return nil, err
	}
	if len(event) == 0 || !json.Valid(event) {
		event = []byte("null")
	}
	out := make([]byte, 0, len(b)+len(event)+base64.StdEncoding.EncodedLen(len(exact))+30)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"event":`...)
	out = append(out, event...)
	if exact != nil {
		out = append(out, `,"event_base64":"`...)
		out = base64.StdEncoding.AppendEncode(out, exact)
		out = append(out, '"')
	}
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
// the original stays in the stream. The string is cut further when its JSON
// (escapes, U+FFFD for invalid bytes) would be longer than this, so a failed
// event always fits a NATS message.
const MaxEmbeddedEvent = 256 << 10

// MaxEventDepth is the deepest nesting of arrays and objects kept as JSON in
// a failed event: deeper input is carried as a string, because the failed
// event nests one level more and parsers have limits (Go's 10,000, Python's
// recursion limit near 1,000, jq's 256 in 1.6).
const MaxEventDepth = 100

// maxIntDigits is the longest integer literal kept as JSON in a failed
// event: Python's json refuses longer ones by default
// (sys.get_int_max_str_digits).
const maxIntDigits = 4300

// SetEvent sets Event, and EventBase64 when needed, from the input data as
// received:
//
//   - JSON that is valid UTF-8, nests at most MaxEventDepth levels and has no
//     integer over 4,300 digits is Event byte for byte (with EventBase64 too
//     when blanks surround it, or it is a JSON string: decoding would not
//     give back the exact bytes);
//   - anything else is Event as a JSON string of its text (invalid bytes as
//     U+FFFD), with EventBase64 holding the exact bytes when the input is
//     not valid UTF-8, nests too deep, or the string could not hold all of
//     it.
//
// An input over MaxEmbeddedEvent bytes is kept as a truncated string only.
func (f *Failed) SetEvent(data []byte) {
	f.Event, f.EventBase64 = carry(data)
}

// RawEvent returns the input as a failed event's Event carries it (see
// SetEvent), without EventBase64: prefer SetEvent, which keeps the exact
// bytes of what Event cannot hold.
func RawEvent(data []byte) json.RawMessage {
	event, _ := carry(data)
	return event
}

// carry is SetEvent's rule.
func carry(data []byte) (event json.RawMessage, exact []byte) {
	fits := len(data) <= MaxEmbeddedEvent
	valid := utf8.Valid(data)
	portable := portableNesting(data)
	if fits && valid && portable && json.Valid(data) {
		event = json.RawMessage(bytes.Clone(data))
		// Decoding drops blanks around a value, and a JSON string reads as
		// the text of an input that is not JSON: keep the exact bytes too.
		if t := bytes.TrimSpace(data); len(t) != len(data) || t[0] == '"' {
			exact = bytes.Clone(data)
		}
		return event, exact
	}
	s := data
	if !fits {
		s = s[:MaxEmbeddedEvent]
	}
	text := string(s)
	if !valid {
		text = string([]rune(text)) // replaces each invalid byte with U+FFFD
	}
	b, _ := json.Marshal(text) // a string always marshals
	cut := false
	for len(b) > MaxEmbeddedEvent {
		n := len(text) * MaxEmbeddedEvent / len(b)
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text, cut = text[:n], true
		b, _ = json.Marshal(text)
	}
	if fits && (!valid || !portable || cut) {
		exact = bytes.Clone(data)
	}
	return b, exact
}

// portableJSON reports whether data is JSON that every strict parser reads
// as Go's does.
func portableJSON(data []byte) bool {
	return utf8.Valid(data) && portableNesting(data) && json.Valid(data)
}

// portableNesting reports whether data, read as JSON, nests at most
// MaxEventDepth levels and holds no integer literal over maxIntDigits
// digits. It looks at brackets and digits outside strings only, so it
// answers for text that is not JSON too.
func portableNesting(data []byte) bool {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > MaxEventDepth {
				return false
			}
		case c == ']' || c == '}':
			depth--
		case c == '-' || (c >= '0' && c <= '9'):
			// A number: an integer unless a fraction or exponent follows.
			j, digits, integer := i, 0, true
			for ; j < len(data); j++ {
				d := data[j]
				if d >= '0' && d <= '9' {
					digits++
				} else if d == '.' || d == 'e' || d == 'E' {
					integer = false
				} else if d != '-' && d != '+' {
					break
				}
			}
			if integer && digits > maxIntDigits {
				return false
			}
			i = j - 1
		}
	}
	return true
}

// Replayable returns the input exactly as received: EventBase64 when set,
// else the bytes of the string Event holds, else the JSON document it holds.
func (f Failed) Replayable() []byte {
	if f.EventBase64 != nil {
		return f.EventBase64
	}
	var s string
	if len(f.Event) > 0 && f.Event[0] == '"' && json.Unmarshal(f.Event, &s) == nil {
		return []byte(s)
	}
	return f.Event
}

// DecodeFailed reads a waba.assignment.failed event. It fails, with a reason
// that does not echo the document, on anything that is not one: not a JSON
// object (or JSON Go's parser refuses, such as a failed event written before
// event_base64 around an input over 10,000 levels deep), a field of the wrong
// type, an event_base64 that is not standard base64, no event_id.
func DecodeFailed(data []byte) (Failed, error) {
	var f Failed
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Failed{}, errors.New("not a failed event: not a JSON object")
	}
	if err := json.Unmarshal(data, &f); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return Failed{}, fmt.Errorf("not a failed event: %s is %s, want %s", typ.Field, typ.Value, typ.Type)
		}
		return Failed{}, fmt.Errorf("not a failed event: %s", jsonProblem(err))
	}
	if f.EventID == "" {
		return Failed{}, errors.New("not a failed event: no event_id")
	}
	return f, nil
}
