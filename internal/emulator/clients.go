package emulator

import (
	"net/http"
	"sort"
	"strings"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// The edge of the WABAs shared with a business.
const edgeClientWABAs = "client_whatsapp_business_accounts"

// GET /{business-id}/client_whatsapp_business_accounts
//
// The WABAs shared with the business (Share, AddWABA, the seed), ordered by
// id so that cursors stay valid while the world does not change; a WABA
// shared or unshared while a client pages moves the offsets, as Meta's
// listings may. fields is honoured leniently: without it, or when it names
// "name", each entry has id and name (name omitted when the WABA has none);
// fields that the emulator does not model are ignored, not refused. Any
// token of the business may list; another business's id, or an unknown
// one, answers (#100) subcode 33 like Meta; a WABA id answers "nonexisting
// field".
func (s *Server) listClientWABAs(x *exchange) *response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.businesses[x.object]
	if b == nil || b.id != x.user.business {
		return s.noSuchEdge(x)
	}
	ids := make([]string, 0, 64)
	for id, w := range s.wabas {
		if w.shared[b.id] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) { // numeric order for digit strings
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
	pg, resp := s.paginate(x, len(ids))
	if resp != nil {
		return resp
	}
	withName := wantsField(x.form.Get("fields"), "name")
	data := make([]graph.ClientWABA, 0, pg.hi-pg.lo)
	for _, id := range ids[pg.lo:pg.hi] {
		e := graph.ClientWABA{ID: id}
		if withName {
			e.Name = s.wabas[id].name
		}
		data = append(data, e)
	}
	return jsonResponse(http.StatusOK, listBody[graph.ClientWABA]{Data: data, Paging: pg.paging})
}

// wantsField reports whether a fields parameter ("id,name", with optional
// blanks) asks for field; an absent or empty one asks for the defaults (id
// and name).
func wantsField(fields, field string) bool {
	if strings.TrimSpace(fields) == "" {
		return true
	}
	for _, f := range strings.Split(fields, ",") {
		if strings.TrimSpace(f) == field {
			return true
		}
	}
	return false
}
