package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/graph"
)

// The emulator behind an httptest server: assign the dev system user to a
// WABA, then read the assignment back.
func Example() {
	emu, err := emulator.New(emulator.DefaultSeed())
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(emu)
	defer ts.Close()
	defer emu.Close()

	call := func(method, path string, body url.Values) {
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(body.Encode())
		}
		req, _ := http.NewRequest(method, ts.URL+"/v25.0"+path, rd)
		req.Header.Set("Authorization", "Bearer "+emulator.DevAdminToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Error *struct{ Message string } }
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			fmt.Println(resp.StatusCode, e.Error.Message) // fbtrace_id is random
			return
		}
		fmt.Println(resp.StatusCode, string(b))
	}
	waba := emulator.DevFirstWABAID
	call("POST", "/"+waba+"/assigned_users", url.Values{"user": {emulator.DevSystemUserID}, "tasks": {`["MANAGE"]`}})
	call("GET", "/"+waba+"/assigned_users?business="+emulator.DevBusinessID+"&fields=id,tasks", nil)
	call("GET", "/"+waba+"/assigned_users", nil)
	fmt.Println(emu.CountFor(graph.OpAssignUser, waba), "POST")
	// Output:
	// 200 {"success":true}
	// 200 {"data":[{"id":"1972555232742222","name":"waba-worker","tasks":["MANAGE"],"permitted_tasks":["MANAGE","DEVELOP","MANAGE_TEMPLATES","MANAGE_PHONE","VIEW_COST","MANAGE_EXTENSIONS","VIEW_PHONE_ASSETS","MANAGE_PHONE_ASSETS","VIEW_TEMPLATES","VIEW_INSIGHTS","MANAGE_USERS","MANAGE_BILLING","MESSAGING"]}],"paging":{"cursors":{"before":"Z3JhcGh0ZXN0OjA6MA","after":"Z3JhcGh0ZXN0OjE6MA"}}}
	// 400 (#100) The parameter business is required
	// 1 POST
}
