package graph

// This file fixes the package's contract: the types and signatures that the
// worker (internal/handlers) and the emulator (internal/emulator) build on. The
// implementation lives in client.go, errors.go, classify.go and token.go.

import (
	"context"
	"time"
)

// DefaultVersion is the Graph API version used when none is configured. It
// must be a version Meta still serves (v19.0, the version in Meta's guide,
// expired in May 2026).
const DefaultVersion = "v25.0"

// DefaultBaseURL is Meta's Graph API host.
const DefaultBaseURL = "https://graph.facebook.com"

// Operation names, used in errors, Call records and metrics labels.
const (
	OpListSystemUsers   = "list_system_users"
	OpListAssignedUsers = "list_assigned_users"
	OpAssignUser        = "assign_user"
)

// SystemUser is one entry of GET /{business-id}/system_users.
type SystemUser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// AssignedUser is one entry of GET /{waba-id}/assigned_users?business=...
type AssignedUser struct {
	ID             string   `json:"id"`
	Name           string   `json:"name,omitempty"`
	Tasks          []string `json:"tasks"`
	PermittedTasks []string `json:"permitted_tasks,omitempty"`
}

// TokenSource yields an access token (or an app secret) for each request.
// Implementations may re-read a file so that a rotated token is picked up
// without a restart.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Call describes one finished HTTP round trip, for the caller's metrics and
// logs (the package itself never logs). It never holds a secret.
type Call struct {
	Op         string        // one of the Op* constants
	Method     string        // GET or POST
	HTTPStatus int           // 0 when no response arrived
	Code       int           // Graph error code, 0 on success
	Duration   time.Duration // time to the end of the body
	Err        error         // nil on success; a *Error or *TransportError

	// RequestedVersion is the version in the request path; ServedVersion the
	// facebook-api-version response header ("" when absent). They differ when
	// Meta upgraded an expired version: worth a log line.
	RequestedVersion string
	ServedVersion    string

	// Usage holds the rate-limit usage headers, parsed on demand.
	Usage Usage
}

// VersionDrift reports whether Meta served a different version than requested.
func (c Call) VersionDrift() bool {
	return c.ServedVersion != "" && c.ServedVersion != c.RequestedVersion
}

// AppUsage is the X-App-Usage header: percentages of the app's rate limit.
type AppUsage struct {
	CallCount    int `json:"call_count"`
	TotalCPUTime int `json:"total_cputime"`
	TotalTime    int `json:"total_time"`
}

// BusinessUseCaseUsage is one entry of the X-Business-Use-Case-Usage header,
// keyed there by business id.
type BusinessUseCaseUsage struct {
	Type                        string `json:"type"`
	CallCount                   int    `json:"call_count"`
	TotalCPUTime                int    `json:"total_cputime"`
	TotalTime                   int    `json:"total_time"`
	EstimatedTimeToRegainAccess int    `json:"estimated_time_to_regain_access"` // minutes
}

// Class is what the worker does about an error; see Classify.
type Class int

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassCanceled: the caller's context ended. Not Graph's fault; not
	// counted by a circuit breaker.
	ClassCanceled
	// ClassTransient: network errors, timeouts, 5xx, 429, transient codes.
	ClassTransient
	// ClassRateLimited: a transient error that asks the caller to slow down.
	ClassRateLimited
	// ClassCredentials: the token is rejected (102, 190, OAuthException).
	ClassCredentials
	// ClassPermanent: everything else; retrying will not help.
	ClassPermanent
)

func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassCanceled:
		return "canceled"
	case ClassTransient:
		return "transient"
	case ClassRateLimited:
		return "rate_limited"
	case ClassCredentials:
		return "credentials"
	case ClassPermanent:
		return "permanent"
	}
	return "unknown"
}

// Retryable reports whether an error of this class may succeed when tried
// again later (transient or rate limited).
func (c Class) Retryable() bool { return c == ClassTransient || c == ClassRateLimited }
