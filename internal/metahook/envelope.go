package metahook

import (
	"encoding/json"
	"strconv"
	"time"
)

// Names Meta uses in account_update webhooks.
const (
	ObjectWhatsAppBusinessAccount = "whatsapp_business_account"
	FieldAccountUpdate            = "account_update"

	EventPartnerAdded          = "PARTNER_ADDED"
	EventPartnerAppInstalled   = "PARTNER_APP_INSTALLED"
	EventPartnerAppUninstalled = "PARTNER_APP_UNINSTALLED"
	EventPartnerRemoved        = "PARTNER_REMOVED"
	EventAccountOffboarded     = "ACCOUNT_OFFBOARDED"
	EventAccountReconnected    = "ACCOUNT_RECONNECTED"
	EventAccountDeleted        = "ACCOUNT_DELETED"
	EventAccountViolation      = "ACCOUNT_VIOLATION"
)

// Envelope is the body of a webhook delivery:
// {"object", "entry": [{"id", "time", "changes": [{"field", "value"}]}]}.
// Meta batches entries (up to 1,000 changes, 3 MB) into one delivery.
type Envelope struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one object's changes. Time is Unix seconds; WhatsApp's
// "messages" deliveries carry none (0 leaves it out).
type Entry struct {
	ID      string   `json:"id"`
	Time    int64    `json:"time,omitempty"`
	Changes []Change `json:"changes"`
}

// Change is one field's change; Value is its JSON.
type Change struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

// Marshal returns the envelope's JSON, as it is signed and sent.
func (e Envelope) Marshal() ([]byte, error) { return json.Marshal(e) }

// Add appends the entries of others to e (Meta's batching) and returns e.
func (e Envelope) Add(others ...Envelope) Envelope {
	for _, o := range others {
		e.Entry = append(e.Entry, o.Entry...)
	}
	return e
}

// AccountUpdate is the value of an account_update change, with the parts
// the partner events carry.
type AccountUpdate struct {
	Event             string             `json:"event"`
	WABAInfo          *WABAInfo          `json:"waba_info,omitempty"`
	DisconnectionInfo *DisconnectionInfo `json:"disconnection_info,omitempty"`
}

// WABAInfo names the customer's WABA in PARTNER_* events.
type WABAInfo struct {
	WabaID          string `json:"waba_id"`
	OwnerBusinessID string `json:"owner_business_id,omitempty"`
	// PartnerAppID is sent with PARTNER_APP_INSTALLED and _UNINSTALLED.
	PartnerAppID string `json:"partner_app_id,omitempty"`
	// SolutionID and SolutionPartnerBusinessIDs are sent when the customer
	// onboarded through a multi-partner solution.
	SolutionID                 string   `json:"solution_id,omitempty"`
	SolutionPartnerBusinessIDs []string `json:"solution_partner_business_ids,omitempty"`
}

// DisconnectionInfo says why a coexistence customer was disconnected
// (PARTNER_REMOVED only, and only in some cases).
type DisconnectionInfo struct {
	Reason      string `json:"reason"`       // BUSINESS_DOWNGRADE, PRIMARY_INACTIVITY, COMPANION_INACTIVITY
	InitiatedBy string `json:"initiated_by"` // USER or SYSTEM
}

// AccountUpdateEnvelope returns a delivery with one account_update change
// about entryID at t.
func AccountUpdateEnvelope(entryID string, t time.Time, v AccountUpdate) Envelope {
	value, _ := json.Marshal(v) // cannot fail: strings and string slices only
	return Envelope{
		Object: ObjectWhatsAppBusinessAccount,
		Entry: []Entry{{
			ID:      entryID,
			Time:    t.Unix(),
			Changes: []Change{{Field: FieldAccountUpdate, Value: value}},
		}},
	}
}

// PartnerEvent returns a PARTNER_* delivery (PARTNER_ADDED, _REMOVED,
// _APP_INSTALLED, _APP_UNINSTALLED) as Meta sends it to the partner: entry.id
// is the partner business the WABA was shared with, waba_info names the
// customer's WABA and business portfolio.
func PartnerEvent(event, partnerBusinessID string, info WABAInfo, t time.Time) Envelope {
	return AccountUpdateEnvelope(partnerBusinessID, t, AccountUpdate{Event: event, WABAInfo: &info})
}

// PartnerAdded is the delivery Meta sends when a customer shares wabaID
// (owned by ownerBusinessID) with the partner through Embedded Signup.
func PartnerAdded(partnerBusinessID, wabaID, ownerBusinessID string, t time.Time) Envelope {
	return PartnerEvent(EventPartnerAdded, partnerBusinessID, WABAInfo{WabaID: wabaID, OwnerBusinessID: ownerBusinessID}, t)
}

// PartnerRemoved is the delivery Meta sends when a customer unshares wabaID.
func PartnerRemoved(partnerBusinessID, wabaID, ownerBusinessID string, t time.Time) Envelope {
	return PartnerEvent(EventPartnerRemoved, partnerBusinessID, WABAInfo{WabaID: wabaID, OwnerBusinessID: ownerBusinessID}, t)
}

// WABAEvent returns an account_update delivery about the WABA itself, with
// no waba_info: entry.id is the WABA (ACCOUNT_DELETED, ACCOUNT_OFFBOARDED,
// ACCOUNT_RECONNECTED, and some PARTNER_REMOVED deliveries).
func WABAEvent(event, wabaID string, t time.Time) Envelope {
	return AccountUpdateEnvelope(wabaID, t, AccountUpdate{Event: event})
}

// Messages returns a delivery of n "messages" changes (inbound text
// messages sent at t) for wabaID, numbered from 1: the bulk of what a
// callback URL receives, for load tests. Like Meta's, its entry has no time.
func Messages(wabaID, phoneNumberID string, n int, t time.Time) Envelope {
	changes := make([]Change, n)
	for i := range changes {
		v, _ := json.Marshal(map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]string{"display_phone_number": "15550000000", "phone_number_id": phoneNumberID},
			"messages": []map[string]any{{
				"from": "15551234567", "id": "wamid.test-" + strconv.Itoa(i+1), "timestamp": strconv.FormatInt(t.Unix(), 10),
				"type": "text", "text": map[string]string{"body": "message " + strconv.Itoa(i+1)},
			}},
		})
		changes[i] = Change{Field: "messages", Value: v}
	}
	return Envelope{Object: ObjectWhatsAppBusinessAccount, Entry: []Entry{{ID: wabaID, Changes: changes}}}
}
