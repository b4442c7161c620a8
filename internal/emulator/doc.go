// Package emulator is an emulator of Meta's Graph API for the edges
// waba-worker uses. It behaves like Meta, not like the client would wish,
// so that the client, the worker, `worker dev`, `worker graph-emulator`
// (docker-compose) and the benchmarks run against something honest.
//
// New builds one; Start serves it on a loopback port of its own (tests use
// graphtest.NewTestServer, which wraps Start); Listen serves it on an
// address, and Serve runs it as `worker graph-emulator` does: one log line
// per request, a graceful stop when the context ends. It imports no
// testing code, so the worker binary may link it.
//
// # What it emulates
//
// Paths are /{version}/{id}/{edge}; the version must look like v25.0,
// else code 2500 "Unknown path components" (HTTP 400).
//
//   - GET /{business-id}/system_users: the business's system users
//     ({"id","name","role"}), paged.
//   - GET /{waba-id}/assigned_users?business={business-id}: the users of
//     that business assigned to the WABA ({"id","name","tasks",
//     "permitted_tasks"}), paged. Without business: code 100 "(#100) The
//     parameter business is required". A WABA that is unknown or not shared
//     with the business: code 100 subcode 33, GraphMethodException.
//   - POST /{waba-id}/assigned_users with user=<id>&tasks=["MANAGE"]
//     (form-encoded, multipart or JSON; tasks a JSON array or the legacy
//     ['MANAGE']): {"success":true}. The POST replaces the user's tasks on
//     the WABA with exactly the posted set, as Meta does; a client that
//     must not remove tasks posts the union itself. Tasks are checked
//     against ValidTasks ("(#100) Param tasks[0] must be one of {...}");
//     the user must be a system user of the token's business (code 100);
//     the token's user must be an ADMIN system user (code 200, HTTP 403).
//   - GET /{business-id}/client_whatsapp_business_accounts
//     (graph.OpListClientWABAs): the WABAs shared with the business
//     ({"id","name"}), paged, in id order; fields is honoured leniently
//     (name only when asked for or when fields is absent; other fields
//     ignored). Another business's id or an unknown one: code 100
//     subcode 33.
//   - DELETE /{waba-id}/assigned_users?user=<id> (OpUnassignUser), which
//     the worker must never call, and GET /{id} (OpReadNode) for a business
//     or a WABA: served so that a test can see them being called.
//
// Tokens travel in "Authorization: Bearer" (or "OAuth"), or as Meta also
// accepts, in an access_token parameter; Request.TokenInQuery and
// TokenInForm record that it happened. No token: code 104 (HTTP 400);
// unknown or revoked: code 190 (HTTP 401); expired: 190 subcode 463. Each
// token belongs to a system user of a business; reads need any token of
// that business. With an app secret, every request must carry
// appsecret_proof = hex(HMAC-SHA256(secret, token+"|"+appsecret_time)) and
// an appsecret_time within 5 minutes of the emulator's clock (code 100,
// GraphMethodException, in Meta's words).
//
// Listings page like Graph's cursor paging: 25 a page by default, limit up
// to 100 (larger values are clamped), opaque cursors taken by after (and
// before), and a next link, a full URL on the request's own host that
// repeats the request's query (an access_token in it too, as Meta does),
// omitted on the last page. An empty listing answers {"data":[]}. Tests can
// add empty pages (SetEmptyPages) and filler users listed first
// (Business.OtherUsers).
//
// Every JSON answer carries facebook-api-version (the requested version,
// or the oldest served one, see SetOldestVersion), x-fb-trace-id,
// X-App-Usage and X-Business-Use-Case-Usage (keyed by the id in the path,
// type whatsapp_business_management). Errors are Graph's error object
// {"error":{"message","type","code","error_subcode","is_transient",
// "fbtrace_id"}}, error_subcode omitted when 0.
//
// # Test controls
//
// Latency (SetLatency), scripted faults per op (InjectFault: any status and
// code, hangs, dropped connections, HTML or raw bodies, Retry-After and
// estimated_time_to_regain_access, "failed but applied"), outages
// (SetOutage), a rate limit answering code 80008 (SetRateLimit), delayed
// visibility of writes (SetVisibilityDelay), Meta's occasional "already
// assigned" code 100 (SetAlreadyAssignedError), token revocation and expiry,
// WABA sharing, and a record of every request (Requests, Count, CountFor)
// with secrets redacted. DefaultSeed is the world of `worker dev`.
//
// The emulator takes no global lock while it sleeps or hangs, records each
// request with one short append, and serves thousands of requests a second.
//
// # What it does not emulate
//
// Any other node, edge or field (fields=, summary=, pretty=, batch
// requests are ignored or refused); app access tokens and token debugging;
// Meta's real rate-limit arithmetic (the limit is one fixed window across
// all requests; the usage headers are plausible, not measured); per-app
// permissions such as whatsapp_business_management (every token may do
// what its system user's role allows); a legacy appsecret_proof without
// appsecret_time (refused, since the worker always sends the time); the
// ownership side of a WABA (the customer's business); tasks implied by
// other tasks in "tasks" (only permitted_tasks is unpacked: MANAGE permits
// everything, MANAGE_TEMPLATES and MANAGE_PHONE_ASSETS their VIEW_ task);
// and Meta's eventual consistency beyond SetVisibilityDelay.
package emulator
