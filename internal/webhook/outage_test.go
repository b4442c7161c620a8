package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// With the raw stream missing the answer is 503 (an expected stream, not a
// silent loss); once it exists, Meta's next delivery is stored exactly once,
// and the waba.shared a partial first attempt may have published is not
// repeated.
func TestStreamMissing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noRawStream: true})
	body := metaExample(t, "partner_added")
	if status, _ := b.deliver(t, body); status != http.StatusServiceUnavailable {
		t.Fatalf("stream missing: %d, want 503", status)
	}
	if got := b.metric(t, "waba_webhook_requests_total", "outcome", webhook.OutcomeUnavailable); got != 1 {
		t.Errorf("unavailable = %v", got)
	}
	if got := b.metric(t, "waba_webhook_changes_total", "field", "account_update", "event", "PARTNER_ADDED", "result", webhook.ResultShared); got != 0 {
		t.Errorf("changes of a 503 counted: %v", got)
	}
	if _, err := b.js.CreateStream(testCtx(t), webhook.StreamConfig(webhook.DefaultStream, webhook.DefaultMaxAge, 1)); err != nil {
		t.Fatal(err)
	}
	if status, _ := b.deliver(t, body); status != http.StatusOK {
		t.Fatalf("after the stream is back: %d", status)
	}
	if n := len(b.stored(t, webhook.DefaultStream)); n != 1 {
		t.Errorf("%d raw messages, want 1", n)
	}
	if n := len(b.stored(t, eventsName, "waba.shared")); n != 1 {
		t.Errorf("%d waba.shared, want 1", n)
	}
}

// A stream that exists but is not the expected one (it captures the
// subject under another name) is an error too, not a silent misfiling.
func TestUnexpectedStream(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cfg: func(c *webhook.Config) { c.Stream = "SOMEWHERE_ELSE" }})
	if status, _ := b.deliver(t, metaExample(t, "messages")); status != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503", status)
	}
}

// With the NATS server down the answer is 503; Meta (here the emulator's
// Deliverer) delivers again with backoff and, once the server is back, the
// WABA's share is stored exactly once. The signature the Deliverer makes is
// the one the gateway checks.
func TestNATSDownThenMetaRetries(t *testing.T) {
	t.Parallel()
	outcomes := make(chan string, 100)
	b := setup(t, setupOpts{cfg: func(c *webhook.Config) {
		c.PublishTimeout = 300 * time.Millisecond
		c.Observer = notifying{c.Observer, outcomes}
	}})
	body := metaExample(t, "partner_added")
	ctx := testCtx(t)

	b.nats.Shutdown()
	if status, _ := b.deliver(t, body); status != http.StatusServiceUnavailable {
		t.Fatalf("NATS down: %d, want 503", status)
	}
	<-outcomes

	d, err := metahook.NewDeliverer(metahook.DelivererConfig{
		Secret: appSecret, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond,
		MaxElapsedTime: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := d.Deliver(b.url, body)
	// Meta keeps getting 503 while the server is down.
	for range 2 {
		select {
		case o := <-outcomes:
			if o != webhook.OutcomeUnavailable {
				t.Fatalf("outcome %s while NATS is down", o)
			}
		case <-first.Done():
			res, _ := first.Wait(ctx)
			t.Fatalf("delivery ended while NATS was down: %+v", res)
		case <-ctx.Done():
			t.Fatal("no retries seen")
		}
	}
	b.nats.Restart()
	res, err := first.Wait(ctx)
	if err != nil || !res.Delivered() {
		t.Fatalf("delivery after restart: %+v, %v", res, err)
	}
	t.Logf("delivered after %d attempts in %s", res.Attempts, res.Elapsed)
	if n := len(b.stored(t, webhook.DefaultStream)); n != 1 {
		t.Errorf("%d raw messages, want 1", n)
	}
	if n := len(b.stored(t, eventsName, "waba.shared")); n != 1 {
		t.Errorf("%d waba.shared, want 1", n)
	}
}

// notifying passes what it is told on, and each request's outcome to a
// channel as well, so a test can wait for requests instead of polling.
type notifying struct {
	webhook.Observer
	outcomes chan<- string
}

func (n notifying) Request(outcome string, d time.Duration) {
	n.Observer.Request(outcome, d)
	select {
	case n.outcomes <- outcome:
	default:
	}
}
