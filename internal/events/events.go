// Package events defines the worker's three events — waba.shared (input),
// waba.assignment.succeeded and waba.assignment.failed (results) — and the
// decoding and validation of the input.
//
// The rules here agree with the JSON Schemas in schemas/: tests run the same
// documents through both. Decoding never panics and never calls out: an input
// that breaks a rule yields an *InvalidError whose reason becomes the failed
// event's message.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"
)

// MaxPayload is the largest waba.shared payload the worker accepts.
const MaxPayload = 64 << 10

// Failure kinds of a waba.assignment.failed event.
const (
	KindInvalidEvent       = "invalid_event"
	KindPermanent          = "permanent"
	KindRetriesExhausted   = "retries_exhausted"
	KindVerificationFailed = "verification_failed"
)

// Tasks lists the WABA tasks Meta accepts for an assigned user, in the
// order the SPEC gives them.
var Tasks = []string{
	"MANAGE", "DEVELOP", "MANAGE_TEMPLATES", "MANAGE_PHONE", "VIEW_COST",
	"MANAGE_EXTENSIONS", "VIEW_PHONE_ASSETS", "MANAGE_PHONE_ASSETS",
	"VIEW_TEMPLATES", "VIEW_INSIGHTS", "MANAGE_USERS", "MANAGE_BILLING", "MESSAGING",
}

var taskSet = func() map[string]bool {
	m := make(map[string]bool, len(Tasks))
	for _, t := range Tasks {
		m[t] = true
	}
	return m
}()

// ValidTask reports whether t is one of Tasks.
func ValidTask(t string) bool { return taskSet[t] }

// ParseTasks parses a comma-separated task list such as "MANAGE,DEVELOP".
// Blanks around names are ignored; duplicates are dropped; the result keeps
// the input's order.
func ParseTasks(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return normalizeTasks(out)
}

func normalizeTasks(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New("no task given")
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, t := range in {
		if !ValidTask(t) {
			return nil, fmt.Errorf("unknown task %q (want one of %s)", clip(t, 40), strings.Join(Tasks, ", "))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// Shared is the waba.shared input event. Only WabaID is required.
type Shared struct {
	ID         string   `json:"id,omitempty"`
	WabaID     string   `json:"waba_id"`
	BusinessID string   `json:"business_id,omitempty"`
	Tasks      []string `json:"tasks,omitempty"`
	Source     string   `json:"source,omitempty"`
	OccurredAt string   `json:"occurred_at,omitempty"`
	// OwnerBusinessID is the customer's business portfolio that owns the
	// WABA, when the publisher knows it (the webhook gateway does). The
	// worker does not need it, and Decode leaves it empty.
	OwnerBusinessID string `json:"owner_business_id,omitempty"`
}

// InvalidError says why an input is not a valid waba.shared event.
type InvalidError struct {
	Reason string
}

func (e *InvalidError) Error() string { return "invalid event: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// Decode parses and validates a waba.shared payload. On failure it returns
// an *InvalidError and, as far as the payload allowed, the fields it read
// (so a failed event can still name the WABA).
func Decode(data []byte) (Shared, error) { return decode(data, true) }

// decode is Decode; quick false reads every payload the slow way (tests
// compare the two).
func decode(data []byte, quick bool) (Shared, error) {
	var ev Shared
	if len(data) > MaxPayload {
		return ev, invalid("payload is %d bytes, over the %d-byte limit", len(data), MaxPayload)
	}
	if !utf8.Valid(data) {
		return ev, invalid("payload is not valid UTF-8")
	}
	has, err := decodeFields(data, &ev, quick)
	if err != nil {
		return ev, err
	}

	switch {
	case ev.WabaID == "" && !has.wabaID:
		return ev, invalid("waba_id is required")
	case !IsGraphID(ev.WabaID):
		return ev, invalid("waba_id %q is not 1-32 digits", clip(ev.WabaID, 40))
	case has.businessID && !IsGraphID(ev.BusinessID):
		return ev, invalid("business_id %q is not 1-32 digits", clip(ev.BusinessID, 40))
	case has.id && !ValidID(ev.ID):
		return ev, invalid("id %q must be 1-128 printable ASCII characters without spaces", clip(ev.ID, 40))
	case len(ev.Source) > 256:
		return ev, invalid("source is longer than 256 characters")
	}
	if has.occurredAt {
		if !isDateTime(ev.OccurredAt) {
			return ev, invalid("occurred_at %q is not an RFC 3339 time", clip(ev.OccurredAt, 40))
		}
	}
	return ev, nil
}

// present says which of the event's fields the payload has.
type present struct{ wabaID, id, businessID, occurredAt bool }

// decodeFields reads the known fields of data into ev. An error is the
// *InvalidError of a payload that is not a JSON object or has a field of
// the wrong type; it names every such field.
func decodeFields(data []byte, ev *Shared, quick bool) (present, error) {
	if quick {
		if has, ok := decodeQuick(data, ev); ok {
			return has, nil
		}
	}
	*ev = Shared{}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return present{}, invalid("payload is not a JSON object: %s", jsonProblem(err))
	}
	if raw == nil {
		return present{}, invalid("payload is not a JSON object: null")
	}
	// Read every known field first so that the error names the WABA when it can.
	var errs []string
	str := func(name string, dst *string) {
		v, ok := raw[name]
		if !ok {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			*dst = ""
			errs = append(errs, fmt.Sprintf("%s must be a string, got %s", name, jsonKind(v)))
		}
	}
	str("waba_id", &ev.WabaID)
	str("id", &ev.ID)
	str("business_id", &ev.BusinessID)
	str("source", &ev.Source)
	str("occurred_at", &ev.OccurredAt)
	if v, ok := raw["tasks"]; ok {
		var tasks []string
		if err := json.Unmarshal(v, &tasks); err != nil || tasks == nil {
			errs = append(errs, fmt.Sprintf("tasks must be an array of strings, got %s", jsonKind(v)))
		} else if norm, err := normalizeTasks(tasks); err != nil {
			errs = append(errs, "tasks: "+err.Error())
		} else {
			ev.Tasks = norm
		}
	}
	has := present{wabaID: raw["waba_id"] != nil, id: raw["id"] != nil, businessID: raw["business_id"] != nil, occurredAt: raw["occurred_at"] != nil}
	if len(errs) > 0 {
		return has, invalid("%s", strings.Join(errs, "; "))
	}
	return has, nil
}

// quickShared is the event as decodeQuick reads it: a nil field is absent.
type quickShared struct {
	ID         *string   `json:"id"`
	WabaID     *string   `json:"waba_id"`
	BusinessID *string   `json:"business_id"`
	Tasks      *[]string `json:"tasks"`
	Source     *string   `json:"source"`
	OccurredAt *string   `json:"occurred_at"`
}

// decodeQuick is decodeFields in one pass over the payload (segmentio's
// json, names matched exactly as the map above matches them), for the
// payloads it reads the same: ok is false, and the slow path decides, for
// one that does not decode, mentions null anywhere (a null field would
// look absent), or has tasks that do not normalize. TestQuickDecodeAgrees
// and FuzzQuickDecode hold the two paths to one answer.
func decodeQuick(data []byte, ev *Shared) (present, bool) {
	if bytes.Contains(data, []byte("null")) {
		return present{}, false
	}
	var q quickShared
	if rest, err := segjson.Parse(data, &q, segjson.DontMatchCaseInsensitiveStructFields); err != nil || len(bytes.TrimSpace(rest)) > 0 {
		return present{}, false
	}
	if q.Tasks != nil {
		norm, err := normalizeTasks(*q.Tasks)
		if err != nil {
			return present{}, false
		}
		ev.Tasks = norm
	}
	set := func(p *string, dst *string) bool {
		if p != nil {
			*dst = *p
		}
		return p != nil
	}
	has := present{
		wabaID:     set(q.WabaID, &ev.WabaID),
		id:         set(q.ID, &ev.ID),
		businessID: set(q.BusinessID, &ev.BusinessID),
		occurredAt: set(q.OccurredAt, &ev.OccurredAt),
	}
	set(q.Source, &ev.Source)
	return has, true
}

// isDateTime reports whether s is an RFC 3339 date-time, as JSON Schema's
// date-time format reads it (Go's parser is more lenient): the shape
// 2006-01-02T15:04:05[.frac](Z|±07:00), T and Z in either case, checked by
// hand (a sixth of an event's decoding went to the regexp it replaces), then
// the values by time.Parse.
func isDateTime(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) <= len(head) || !fits(s[:len(head)], head) {
		return false
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest != "Z" && rest != "z" && !fits(rest, "+dd:dd") {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	return err == nil
}

// fits reports whether s has shape's length and, byte by byte, its
// characters: d is a digit, T is T or t, + is + or -, others stand for
// themselves.
func fits(s, shape string) bool {
	if len(s) != len(shape) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch shape[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return false
			}
		case '+':
			if c != '+' && c != '-' {
				return false
			}
		default:
			if c != shape[i] {
				return false
			}
		}
	}
	return true
}

// IsGraphID reports whether s is a Graph object id: 1 to 32 ASCII digits.
func IsGraphID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidID reports whether s can serve as an event id: it becomes part of a
// Nats-Msg-Id header, so 1-128 printable ASCII characters without spaces.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// jsonProblem describes a json error without echoing the payload.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		return "got " + typ.Value
	}
	return err.Error()
}

func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// EventID picks the id of an input: the payload's id, else the Nats-Msg-Id
// header, else "seq-<stream sequence>". An unusable header is skipped.
func EventID(payloadID, msgID string, streamSeq uint64) string {
	switch {
	case ValidID(payloadID):
		return payloadID
	case ValidID(msgID):
		return msgID
	}
	return "seq-" + strconv.FormatUint(streamSeq, 10)
}

// PeekWabaID returns the waba_id of a payload when it is a Graph id, else
// "": cheaply, without validating the rest (the consumer's lease key, read
// before the event is handled).
func PeekWabaID(data []byte) string {
	if len(data) > MaxPayload {
		return ""
	}
	var v struct {
		WabaID string `json:"waba_id"`
	}
	if rest, err := segjson.Parse(data, &v, segjson.DontMatchCaseInsensitiveStructFields); err != nil || len(bytes.TrimSpace(rest)) > 0 || !IsGraphID(v.WabaID) {
		return ""
	}
	return v.WabaID
}
