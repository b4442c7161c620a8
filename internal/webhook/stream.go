package webhook

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DuplicateWindow is the duplicate window of the stream StreamConfig
// describes: a redelivery of a change within it is dropped. The SPEC asks for
// at least 10 minutes; Meta retries quickly at first, so an hour catches the
// bulk of its redeliveries (later ones are stored again, and the worker's
// work is idempotent).
const DuplicateWindow = time.Hour

// StreamConfig is the raw webhook stream the gateway publishes to, for
// provisioning: subjects meta.webhook.>, file storage, limits retention,
// MaxAge maxAge (DefaultMaxAge when not positive), a duplicate window of
// DuplicateWindow (maxAge when that is shorter, as JetStream requires), and
// replicas (at least 1).
func StreamConfig(name string, maxAge time.Duration, replicas int) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return jetstream.StreamConfig{
		Name:        name,
		Description: "waba-worker: Meta webhook changes as received, one message per change",
		Subjects:    []string{DefaultSubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      maxAge,
		Duplicates:  min(DuplicateWindow, maxAge),
		Replicas:    max(1, replicas),
	}
}
