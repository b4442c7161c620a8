package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrNotEnvelope is wrapped by ParseEnvelope's errors: the body is not
// Meta's webhook envelope.
var ErrNotEnvelope = errors.New("not a Meta webhook envelope")

// EntryField is the field of the one message an entry without changes
// becomes (e.g. Messenger's entries, which carry messaging instead): its
// value is the whole entry.
const EntryField = "_entry"

// Change is one change of one entry of a delivery: what the gateway
// publishes on meta.webhook.<object>.<field>.
type Change struct {
	// Object is the envelope's object, e.g. whatsapp_business_account; ""
	// when the delivery named none.
	Object string
	// EntryID is entry.id (a string, or a number's digits); "" when absent.
	EntryID string
	// Time is entry.time as sent (compacted JSON: usually Unix seconds);
	// nil when absent or neither a number nor a string.
	Time json.RawMessage
	// Field is the change's field, e.g. account_update; "" when absent.
	Field string
	// Value is the change's value byte for byte; "null" when absent.
	Value json.RawMessage
}

type rawEnvelope struct {
	Object json.RawMessage `json:"object"`
	Entry  json.RawMessage `json:"entry"`
}

type rawEntry struct {
	ID     json.RawMessage `json:"id"`
	Time   json.RawMessage `json:"time"`
	Object json.RawMessage `json:"object"`
	Field  json.RawMessage `json:"field"`
	// Changes is nil when absent or null; a null change is nil.
	Changes []*rawChange `json:"changes"`
}

type rawChange struct {
	Field  json.RawMessage `json:"field"`
	Object json.RawMessage `json:"object"`
	Value  json.RawMessage `json:"value"`
}

// ParseEnvelope splits a delivery into its changes, in order. The body must
// be a JSON object whose entry is an array of objects, each with changes
// absent, null or an array of objects (or nulls, which are skipped);
// anything else is an error wrapping ErrNotEnvelope. Beyond that it is lenient, as Meta's payloads vary:
//
//   - object is taken from the envelope, else from the entry, the change or
//     the change's value (Meta's own examples put it in each of these);
//     field from the change, else the entry or the value;
//   - entry.id may be a string or a number; entry.time a number or a
//     string, or absent (WhatsApp's messages entries have none);
//   - an entry without changes becomes one change with field EntryField and
//     the entry as value, so that nothing signed is dropped;
//   - unknown keys are ignored.
func ParseEnvelope(body []byte) ([]Change, error) {
	var env rawEnvelope
	if err := unmarshalObject(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEnvelope, err)
	}
	if kind(env.Entry) != '[' {
		return nil, fmt.Errorf("%w: entry is %s, want an array", ErrNotEnvelope, kindName(env.Entry))
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(env.Entry, &entries); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrNotEnvelope, err)
	}
	object := str(env.Object)
	var out []Change
	for i, raw := range entries {
		// One decode per entry, changes included: each level decoded on
		// its own would scan the body once per level.
		var e rawEntry
		if err := unmarshalObject(raw, &e); err != nil {
			return nil, fmt.Errorf("%w: entry[%d]: %v", ErrNotEnvelope, i, err)
		}
		base := Change{Object: first(object, str(e.Object)), EntryID: id(e.ID), Time: timeValue(e.Time)}
		if e.Changes == nil {
			c := base
			c.Field, c.Value = EntryField, raw
			out = append(out, c)
			continue
		}
		for _, ch := range e.Changes {
			if ch == nil {
				continue // a null change: nothing to keep
			}
			c := base
			c.Value = ch.Value
			if len(c.Value) == 0 {
				c.Value = json.RawMessage("null")
			}
			c.Object = first(c.Object, str(ch.Object))
			c.Field = first(str(ch.Field), str(e.Field))
			if c.Object == "" || c.Field == "" {
				var inner rawChange // the value's own object and field, if any
				if kind(c.Value) == '{' && json.Unmarshal(c.Value, &inner) == nil {
					c.Object = first(c.Object, str(inner.Object))
					c.Field = first(c.Field, str(inner.Field))
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// unmarshalObject decodes data, which must be a JSON object, into v.
func unmarshalObject(data []byte, v any) error {
	if k := kind(data); k != '{' {
		return fmt.Errorf("%s, want an object", kindName(data))
	}
	return json.Unmarshal(data, v)
}

// kind is the first byte of a JSON value ('{', '[', '"', 'n', ...), 0 when
// there is none.
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func kindName(v json.RawMessage) string {
	switch k := kind(v); k {
	case 0:
		return "missing"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "not JSON"
}

// str is a JSON string's value; "" for anything else.
func str(v json.RawMessage) string {
	var s string
	if kind(v) != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// id reads an id that Meta sends as a string (or, leniently, a number).
func id(v json.RawMessage) string {
	switch kind(v) {
	case '"':
		return str(v)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String()
		}
	}
	return ""
}

func timeValue(v json.RawMessage) json.RawMessage {
	switch kind(v) {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var b bytes.Buffer
		if json.Compact(&b, v) == nil {
			return b.Bytes()
		}
	}
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// OccurredAt reads Time as a point in time: Unix seconds (a number or a
// string of digits; values beyond 1e11 are taken as milliseconds, as
// Messenger sends them) or an RFC 3339 string. ok is false when there is no
// usable time.
func (c Change) OccurredAt() (t time.Time, ok bool) {
	var f float64
	switch kind(c.Time) {
	case '"':
		s := str(c.Time)
		if p, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return inRange(p.UTC())
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		f = n
	case 0, 'n':
		return time.Time{}, false
	default:
		if json.Unmarshal(c.Time, &f) != nil {
			return time.Time{}, false
		}
	}
	if math.IsNaN(f) || f <= 0 {
		return time.Time{}, false
	}
	if f > 1e11 {
		f /= 1000
	}
	if f > 253402300799 { // 9999-12-31T23:59:59Z
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return inRange(time.Unix(int64(sec), int64(frac*1e9)).UTC())
}

func inRange(t time.Time) (time.Time, bool) {
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// MsgIDPrefix starts every message id the gateway derives.
const MsgIDPrefix = "wh-"

// MsgID is the change's message id: "wh-" and the first 128 bits, in hex,
// of the SHA-256 of its object, entry id, time, field and value (each
// length-prefixed; time and value compacted, so a redelivery that only
// differs in whitespace has the same id). Meta redelivers the same changes,
// possibly batched differently; each keeps its id, so the stream's duplicate
// window drops them. It is also the id (and Nats-Msg-Id) of the waba.shared
// or waba.unshared event the change becomes.
func (c Change) MsgID() string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	put := func(b []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	put([]byte(c.Object))
	put([]byte(c.EntryID))
	put(c.Time)
	put([]byte(c.Field))
	var v bytes.Buffer
	if json.Compact(&v, c.Value) == nil {
		put(v.Bytes())
	} else {
		put(c.Value)
	}
	sum := h.Sum(nil)
	return MsgIDPrefix + hex.EncodeToString(sum[:16])
}

// Subject is the change's subject under prefix: prefix.<object>.<field>,
// each token reduced by Token.
func (c Change) Subject(prefix string) string {
	return prefix + "." + Token(c.Object) + "." + Token(c.Field)
}

// MaxTokenLen caps a subject token made by Token.
const MaxTokenLen = 64

// Token makes s a valid, single NATS subject token: letters, digits, _ and
// - are kept, anything else (dots, wildcards, blanks, non-ASCII) becomes _;
// it is cut at MaxTokenLen bytes; "" becomes "unknown".
func Token(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > MaxTokenLen {
		s = s[:MaxTokenLen]
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '_', ch == '-':
			b.WriteByte(ch)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Encode returns the message the gateway publishes for the change:
// {"object","entry_id","time","field","value"}, time left out when absent,
// value byte for byte as received.
func (c Change) Encode() []byte {
	head, _ := json.Marshal(struct { // strings and compacted JSON only: cannot fail
		Object  string          `json:"object"`
		EntryID string          `json:"entry_id"`
		Time    json.RawMessage `json:"time,omitempty"`
		Field   string          `json:"field"`
	}{c.Object, c.EntryID, c.Time, c.Field})
	value := c.Value
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	out := make([]byte, 0, len(head)+len(value)+10)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"value":`...)
	out = append(out, value...)
	return append(out, '}')
}
