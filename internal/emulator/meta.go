package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
)

// ValidTasks returns the tasks Meta accepts on POST
// /{waba-id}/assigned_users, in the order the emulator reports them.
func ValidTasks() []string { return slices.Clone(validTasks) }

var validTasks = []string{
	"MANAGE", "DEVELOP", "MANAGE_TEMPLATES", "MANAGE_PHONE", "VIEW_COST",
	"MANAGE_EXTENSIONS", "VIEW_PHONE_ASSETS", "MANAGE_PHONE_ASSETS",
	"VIEW_TEMPLATES", "VIEW_INSIGHTS", "MANAGE_USERS", "MANAGE_BILLING",
	"MESSAGING",
}

var (
	taskRank = func() map[string]int {
		m := map[string]int{}
		for i, t := range validTasks {
			m[t] = i
		}
		return m
	}()
	taskListBrace = "{" + strings.Join(validTasks, ", ") + "}"
)

// normalizeTasks validates tasks and returns them deduplicated in the order
// of ValidTasks. msg is Meta's error message for the first invalid one.
func normalizeTasks(tasks []string) (out []string, msg string) {
	if len(tasks) == 0 {
		return nil, "(#100) Param tasks must be a non-empty array"
	}
	seen := make([]bool, len(validTasks))
	for i, t := range tasks {
		r, ok := taskRank[t]
		if !ok {
			return nil, fmt.Sprintf("(#100) Param tasks[%d] must be one of %s - got %q", i, taskListBrace, t)
		}
		seen[r] = true
	}
	for r, ok := range seen {
		if ok {
			out = append(out, validTasks[r])
		}
	}
	return out, ""
}

// parseTasks decodes the tasks form value: a JSON array, or Meta's legacy
// single-quoted form ['MANAGE'].
func parseTasks(raw string) ([]string, string) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "[") {
		return nil, "(#100) Param tasks must be an array."
	}
	var tasks []string
	if err := json.Unmarshal([]byte(raw), &tasks); err != nil {
		if !strings.Contains(raw, "'") {
			return nil, "(#100) Param tasks must be an array."
		}
		if err := json.Unmarshal([]byte(strings.ReplaceAll(raw, "'", `"`)), &tasks); err != nil {
			return nil, "(#100) Param tasks must be an array."
		}
	}
	return normalizeTasks(tasks)
}

// permittedTasks is what Meta reports as permitted_tasks: the tasks with
// what they imply unpacked (MANAGE implies every task; a MANAGE_X implies
// its VIEW_X).
func permittedTasks(tasks []string) []string {
	seen := make([]bool, len(validTasks))
	for _, t := range tasks {
		switch t {
		case "MANAGE":
			return validTasks
		case "MANAGE_TEMPLATES":
			seen[taskRank["VIEW_TEMPLATES"]] = true
		case "MANAGE_PHONE_ASSETS":
			seen[taskRank["VIEW_PHONE_ASSETS"]] = true
		}
		seen[taskRank[t]] = true
	}
	out := make([]string, 0, len(tasks)+2)
	for r, ok := range seen {
		if ok {
			out = append(out, validTasks[r])
		}
	}
	return out
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Graph error types.
const (
	typeOAuth       = "OAuthException"
	typeGraphMethod = "GraphMethodException"
)

// Meta's wording for the errors the emulator produces itself.
const (
	msgTokenRequired   = "An access token is required to request this resource."
	msgTokenInvalid    = "Invalid OAuth access token - Cannot parse access token"
	msgPermissions     = "(#200) Permissions error"
	msgProofInvalid    = "Invalid appsecret_proof provided in the API argument"
	msgProofMissing    = "API calls from the server require an appsecret_proof argument"
	msgProofTimeNeeded = "API calls from the server require an appsecret_proof and an appsecret_time argument"
	msgProofTimeBad    = "Invalid appsecret_time provided in the API argument"
	msgRateLimited     = "(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#whatsapp-business-management-api."
	msgAlreadyAssigned = "(#100) The user is already assigned to this WhatsApp Business Account with the requested tasks."

	// subcodes
	subcodeUnsupported = 33
	subcodeExpired     = 463
	subcodeRateLimited = 2446079
)

func msgUnsupported(method, id string) string {
	return fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
		strings.ToLower(method), id)
}

// defaultMessages are used for an injected Fault without a Message.
var defaultMessages = map[int]string{
	1:      "An unknown error occurred",
	2:      "An unexpected error has occurred. Please retry your request later.",
	3:      "(#3) Application does not have the capability to make this API call.",
	4:      "(#4) Application request limit reached",
	10:     "(#10) Application does not have permission for this action",
	17:     "(#17) User request limit reached",
	32:     "(#32) Page request limit reached",
	100:    "(#100) Invalid parameter",
	102:    "Session key invalid or no longer valid",
	104:    msgTokenRequired,
	190:    msgTokenInvalid,
	200:    msgPermissions,
	341:    "(#341) Application limit reached",
	368:    "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
	613:    "(#613) Calls to this api have exceeded the rate limit.",
	80007:  "(#80007) Rate limit issues",
	80008:  msgRateLimited,
	130429: "(#130429) Rate limit hit",
	131000: "(#131000) Something went wrong",
	131016: "(#131016) Service unavailable",
	133004: "(#133004) Server Temporarily Unavailable",
	131057: "(#131057) Account in maintenance mode",
}

// apiError is Graph's error object.
type apiError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient"`
	TraceID     string `json:"fbtrace_id"`
}

// response is what the emulator decided to answer.
type response struct {
	status       int
	body         []byte
	contentType  string
	header       http.Header // extra headers
	code         int
	subcode      int
	graphHeaders bool // facebook-api-version and usage headers
	bucMinutes   int  // estimated_time_to_regain_access to report
	drop, hang   bool
	fault        string // Request.Fault
}

const (
	contentJSON = "application/json; charset=UTF-8"
	contentHTML = "text/html; charset=utf-8"
)

func jsonResponse(status int, v any) *response {
	b, err := json.Marshal(v)
	if err != nil { // our own types: cannot happen
		panic(fmt.Sprintf("emulator: marshal response: %v", err))
	}
	return &response{status: status, body: b, contentType: contentJSON, graphHeaders: true}
}

func errorResponse(trace string, status int, e apiError) *response {
	e.TraceID = trace
	r := jsonResponse(status, struct {
		Error apiError `json:"error"`
	}{e})
	r.code, r.subcode = e.Code, e.Subcode
	if e.Code == 104 || e.Code == 190 || e.Code == 102 {
		r.header = http.Header{"Www-Authenticate": {fmt.Sprintf("OAuth \"Facebook Platform\" \"invalid_token\" %q", e.Message)}}
	}
	return r
}

func (x *exchange) fail(status, code, subcode int, typ, msg string) *response {
	return errorResponse(x.trace, status, apiError{Message: msg, Type: typ, Code: code, Subcode: subcode})
}

func (x *exchange) unsupported(id string) *response {
	return x.fail(http.StatusBadRequest, 100, subcodeUnsupported, typeGraphMethod, msgUnsupported(x.r.Method, id))
}

func (x *exchange) invalidParam(msg string) *response {
	return x.fail(http.StatusBadRequest, 100, 0, typeOAuth, msg)
}

const traceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newTraceID returns an id shaped like Meta's fbtrace_id ("A" and 22
// alphanumerics).
func newTraceID() string {
	var b [23]byte
	b[0] = 'A'
	for i := 1; i < len(b); i++ {
		b[i] = traceAlphabet[rand.IntN(len(traceAlphabet))]
	}
	return string(b[:])
}

// ErrorPage is the HTML page an outage answers with, modelled on
// Facebook's "Sorry, something went wrong." page.
const ErrorPage = `<!DOCTYPE html>
<html lang="en" id="facebook"><head><title>Facebook | Error</title><meta charset="utf-8"></head>
<body><div id="content"><h2>Sorry, something went wrong.</h2>
<p>We're working on it and we'll get it fixed as soon as we can.</p></div></body></html>
`
