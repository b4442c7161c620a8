package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/wabaworker/waba-worker/internal/graph"
)

type user struct {
	id, name, role string
	business       string
}

type business struct {
	id, name   string
	index      int     // position in the seed, for filler ids
	users      []*user // fillers first, then system users in order
	fillers    int
	fillerTask []string
}

type waba struct {
	id, name string
	shared   map[string]bool // business ids
	order    []string        // user ids in order of first assignment
	assigned map[string]*assignment
}

// assignment is a user's tasks on a WABA over time: each version becomes
// visible to GET at its time (see SetVisibilityDelay). Empty tasks mean the
// user was removed.
type assignment struct {
	versions []taskVersion
}

type taskVersion struct {
	tasks []string
	at    time.Time
}

func (a *assignment) visible(now time.Time) []string {
	for i := len(a.versions) - 1; i >= 0; i-- {
		if !now.Before(a.versions[i].at) {
			return a.versions[i].tasks
		}
	}
	return nil
}

func (a *assignment) latest() []string {
	if len(a.versions) == 0 {
		return nil
	}
	return a.versions[len(a.versions)-1].tasks
}

// set records tasks, visible from at; versions superseded by a visible one
// are dropped.
func (a *assignment) set(tasks []string, now, at time.Time) {
	keep := 0
	for i := len(a.versions) - 1; i >= 0; i-- {
		if !now.Before(a.versions[i].at) {
			keep = i
			break
		}
	}
	a.versions = append(a.versions[keep:], taskVersion{tasks: tasks, at: at})
}

type tokenStatus int

const (
	tokenActive tokenStatus = iota
	tokenRevoked
	tokenExpired
)

type token struct {
	userID    string
	status    tokenStatus
	expiredAt time.Time
}

// load builds the world from a validated seed.
func (s *Server) load(seed Seed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sb := range seed.Businesses {
		b := &business{id: sb.ID, name: sb.Name, index: i, fillers: sb.OtherUsers, fillerTask: []string{"MANAGE"}}
		s.businesses[b.id] = b
		for k := range sb.OtherUsers {
			u := &user{id: fillerID(i, k), name: fmt.Sprintf("Other User %d", k+1), role: RoleEmployee, business: b.id}
			b.users = append(b.users, u)
			s.users[u.id] = u
		}
		for _, su := range sb.SystemUsers {
			u := &user{id: su.ID, name: su.Name, role: su.Role, business: b.id}
			b.users = append(b.users, u)
			s.users[u.id] = u
			if su.Token != "" {
				s.tokens[su.Token] = &token{userID: u.id}
			}
		}
	}
	now := time.Now()
	for _, sb := range seed.Businesses {
		for _, sw := range sb.WABAs {
			w := s.shareLocked(sb.ID, sw.ID, now)
			if w.name == "" {
				w.name = sw.Name
			}
			ids := make([]string, 0, len(sw.Assigned))
			for uid := range sw.Assigned {
				ids = append(ids, uid)
			}
			sort.Strings(ids)
			for _, uid := range ids {
				tasks, _ := normalizeTasks(sw.Assigned[uid])
				w.setLocked(uid, tasks, now, now)
			}
		}
	}
	return nil
}

// shareLocked shares WABA id (created when new) with business bid, and
// assigns the business's filler users to it.
func (s *Server) shareLocked(bid, id string, now time.Time) *waba {
	w := s.wabas[id]
	if w == nil {
		w = &waba{id: id, shared: map[string]bool{}, assigned: map[string]*assignment{}}
		s.wabas[id] = w
	}
	if w.shared[bid] {
		return w
	}
	w.shared[bid] = true
	b := s.businesses[bid]
	for _, u := range b.users[:b.fillers] {
		w.setLocked(u.id, b.fillerTask, now, now)
	}
	return w
}

func (w *waba) setLocked(uid string, tasks []string, now, at time.Time) {
	a := w.assigned[uid]
	if a == nil {
		a = &assignment{}
		w.assigned[uid] = a
		w.order = append(w.order, uid)
	}
	a.set(tasks, now, at)
}

// nodeType names the node id as Meta does, "" when unknown or not
// visible to business bid.
func (s *Server) nodeType(id, bid string) string {
	if id == bid && s.businesses[id] != nil {
		return "Business"
	}
	if w := s.wabas[id]; w != nil && w.shared[bid] {
		return "WhatsAppBusinessAccount"
	}
	return ""
}

// GET /{id}
func (s *Server) readNode(x *exchange) *response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var id, name string
	switch s.nodeType(x.object, x.user.business) {
	case "Business":
		b := s.businesses[x.object]
		id, name = b.id, b.name
	case "WhatsAppBusinessAccount":
		w := s.wabas[x.object]
		id, name = w.id, w.name
	default:
		return x.unsupported(x.object)
	}
	return jsonResponse(http.StatusOK, struct {
		ID   string `json:"id"`
		Name string `json:"name,omitempty"`
	}{id, name})
}

type listBody[T any] struct {
	Data   []T     `json:"data"`
	Paging *paging `json:"paging,omitempty"`
}

// GET /{business-id}/system_users
func (s *Server) listSystemUsers(x *exchange) *response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.businesses[x.object]
	if b == nil || b.id != x.user.business {
		return s.noSuchEdge(x)
	}
	pg, resp := s.paginate(x, len(b.users))
	if resp != nil {
		return resp
	}
	data := make([]graph.SystemUser, 0, pg.hi-pg.lo)
	for _, u := range b.users[pg.lo:pg.hi] {
		data = append(data, graph.SystemUser{ID: u.id, Name: u.name, Role: u.role})
	}
	return jsonResponse(http.StatusOK, listBody[graph.SystemUser]{Data: data, Paging: pg.paging})
}

// GET /{waba-id}/assigned_users?business=...
func (s *Server) listAssignedUsers(x *exchange) *response {
	bid := x.form.Get("business")
	now := x.start
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := s.wabas[x.object]
	if w == nil || !w.shared[x.user.business] {
		return s.noSuchEdge(x)
	}
	if bid == "" {
		return x.invalidParam("(#100) The parameter business is required")
	}
	if bid != x.user.business || !w.shared[bid] {
		return x.unsupported(x.object)
	}
	type entry struct {
		u     *user
		tasks []string
	}
	var entries []entry
	for _, uid := range w.order {
		u := s.users[uid]
		if u == nil || u.business != bid {
			continue
		}
		if tasks := w.assigned[uid].visible(now); len(tasks) > 0 {
			entries = append(entries, entry{u, tasks})
		}
	}
	pg, resp := s.paginate(x, len(entries))
	if resp != nil {
		return resp
	}
	data := make([]graph.AssignedUser, 0, pg.hi-pg.lo)
	for _, e := range entries[pg.lo:pg.hi] {
		data = append(data, graph.AssignedUser{
			ID: e.u.id, Name: e.u.name, Tasks: e.tasks, PermittedTasks: permittedTasks(e.tasks),
		})
	}
	return jsonResponse(http.StatusOK, listBody[graph.AssignedUser]{Data: data, Paging: pg.paging})
}

var successBody = []byte(`{"success":true}`)

func success() *response {
	return &response{status: http.StatusOK, body: successBody, contentType: contentJSON, graphHeaders: true}
}

// POST /{waba-id}/assigned_users  user=<id>&tasks=["MANAGE"]
func (s *Server) assignUser(x *exchange) *response {
	now := x.start
	delay := time.Duration(s.visibilityDelay.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	w, resp := s.writableWABA(x)
	if resp != nil {
		return resp
	}
	uid := x.form.Get("user")
	if uid == "" {
		return x.invalidParam("(#100) The parameter user is required")
	}
	raw := x.form.Get("tasks")
	if raw == "" {
		return x.invalidParam("(#100) The parameter tasks is required")
	}
	tasks, msg := parseTasks(raw)
	if msg != "" {
		return x.invalidParam(msg)
	}
	if resp := s.checkMember(x, uid); resp != nil {
		return resp
	}
	if a := w.assigned[uid]; a != nil && s.alreadyAssigned.Load() && containsAll(a.latest(), tasks) {
		return x.invalidParam(msgAlreadyAssigned)
	}
	w.setLocked(uid, tasks, now, now.Add(delay))
	return success()
}

// DELETE /{waba-id}/assigned_users?user=<id>
func (s *Server) unassignUser(x *exchange) *response {
	now := x.start
	delay := time.Duration(s.visibilityDelay.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	w, resp := s.writableWABA(x)
	if resp != nil {
		return resp
	}
	uid := x.form.Get("user")
	if uid == "" {
		return x.invalidParam("(#100) The parameter user is required")
	}
	if resp := s.checkMember(x, uid); resp != nil {
		return resp
	}
	if a := w.assigned[uid]; a != nil && len(a.latest()) > 0 {
		w.setLocked(uid, nil, now, now.Add(delay))
	}
	return success()
}

// writableWABA resolves the WABA of a write and checks that the token's
// user is an admin of a business it is shared with.
func (s *Server) writableWABA(x *exchange) (*waba, *response) {
	w := s.wabas[x.object]
	if w == nil || !w.shared[x.user.business] {
		return nil, s.noSuchEdge(x)
	}
	if x.user.role != RoleAdmin {
		return nil, x.fail(http.StatusForbidden, 200, 0, typeOAuth, msgPermissions)
	}
	return w, nil
}

func (s *Server) checkMember(x *exchange, uid string) *response {
	if u := s.users[uid]; u == nil || u.business != x.user.business {
		return x.invalidParam(fmt.Sprintf("(#100) Param user must be the ID of a system user or business user of business %s", x.user.business))
	}
	return nil
}

// Assignments returns WABA wabaID's current assignments, user id -> tasks
// (in the order of ValidTasks), including those not yet visible to GET and the
// filler users'. nil for an unknown WABA.
func (s *Server) Assignments(wabaID string) map[string][]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := s.wabas[wabaID]
	if w == nil {
		return nil
	}
	out := make(map[string][]string, len(w.assigned))
	for uid, a := range w.assigned {
		if t := a.latest(); len(t) > 0 {
			out[uid] = slices.Clone(t)
		}
	}
	return out
}

// Assign sets user userID's tasks on WABA wabaID at once (visible now), as
// if an admin had done it earlier. The user must be a system user of a
// business the WABA is shared with.
func (s *Server) Assign(wabaID, userID string, tasks ...string) error {
	norm, msg := normalizeTasks(tasks)
	if msg != "" {
		return fmt.Errorf("emulator: Assign: %s", msg)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wabas[wabaID]
	if w == nil {
		return fmt.Errorf("emulator: Assign: unknown WABA %s", wabaID)
	}
	u := s.users[userID]
	if u == nil || !w.shared[u.business] {
		return fmt.Errorf("emulator: Assign: user %s is not a system user of a business WABA %s is shared with", userID, wabaID)
	}
	w.setLocked(userID, norm, now, now)
	return nil
}

// AddWABA creates WABA wabaID (when new) and shares it with business
// businessID; the business's filler users are assigned to it.
func (s *Server) AddWABA(businessID, wabaID string) error {
	if !isDigits(wabaID) {
		return fmt.Errorf("emulator: AddWABA: id %q must be digits", wabaID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.businesses[businessID] == nil {
		return fmt.Errorf("emulator: AddWABA: unknown business %s", businessID)
	}
	if s.businesses[wabaID] != nil || s.users[wabaID] != nil {
		return fmt.Errorf("emulator: AddWABA: id %s is a business or user id", wabaID)
	}
	s.shareLocked(businessID, wabaID, time.Now())
	return nil
}

// Share shares an existing WABA with business businessID.
func (s *Server) Share(businessID, wabaID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.businesses[businessID] == nil {
		return fmt.Errorf("emulator: Share: unknown business %s", businessID)
	}
	if s.wabas[wabaID] == nil {
		return fmt.Errorf("emulator: Share: unknown WABA %s", wabaID)
	}
	s.shareLocked(businessID, wabaID, time.Now())
	return nil
}

// Unshare stops sharing WABA wabaID with business businessID, as a
// customer removing its partner does: the business's users lose their
// assignments on it, and its reads and writes answer (#100) subcode 33.
func (s *Server) Unshare(businessID, wabaID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wabas[wabaID]
	if w == nil || !w.shared[businessID] {
		return fmt.Errorf("emulator: Unshare: WABA %s is not shared with business %s", wabaID, businessID)
	}
	delete(w.shared, businessID)
	order := w.order[:0]
	for _, uid := range w.order {
		if u := s.users[uid]; u != nil && u.business == businessID {
			delete(w.assigned, uid)
			continue
		}
		order = append(order, uid)
	}
	w.order = order
	return nil
}

// AddSystemUser adds a system user (and its token, when set) to a
// business; it is listed after the existing ones.
func (s *Server) AddSystemUser(businessID string, u SystemUser) error {
	if !isDigits(u.ID) || u.Name == "" || (u.Role != RoleAdmin && u.Role != RoleEmployee) {
		return fmt.Errorf("emulator: AddSystemUser: need digits id, a name and role ADMIN or EMPLOYEE")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.businesses[businessID]
	if b == nil {
		return fmt.Errorf("emulator: AddSystemUser: unknown business %s", businessID)
	}
	if s.users[u.ID] != nil || s.businesses[u.ID] != nil || s.wabas[u.ID] != nil {
		return fmt.Errorf("emulator: AddSystemUser: id %s is taken", u.ID)
	}
	if u.Token != "" && s.tokens[u.Token] != nil {
		return fmt.Errorf("emulator: AddSystemUser: token is taken")
	}
	nu := &user{id: u.ID, name: u.Name, role: u.Role, business: businessID}
	b.users = append(b.users, nu)
	s.users[nu.id] = nu
	if u.Token != "" {
		s.tokens[u.Token] = &token{userID: nu.id}
	}
	return nil
}

// AddToken makes tok a valid token of system user userID.
func (s *Server) AddToken(tok, userID string) error {
	if tok == "" {
		return fmt.Errorf("emulator: AddToken: empty token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[userID] == nil {
		return fmt.Errorf("emulator: AddToken: unknown user %s", userID)
	}
	s.tokens[tok] = &token{userID: userID}
	return nil
}

// RevokeToken makes tok answer code 190 until RestoreToken. Unknown tokens
// are ignored.
func (s *Server) RevokeToken(tok string) { s.setTokenStatus(tok, tokenRevoked) }

// ExpireToken makes tok answer code 190 subcode 463 (session expired) until
// RestoreToken.
func (s *Server) ExpireToken(tok string) { s.setTokenStatus(tok, tokenExpired) }

// RestoreToken makes a revoked or expired token valid again.
func (s *Server) RestoreToken(tok string) { s.setTokenStatus(tok, tokenActive) }

func (s *Server) setTokenStatus(tok string, st tokenStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil {
		t.status = st
		if st == tokenExpired {
			t.expiredAt = time.Now()
		}
	}
}

// SetAppSecret changes the app secret; "" stops requiring appsecret_proof.
func (s *Server) SetAppSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appSecret = secret
}
