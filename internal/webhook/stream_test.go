package webhook_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/webhook"
)

func TestStreamConfig(t *testing.T) {
	t.Parallel()
	c := webhook.StreamConfig("META_WEBHOOKS", 168*time.Hour, 3)
	if c.Name != "META_WEBHOOKS" || len(c.Subjects) != 1 || c.Subjects[0] != "meta.webhook.>" ||
		c.Storage != jetstream.FileStorage || c.MaxAge != 168*time.Hour || c.Duplicates != time.Hour || c.Replicas != 3 {
		t.Fatalf("%+v", c)
	}
	if c.Duplicates < 10*time.Minute {
		t.Fatalf("duplicate window %s is under the SPEC's 10 minutes", c.Duplicates)
	}
	// JetStream refuses a duplicate window longer than MaxAge.
	if c := webhook.StreamConfig("S", 30*time.Minute, 0); c.Duplicates != 30*time.Minute || c.Replicas != 1 {
		t.Fatalf("short MaxAge: %+v", c)
	}
	if c := webhook.StreamConfig("S", 0, 1); c.MaxAge != webhook.DefaultMaxAge {
		t.Fatalf("default MaxAge: %s", c.MaxAge)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := webhook.New(webhook.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
}
