package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/metahook"
)

// Mapped is what a change means to the worker, beyond its raw message.
type Mapped struct {
	// Event is the account_update event ("" for other fields).
	Event string
	// Result is ResultRaw, ResultShared, ResultUnshared or ResultUnmapped.
	Result string
	// Shared is set when Result is ResultShared, Unshared when it is
	// ResultUnshared.
	Shared   *events.Shared
	Unshared *events.Unshared
	// Problem says why an event the gateway maps could not be (ResultUnmapped).
	Problem string
}

// shareEvents become waba.shared; unshareEvents become waba.unshared.
var (
	shareEvents = map[string]bool{
		metahook.EventPartnerAdded:        true,
		metahook.EventPartnerAppInstalled: true,
	}
	unshareEvents = map[string]bool{
		metahook.EventPartnerRemoved:        true,
		metahook.EventPartnerAppUninstalled: true,
		metahook.EventAccountOffboarded:     true,
		metahook.EventAccountDeleted:        true,
	}
)

// Map says what c means to the worker, per the SPEC:
//
//   - account_update PARTNER_ADDED or PARTNER_APP_INSTALLED: a waba.shared
//     with waba_id = waba_info.waba_id, business_id = entry.id (the partner
//     business the WABA was shared with), owner_business_id =
//     waba_info.owner_business_id, source "webhook", occurred_at = entry.time
//     and id = c.MsgID();
//   - account_update PARTNER_REMOVED, PARTNER_APP_UNINSTALLED,
//     ACCOUNT_OFFBOARDED or ACCOUNT_DELETED: a waba.unshared with waba_id =
//     waba_info.waba_id, or entry.id when waba_info names no WABA, and reason
//     = the event;
//   - anything else: raw only.
//
// Ids must be 1-32 digits (strings, or leniently numbers); an id that is
// not leaves the change unmapped (Problem says why), and a business id that
// is not is left out. The object must be whatsapp_business_account or
// absent.
func Map(c Change) Mapped {
	if c.Field != metahook.FieldAccountUpdate || (c.Object != "" && c.Object != metahook.ObjectWhatsAppBusinessAccount) {
		return Mapped{Result: ResultRaw}
	}
	var v struct {
		Event    json.RawMessage `json:"event"`
		WABAInfo json.RawMessage `json:"waba_info"`
	}
	if kind(c.Value) != '{' || json.Unmarshal(c.Value, &v) != nil {
		return Mapped{Result: ResultRaw}
	}
	event := strings.ToUpper(strings.TrimSpace(str(v.Event)))
	m := Mapped{Event: event, Result: ResultRaw}
	if !shareEvents[event] && !unshareEvents[event] {
		return m
	}
	var info struct {
		WabaID          json.RawMessage `json:"waba_id"`
		OwnerBusinessID json.RawMessage `json:"owner_business_id"`
	}
	hasInfo := kind(v.WABAInfo) == '{' && json.Unmarshal(v.WABAInfo, &info) == nil
	hasWaba := hasInfo && kind(info.WabaID) != 0 && kind(info.WabaID) != 'n'
	wabaID, owner := id(info.WabaID), graphID(id(info.OwnerBusinessID))
	var occurred string
	if t, ok := c.OccurredAt(); ok {
		occurred = t.Format(time.RFC3339)
	}
	msgID := c.MsgID()

	if shareEvents[event] {
		switch {
		case !hasWaba:
			return m.unmapped("no waba_info.waba_id")
		case !events.IsGraphID(wabaID):
			return m.unmapped("waba_info.waba_id is not 1-32 digits")
		}
		m.Result = ResultShared
		m.Shared = &events.Shared{ID: msgID, WabaID: wabaID, BusinessID: graphID(c.EntryID),
			OwnerBusinessID: owner, Source: Source, OccurredAt: occurred}
		return m
	}
	u := &events.Unshared{ID: msgID, OwnerBusinessID: owner, Reason: event, Source: Source, OccurredAt: occurred}
	switch {
	case hasWaba && events.IsGraphID(wabaID):
		u.WabaID, u.BusinessID = wabaID, graphID(c.EntryID)
	case hasWaba:
		// entry.id is then the partner business, not the WABA: guessing
		// would unshare the wrong id.
		return m.unmapped("waba_info.waba_id is not 1-32 digits")
	case events.IsGraphID(c.EntryID):
		u.WabaID = c.EntryID // without waba_info, the entry is the WABA
	default:
		return m.unmapped("no waba_info.waba_id and entry.id is not 1-32 digits")
	}
	m.Result, m.Unshared = ResultUnshared, u
	return m
}

func (m Mapped) unmapped(problem string) Mapped {
	m.Result, m.Problem = ResultUnmapped, problem
	return m
}

// graphID is s when it is a Graph id, else "".
func graphID(s string) string {
	if events.IsGraphID(s) {
		return s
	}
	return ""
}
