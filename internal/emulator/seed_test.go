package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const seedFile = `{
  "app_secret": "shh",
  "businesses": [{
    "id": "100200300",
    "name": "BSP",
    "system_users": [
      {"id": "1972555232742222", "name": "waba-worker", "role": "ADMIN", "token": "t-admin"},
      {"id": "1972555232743333", "name": "reader", "role": "EMPLOYEE"}
    ],
    "wabas": [
      {"id": "102290129340398", "name": "A", "assigned": {"1972555232743333": ["VIEW_COST"]}},
      {"id": "102290129340399"}
    ],
    "other_users": 3
  }]
}`

func TestLoadSeed(t *testing.T) {
	t.Parallel()
	s, err := LoadSeed(strings.NewReader(seedFile))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Businesses[0]
	if s.AppSecret != "shh" || b.ID != "100200300" || b.OtherUsers != 3 || len(b.SystemUsers) != 2 ||
		b.SystemUsers[0].Token != "t-admin" || !slices.Equal(b.WABAs[0].Assigned["1972555232743333"], []string{"VIEW_COST"}) {
		t.Fatalf("seed = %+v", s)
	}
	if _, err := New(s); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSeedStrict(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"unknown field":        `{"businesses":[],"app_secrets":"x"}`,
		"unknown nested field": `{"businesses":[{"id":"1","system_users":[],"wabas":[{"id":"2","owner":"3"}]}]}`,
		"trailing data":        `{"businesses":[]} {}`,
		"not JSON":             `businesses: []`,
		"bad role":             `{"businesses":[{"id":"1","system_users":[{"id":"2","name":"n","role":"OWNER"}]}]}`,
		"no name":              `{"businesses":[{"id":"1","system_users":[{"id":"2","role":"ADMIN"}]}]}`,
		"id not digits":        `{"businesses":[{"id":"biz","system_users":[]}]}`,
		"duplicate user":       `{"businesses":[{"id":"1","system_users":[{"id":"2","name":"a","role":"ADMIN"},{"id":"2","name":"b","role":"ADMIN"}]}]}`,
		"duplicate token":      `{"businesses":[{"id":"1","system_users":[{"id":"2","name":"a","role":"ADMIN","token":"t"},{"id":"3","name":"b","role":"ADMIN","token":"t"}]}]}`,
		"foreign assignee":     `{"businesses":[{"id":"1","system_users":[],"wabas":[{"id":"5","assigned":{"9":["MANAGE"]}}]}]}`,
		"bad task":             `{"businesses":[{"id":"1","system_users":[{"id":"2","name":"a","role":"ADMIN"}],"wabas":[{"id":"5","assigned":{"2":["OWN"]}}]}]}`,
		"too many fillers":     `{"businesses":[{"id":"1","system_users":[],"other_users":10001}]}`,
	} {
		if _, err := LoadSeed(strings.NewReader(text)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestDefaultSeed(t *testing.T) {
	t.Parallel()
	s := DefaultSeed()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// It round-trips through a seed file.
	text, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSeed(strings.NewReader(string(text))); err != nil {
		t.Fatalf("DefaultSeed as a file: %v", err)
	}
	ids := DevWABAIDs()
	if len(ids) != 21 || ids[0] != "102290129340398" || ids[20] != "102290129340418" {
		t.Fatalf("DevWABAIDs = %v", ids)
	}

	srv := newTestServer(t, s)
	b := &testBundle{srv: srv, client: srv.Client()}
	r := b.get(t, "/"+DevBusinessID+"/system_users", DevReadToken, nil)
	var p systemUsersPage
	r.decode(t, &p)
	if len(p.Data) != 2 || p.Data[0].ID != DevSystemUserID || p.Data[0].Name != DevSystemUserName || p.Data[0].Role != RoleAdmin {
		t.Fatalf("system users = %+v", p.Data)
	}
	for _, id := range ids {
		form := url.Values{"user": {DevSystemUserID}, "tasks": {`["MANAGE"]`}}
		if r := b.post(t, "/"+id+"/assigned_users", DevAdminToken, form); r.status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", id, r.status, r.body)
		}
	}
	form := url.Values{"user": {DevSystemUserID}, "tasks": {`["MANAGE"]`}}
	b.post(t, "/"+ids[0]+"/assigned_users", DevReadToken, form).wantError(t, http.StatusForbidden, 200, 0, "OAuthException")
}
