package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Reasons of a waba.unshared event: the account_update webhook event that
// ended the share. Other values may appear (the field is Meta's event name).
const (
	ReasonPartnerRemoved        = "PARTNER_REMOVED"
	ReasonPartnerAppUninstalled = "PARTNER_APP_UNINSTALLED"
	ReasonAccountOffboarded     = "ACCOUNT_OFFBOARDED"
	ReasonAccountDeleted        = "ACCOUNT_DELETED"
)

// Unshared is the waba.unshared event: a WABA is no longer shared with the
// BSP, or no longer usable by it. The worker records it in its ledger and
// makes no Graph call. Only WabaID is required; publishers set the
// Nats-Msg-Id header to ID.
type Unshared struct {
	ID     string `json:"id,omitempty"`
	WabaID string `json:"waba_id"`
	// BusinessID is the partner business the WABA was shared with (entry.id
	// of the webhook), set only when the webhook named the WABA itself in
	// waba_info; without waba_info Meta's entry.id is the WABA.
	BusinessID      string `json:"business_id,omitempty"`
	OwnerBusinessID string `json:"owner_business_id,omitempty"`
	// Reason is the webhook event that ended the share, e.g. PARTNER_REMOVED.
	Reason     string `json:"reason,omitempty"`
	Source     string `json:"source,omitempty"`
	OccurredAt string `json:"occurred_at,omitempty"`
}

// Encode returns the event's JSON as it is published.
func (u Unshared) Encode() ([]byte, error) { return json.Marshal(u) }

// DecodeUnshared parses and validates a waba.unshared payload with the rules
// of Decode: at most MaxPayload bytes of UTF-8 JSON, waba_id 1-32 digits,
// business ids likewise, id usable as a message id, occurred_at RFC 3339.
// Unknown fields are ignored. On failure it returns an *InvalidError and the
// fields it could read.
func DecodeUnshared(data []byte) (Unshared, error) {
	var ev Unshared
	if len(data) > MaxPayload {
		return ev, invalid("payload is %d bytes, over the %d-byte limit", len(data), MaxPayload)
	}
	if !utf8.Valid(data) {
		return ev, invalid("payload is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return ev, invalid("payload is not a JSON object: %s", jsonProblem(err))
	}
	if raw == nil {
		return ev, invalid("payload is not a JSON object: null")
	}
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
	str("owner_business_id", &ev.OwnerBusinessID)
	str("reason", &ev.Reason)
	str("source", &ev.Source)
	str("occurred_at", &ev.OccurredAt)
	if len(errs) > 0 {
		return ev, invalid("%s", strings.Join(errs, "; "))
	}
	switch {
	case raw["waba_id"] == nil:
		return ev, invalid("waba_id is required")
	case !IsGraphID(ev.WabaID):
		return ev, invalid("waba_id %q is not 1-32 digits", clip(ev.WabaID, 40))
	case raw["business_id"] != nil && !IsGraphID(ev.BusinessID):
		return ev, invalid("business_id %q is not 1-32 digits", clip(ev.BusinessID, 40))
	case raw["owner_business_id"] != nil && !IsGraphID(ev.OwnerBusinessID):
		return ev, invalid("owner_business_id %q is not 1-32 digits", clip(ev.OwnerBusinessID, 40))
	case raw["id"] != nil && !ValidID(ev.ID):
		return ev, invalid("id %q must be 1-128 printable ASCII characters without spaces", clip(ev.ID, 40))
	case len(ev.Reason) > 256:
		return ev, invalid("reason is longer than 256 characters")
	case len(ev.Source) > 256:
		return ev, invalid("source is longer than 256 characters")
	case raw["occurred_at"] != nil && !isDateTime(ev.OccurredAt):
		return ev, invalid("occurred_at %q is not an RFC 3339 time", clip(ev.OccurredAt, 40))
	}
	return ev, nil
}
