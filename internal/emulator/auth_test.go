package emulator

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/" + bizID + "/system_users"

	e := b.get(t, path, "", nil).wantError(t, http.StatusBadRequest, 104, 0, "OAuthException")
	if e.Message != "An access token is required to request this resource." {
		t.Errorf("104 message = %q", e.Message)
	}
	r := b.get(t, path, "no-such-token", nil)
	e = r.wantError(t, http.StatusUnauthorized, 190, 0, "OAuthException")
	if e.Message != "Invalid OAuth access token - Cannot parse access token" {
		t.Errorf("190 message = %q", e.Message)
	}
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}

	b.srv.RevokeToken(adminTok)
	b.get(t, path, adminTok, nil).wantError(t, http.StatusUnauthorized, 190, 0, "OAuthException")
	b.assign(t, wabaA, adminTok, adminID, `["MANAGE"]`).wantError(t, http.StatusUnauthorized, 190, 0, "OAuthException")
	if b.get(t, path, readTok, nil).status != http.StatusOK {
		t.Fatal("revoking one token affected another")
	}
	b.srv.RestoreToken(adminTok)
	if r := b.get(t, path, adminTok, nil); r.status != http.StatusOK {
		t.Fatalf("restored token: %d %s", r.status, r.body)
	}

	b.srv.ExpireToken(adminTok)
	e = b.get(t, path, adminTok, nil).wantError(t, http.StatusUnauthorized, 190, 463, "OAuthException")
	if !strings.HasPrefix(e.Message, "Error validating access token: Session has expired on ") {
		t.Errorf("463 message = %q", e.Message)
	}
	b.srv.RestoreToken(adminTok)

	if err := b.srv.AddToken("rotated", adminID); err != nil {
		t.Fatal(err)
	}
	if r := b.assign(t, wabaA, "rotated", adminID, `["MANAGE"]`); r.status != http.StatusOK {
		t.Fatalf("added token: %d %s", r.status, r.body)
	}
	if err := b.srv.AddToken("x", "404"); err == nil {
		t.Error("AddToken for an unknown user should fail")
	}
}

func TestTokenPlacementIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/" + bizID + "/system_users"

	b.get(t, path, adminTok, nil)
	b.get(t, path, "", url.Values{"access_token": {adminTok}})
	b.post(t, "/"+wabaA+"/assigned_users", "", url.Values{"access_token": {adminTok}, "user": {adminID}, "tasks": {`["MANAGE"]`}})

	reqs := b.srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	if !reqs[0].AuthHeader || reqs[0].TokenInQuery || reqs[0].TokenInForm || reqs[0].Status != 200 {
		t.Errorf("header request: %+v", reqs[0])
	}
	if reqs[1].AuthHeader || !reqs[1].TokenInQuery || reqs[1].Status != 200 {
		t.Errorf("query request: %+v", reqs[1])
	}
	if reqs[1].Query.Get("access_token") != Redacted {
		t.Errorf("query token not redacted: %v", reqs[1].Query)
	}
	if !reqs[2].TokenInForm || reqs[2].TokenInQuery || reqs[2].Form.Get("access_token") != Redacted || reqs[2].Status != 200 {
		t.Errorf("form request: %+v", reqs[2])
	}
	for _, r := range reqs {
		for _, v := range [][]string{r.Query["access_token"], r.Form["access_token"]} {
			for _, s := range v {
				if s == adminTok {
					t.Fatalf("token recorded in clear: %+v", r)
				}
			}
		}
	}
}

func TestAppSecretProof(t *testing.T) {
	t.Parallel()
	const secret = "app-secret"
	b := setup(t, func(s *Seed) { s.AppSecret = secret })
	path := "/" + bizID + "/system_users"
	now := time.Now().Unix()
	proof := func(tok string, at int64) url.Values {
		return url.Values{"appsecret_proof": {AppSecretProof(secret, tok, at)}, "appsecret_time": {strconv.FormatInt(at, 10)}}
	}

	if r := b.get(t, path, adminTok, proof(adminTok, now)); r.status != http.StatusOK {
		t.Fatalf("good proof: %d %s", r.status, r.body)
	}
	if r := b.get(t, path, adminTok, proof(adminTok, now-240)); r.status != http.StatusOK {
		t.Fatalf("proof 4 minutes old: %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		name  string
		query url.Values
		msg   string
	}{
		{"missing", nil, "API calls from the server require an appsecret_proof argument"},
		{"no time", url.Values{"appsecret_proof": {AppSecretProof(secret, adminTok, now)}},
			"API calls from the server require an appsecret_proof and an appsecret_time argument"},
		{"wrong secret", url.Values{"appsecret_proof": {AppSecretProof("other", adminTok, now)}, "appsecret_time": {strconv.FormatInt(now, 10)}},
			"Invalid appsecret_proof provided in the API argument"},
		{"other token's proof", proof(readTok, now), "Invalid appsecret_proof provided in the API argument"},
		{"not hex", url.Values{"appsecret_proof": {"zz"}, "appsecret_time": {strconv.FormatInt(now, 10)}},
			"Invalid appsecret_proof provided in the API argument"},
		{"time mismatch", url.Values{"appsecret_proof": {AppSecretProof(secret, adminTok, now)}, "appsecret_time": {strconv.FormatInt(now-1, 10)}},
			"Invalid appsecret_proof provided in the API argument"},
		{"stale", proof(adminTok, now-6*60), "Invalid appsecret_time provided in the API argument"},
		{"future", proof(adminTok, now+6*60), "Invalid appsecret_time provided in the API argument"},
		{"time not a number", url.Values{"appsecret_proof": {"ab"}, "appsecret_time": {"yesterday"}}, "Invalid appsecret_time provided in the API argument"},
	} {
		e := b.get(t, path, adminTok, tc.query).wantError(t, http.StatusBadRequest, 100, 0, "GraphMethodException")
		if e.Message != tc.msg {
			t.Errorf("%s: message = %q, want %q", tc.name, e.Message, tc.msg)
		}
	}

	// In a POST body too.
	form := proof(adminTok, now)
	form.Set("user", adminID)
	form.Set("tasks", `["MANAGE"]`)
	if r := b.post(t, "/"+wabaA+"/assigned_users", adminTok, form); r.status != http.StatusOK {
		t.Fatalf("POST with proof: %d %s", r.status, r.body)
	}
	for _, r := range b.srv.Requests() {
		for _, v := range append(r.Query["appsecret_proof"], r.Form["appsecret_proof"]...) {
			if v != Redacted {
				t.Fatalf("proof recorded in clear: %+v", r)
			}
		}
	}

	// Without a secret, no proof is needed.
	b.srv.SetAppSecret("")
	if r := b.get(t, path, adminTok, nil); r.status != http.StatusOK {
		t.Fatalf("no secret: %d %s", r.status, r.body)
	}
}
