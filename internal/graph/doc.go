// Package graph is the worker's client for the few Meta Graph API endpoints
// it needs to assign a BSP's system user to a customer's WhatsApp Business
// Account (WABA):
//
//   - GET /{business-id}/system_users (SystemUsers, FindSystemUser, Probe)
//   - GET /{waba-id}/assigned_users?business={business-id} (AssignedUsers,
//     FindAssignedUser)
//   - POST /{waba-id}/assigned_users with user and tasks (AssignUser)
//   - GET /{business-id}/client_whatsapp_business_accounts?fields=id,name
//     (ListClientWABAs, one page at a time, for the discovery sweep)
//
// # What it does
//
// It builds every URL itself as {base}/{version}/{id}/{edge}, with ids
// escaped into one path segment. Listings follow cursor paging from
// paging.cursors.after to the last page (Graph omits paging.next there),
// never following a paging.next URL, with a page cap (WithMaxPages) and a
// guard against a repeating cursor. The access token travels only in an
// "Authorization: Bearer" header, the read token for reads and the admin
// token (WithAdminToken) for the POST. With an app secret (WithAppSecret)
// every call carries appsecret_proof, the hex HMAC-SHA256 of
// token|appsecret_time keyed by the app secret, and appsecret_time. Token
// sources are asked on every call, so FileToken picks up a rotated token.
//
// Every non-2xx answer, and every 2xx whose body holds Graph's error object
// or cannot be parsed, becomes an *Error carrying Graph's code, subcode,
// type, messages, fbtrace_id, is_transient and the wait Meta asked for
// (Retry-After, or estimated_time_to_regain_access in
// X-Business-Use-Case-Usage). A call that got no response is a
// *TransportError. The caller's context ending yields an error that matches
// context.Canceled or context.DeadlineExceeded. Classify maps any of these
// to a Class (transient, rate limited, credentials, permanent, canceled),
// by Graph code first, as the table in README ("How it fails") says.
//
// Each HTTP round trip is reported to the observer (WithObserver) as a Call,
// with the usage headers (X-App-Usage, X-Business-Use-Case-Usage) and the
// version Meta served (facebook-api-version), for metrics and logs.
//
// # What it does not do
//
// It never logs and never retries, and it does not follow redirects: the
// retry, backoff, rate-limit and circuit-breaker policy belongs to the
// worker, which decides from Classify and RetryAfter. It keeps no state
// between calls (no cache of system users). No secret (token, app secret,
// appsecret_proof) appears in its errors or Call records: URLs in transport
// errors lose their query, and any text copied from a response is scrubbed
// of the secrets the call used.
package graph
