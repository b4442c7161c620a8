package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/graph"
)

var traceRE = regexp.MustCompile(`^A[A-Za-z0-9]{22}$`)

func TestListSystemUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := b.get(t, "/"+bizID+"/system_users", readTok, nil)
	var p systemUsersPage
	r.decode(t, &p)
	want := []graph.SystemUser{
		{ID: adminID, Name: "waba-worker", Role: RoleAdmin},
		{ID: readerID, Name: "reader", Role: RoleEmployee},
	}
	if !slices.Equal(p.Data, want) {
		t.Fatalf("data = %+v, want %+v", p.Data, want)
	}
	if p.Paging == nil || p.Paging.Next != "" || p.Paging.Cursors.After == "" || p.Paging.Cursors.Before == "" {
		t.Fatalf("one page: want cursors and no next, got %+v", p.Paging)
	}
	if got := r.header.Get("facebook-api-version"); got != ver {
		t.Errorf("facebook-api-version = %q, want %q", got, ver)
	}
	if !traceRE.MatchString(r.header.Get("x-fb-trace-id")) {
		t.Errorf("x-fb-trace-id = %q", r.header.Get("x-fb-trace-id"))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var app graph.AppUsage
	if err := json.Unmarshal([]byte(r.header.Get("X-App-Usage")), &app); err != nil {
		t.Errorf("X-App-Usage %q: %v", r.header.Get("X-App-Usage"), err)
	}
	var buc map[string][]graph.BusinessUseCaseUsage
	if err := json.Unmarshal([]byte(r.header.Get("X-Business-Use-Case-Usage")), &buc); err != nil || len(buc[bizID]) != 1 {
		t.Errorf("X-Business-Use-Case-Usage %q: %v", r.header.Get("X-Business-Use-Case-Usage"), err)
	}
}

func TestListSystemUsersUnknownBusiness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, id := range []string{"999999", otherBizID} { // unknown; another business's
		r := b.get(t, "/"+id+"/system_users", adminTok, nil)
		e := r.wantError(t, http.StatusBadRequest, 100, 33, "GraphMethodException")
		want := "Unsupported get request. Object with ID '" + id + "' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
		if e.Message != want {
			t.Errorf("message = %q", e.Message)
		}
		if e.IsTransient || !traceRE.MatchString(e.TraceID) {
			t.Errorf("is_transient %v, fbtrace_id %q", e.IsTransient, e.TraceID)
		}
	}
}

func TestListAssignedUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.get(t, "/"+wabaB+"/assigned_users", readTok, url.Values{"business": {bizID}})
	var p assignedPage
	r.decode(t, &p)
	if len(p.Data) != 1 {
		t.Fatalf("data = %+v", p.Data)
	}
	u := p.Data[0]
	if u.ID != adminID || u.Name != "waba-worker" || !slices.Equal(u.Tasks, []string{"MANAGE"}) {
		t.Fatalf("user = %+v", u)
	}
	if !slices.Equal(u.PermittedTasks, ValidTasks()) {
		t.Errorf("MANAGE permits every task, got %v", u.PermittedTasks)
	}

	r = b.get(t, "/"+wabaA+"/assigned_users", readTok, url.Values{"business": {bizID}})
	if string(r.body) != `{"data":[]}` {
		t.Errorf("empty edge = %s, want {\"data\":[]}", r.body)
	}
}

func TestAssignedUsersBusinessRequired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.get(t, "/"+wabaA+"/assigned_users", adminTok, nil)
	e := r.wantError(t, http.StatusBadRequest, 100, 0, "")
	if e.Message != "(#100) The parameter business is required" {
		t.Errorf("message = %q", e.Message)
	}
}

func TestAssignedUsersUnknownOrNotShared(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, waba, business string
	}{
		{"unknown WABA", "123456789", bizID},
		{"WABA of another business", otherWABA, bizID},
		{"business param of another business", wabaA, otherBizID},
	} {
		r := b.get(t, "/"+tc.waba+"/assigned_users", adminTok, url.Values{"business": {tc.business}})
		e := r.wantError(t, http.StatusBadRequest, 100, 33, "GraphMethodException")
		if !strings.HasPrefix(e.Message, "Unsupported get request. Object with ID '"+tc.waba+"' does not exist") {
			t.Errorf("%s: message = %q", tc.name, e.Message)
		}
	}
	// A POST on a WABA not shared with the token's business.
	r := b.assign(t, otherWABA, adminTok, adminID, `["MANAGE"]`)
	e := r.wantError(t, http.StatusBadRequest, 100, 33, "GraphMethodException")
	if !strings.HasPrefix(e.Message, "Unsupported post request.") {
		t.Errorf("message = %q", e.Message)
	}
}

func TestAssignUser(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`)
	if r.status != http.StatusOK || string(r.body) != `{"success":true}` {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	if got := b.assigned(t, wabaA); !slices.Equal(got[adminID], []string{"MANAGE"}) {
		t.Fatalf("after POST: %v", got)
	}

	// The POST replaces the user's tasks; it does not add to them.
	b.assign(t, wabaA, adminTok, adminID, `["DEVELOP","VIEW_COST"]`)
	if got := b.assigned(t, wabaA); !slices.Equal(got[adminID], []string{"DEVELOP", "VIEW_COST"}) {
		t.Fatalf("after second POST: %v", got)
	}

	// Meta's legacy single-quoted form, duplicates, any order: stored in
	// canonical order.
	r = b.assign(t, wabaA, adminTok, readerID, `['VIEW_TEMPLATES','MANAGE_TEMPLATES','MANAGE_TEMPLATES']`)
	if r.status != http.StatusOK {
		t.Fatalf("legacy form: %d %s", r.status, r.body)
	}
	want := map[string][]string{adminID: {"DEVELOP", "VIEW_COST"}, readerID: {"MANAGE_TEMPLATES", "VIEW_TEMPLATES"}}
	got := b.srv.Assignments(wabaA)
	if len(got) != 2 || !slices.Equal(got[adminID], want[adminID]) || !slices.Equal(got[readerID], want[readerID]) {
		t.Fatalf("Assignments = %v, want %v", got, want)
	}
}

func TestAssignUserJSONBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hr, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL()+"/"+ver+"/"+wabaA+"/assigned_users",
		strings.NewReader(`{"user":"`+adminID+`","tasks":["MANAGE"]}`))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := b.client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !slices.Equal(b.srv.Assignments(wabaA)[adminID], []string{"MANAGE"}) {
		t.Fatalf("JSON body: %d, %v", resp.StatusCode, b.srv.Assignments(wabaA))
	}
	if rq := b.srv.Requests()[0]; rq.ContentType != "application/json" || rq.Form.Get("tasks") != `["MANAGE"]` {
		t.Errorf("record: %+v", rq)
	}
}

func TestAssignUserValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := "{MANAGE, DEVELOP, MANAGE_TEMPLATES, MANAGE_PHONE, VIEW_COST, MANAGE_EXTENSIONS, VIEW_PHONE_ASSETS, MANAGE_PHONE_ASSETS, VIEW_TEMPLATES, VIEW_INSIGHTS, MANAGE_USERS, MANAGE_BILLING, MESSAGING}"
	for _, tc := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"unknown task", url.Values{"user": {adminID}, "tasks": {`["FOO"]`}},
			`(#100) Param tasks[0] must be one of ` + all + ` - got "FOO"`},
		{"second task unknown", url.Values{"user": {adminID}, "tasks": {`["MANAGE","manage"]`}},
			`(#100) Param tasks[1] must be one of ` + all + ` - got "manage"`},
		{"not an array", url.Values{"user": {adminID}, "tasks": {"MANAGE"}}, "(#100) Param tasks must be an array."},
		{"empty array", url.Values{"user": {adminID}, "tasks": {"[]"}}, "(#100) Param tasks must be a non-empty array"},
		{"no tasks", url.Values{"user": {adminID}}, "(#100) The parameter tasks is required"},
		{"no user", url.Values{"tasks": {`["MANAGE"]`}}, "(#100) The parameter user is required"},
		{"user of another business", url.Values{"user": {otherAdminID}, "tasks": {`["MANAGE"]`}},
			"(#100) Param user must be the ID of a system user or business user of business " + bizID},
		{"unknown user", url.Values{"user": {"42"}, "tasks": {`["MANAGE"]`}},
			"(#100) Param user must be the ID of a system user or business user of business " + bizID},
	} {
		r := b.post(t, "/"+wabaA+"/assigned_users", adminTok, tc.form)
		e := r.wantError(t, http.StatusBadRequest, 100, 0, "OAuthException")
		if e.Message != tc.msg {
			t.Errorf("%s: message = %q, want %q", tc.name, e.Message, tc.msg)
		}
	}
	if got := b.srv.Assignments(wabaA); len(got) != 0 {
		t.Fatalf("refused POSTs assigned: %v", got)
	}
}

func TestAssignUserNeedsAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.assign(t, wabaA, readTok, readerID, `["MANAGE"]`)
	e := r.wantError(t, http.StatusForbidden, 200, 0, "OAuthException")
	if e.Message != "(#200) Permissions error" {
		t.Errorf("message = %q", e.Message)
	}
	if len(b.srv.Assignments(wabaA)) != 0 {
		t.Fatal("an EMPLOYEE's POST assigned")
	}
}

func TestUnassignAndReadNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.must(t, req{method: http.MethodDelete, path: "/" + wabaB + "/assigned_users", token: adminTok, query: url.Values{"user": {adminID}}})
	if r.status != http.StatusOK || len(b.srv.Assignments(wabaB)) != 0 {
		t.Fatalf("DELETE = %d %s, left %v", r.status, r.body, b.srv.Assignments(wabaB))
	}
	if b.srv.Count(OpUnassignUser) != 1 {
		t.Errorf("Count(OpUnassignUser) = %d", b.srv.Count(OpUnassignUser))
	}

	r = b.get(t, "/"+wabaA, readTok, nil)
	if r.status != http.StatusOK || string(r.body) != `{"id":"`+wabaA+`","name":"Customer A"}` {
		t.Fatalf("GET node = %d %s", r.status, r.body)
	}
	b.get(t, "/"+otherWABA, readTok, nil).wantError(t, http.StatusBadRequest, 100, 33, "GraphMethodException")

	e := b.get(t, "/"+wabaA+"/system_users", readTok, nil).wantError(t, http.StatusBadRequest, 100, 0, "OAuthException")
	if e.Message != "(#100) Tried accessing nonexisting field (system_users) on node type (WhatsAppBusinessAccount)" {
		t.Errorf("message = %q", e.Message)
	}
	e = b.get(t, "/"+bizID+"/system_users/extra", readTok, nil).wantError(t, http.StatusBadRequest, 2500, 0, "OAuthException")
	if e.Message != "Unknown path components: /extra" {
		t.Errorf("message = %q", e.Message)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{"/graph/" + bizID + "/system_users", "/" + bizID + "/system_users", "/v25/" + bizID + "/system_users"} {
		r := b.must(t, req{method: http.MethodGet, path: b.srv.URL() + path, token: adminTok})
		e := r.wantError(t, http.StatusBadRequest, 2500, 0, "OAuthException")
		if !strings.HasPrefix(e.Message, "Unknown path components: ") {
			t.Errorf("%s: message = %q", path, e.Message)
		}
		if r.header.Get("facebook-api-version") == "" {
			t.Errorf("%s: no facebook-api-version", path)
		}
	}

	if err := b.srv.SetOldestVersion("v21.0"); err != nil {
		t.Fatal(err)
	}
	for requested, served := range map[string]string{"v19.0": "v21.0", "v21.0": "v21.0", "v25.0": "v25.0"} {
		r := b.must(t, req{method: http.MethodGet, path: b.srv.URL() + "/" + requested + "/" + bizID + "/system_users", token: adminTok})
		if r.status != http.StatusOK || r.header.Get("facebook-api-version") != served {
			t.Errorf("%s: HTTP %d, served %q, want %q", requested, r.status, r.header.Get("facebook-api-version"), served)
		}
	}
	if err := b.srv.SetOldestVersion("21"); err == nil {
		t.Error("SetOldestVersion(\"21\") should fail")
	}
}
