// Package schemas embeds the JSON Schemas (draft 2020-12) of the worker's
// events and their example documents, so tests (and anyone importing the
// module) validate against the same files the README points to.
package schemas

import "embed"

// FS holds the schemas (*.json) and examples (examples/*.json).
//
//go:embed *.json examples/*.json
var FS embed.FS

// Names of the schema files, one per event.
const (
	Shared    = "waba.shared.json"
	Succeeded = "waba.assignment.succeeded.json"
	Failed    = "waba.assignment.failed.json"
	Unshared  = "waba.unshared.json"
	// WebhookChange is one change of a Meta webhook as the gateway stores
	// it on meta.webhook.<object>.<field>.
	WebhookChange = "meta.webhook.change.json"
	// State is a record of the WABA ledger (KV bucket waba_state).
	State = "waba_state.json"
)
