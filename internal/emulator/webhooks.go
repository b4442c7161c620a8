package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

// DevOwnerBusinessID is the customer's business portfolio that owns the
// WABAs the emulator shares through Embedded Signup (waba_info's
// owner_business_id) unless the caller names another.
const DevOwnerBusinessID = "100900900"

// Defaults of WebhookSubscription's retries: Meta retries for 7 days; the
// emulator for an hour, with waits from 1s up to 30s.
const (
	DefaultWebhookInitialInterval = time.Second
	DefaultWebhookMaxInterval     = 30 * time.Second
	DefaultWebhookMaxElapsed      = time.Hour
)

// ErrNoWebhook is returned by ShareWithWebhook and UnshareWithWebhook when no
// webhook subscription is set.
var ErrNoWebhook = errors.New("emulator: no webhook subscription: set a callback URL and app secret first")

// WebhookSubscription is the app's webhook subscription: where Meta delivers
// account_update and with which app secret it signs (X-Hub-Signature-256).
type WebhookSubscription struct {
	// CallbackURL is the app's default callback URL (http or https).
	CallbackURL string `json:"callback_url"`
	// AppSecret keys the signature. Required with CallbackURL.
	AppSecret string `json:"app_secret"`
	// InitialInterval, MaxInterval and MaxElapsed shape the retries of a
	// delivery not answered 200 (exponential, jittered). Default to
	// DefaultWebhookInitialInterval, DefaultWebhookMaxInterval and
	// DefaultWebhookMaxElapsed.
	InitialInterval time.Duration `json:"-"`
	MaxInterval     time.Duration `json:"-"`
	MaxElapsed      time.Duration `json:"-"`
}

// webhooks is the emulator's webhook sender. Each subscription has its own
// Deliverer (its secret signs); deliveries under way keep theirs until they
// end or the emulator closes.
type webhooks struct {
	mu         sync.Mutex
	sub        WebhookSubscription
	current    *metahook.Deliverer
	deliverers []*metahook.Deliverer
	closed     bool
}

// SetWebhook sets (or, with an empty CallbackURL, removes) the webhook
// subscription. Deliveries already under way keep their URL and secret.
func (s *Server) SetWebhook(sub WebhookSubscription) error {
	if sub.CallbackURL != "" {
		u, err := url.Parse(sub.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("emulator: SetWebhook: callback URL %q is not an http(s) URL", sub.CallbackURL)
		}
		if sub.AppSecret == "" {
			return errors.New("emulator: SetWebhook: an app secret is required to sign deliveries")
		}
	}
	wh := &s.hooks
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if wh.closed {
		return errors.New("emulator: SetWebhook: the emulator is closed")
	}
	wh.sub, wh.current = sub, nil
	if sub.CallbackURL == "" {
		return nil
	}
	log := s.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := metahook.NewDeliverer(metahook.DelivererConfig{
		Secret:          sub.AppSecret,
		InitialInterval: cmpDuration(sub.InitialInterval, DefaultWebhookInitialInterval),
		MaxInterval:     cmpDuration(sub.MaxInterval, DefaultWebhookMaxInterval),
		MaxElapsedTime:  cmpDuration(sub.MaxElapsed, DefaultWebhookMaxElapsed),
		AttemptTimeout:  10 * time.Second,
		Logger:          log.With("component", "webhook"),
	})
	if err != nil {
		return err
	}
	wh.current = d
	wh.deliverers = append(wh.deliverers, d)
	return nil
}

// Webhook returns the current subscription.
func (s *Server) Webhook() WebhookSubscription {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.sub
}

// ShareWithWebhook shares WABA wabaID (created when new) with business
// businessID, as a customer finishing Embedded Signup does, and delivers
// the signed account_update PARTNER_ADDED Meta sends for it to the callback
// URL, retrying while the answer is not 200. ownerBusinessID names the
// customer's business (DevOwnerBusinessID when empty). Watch or Wait for
// the returned delivery. Without a subscription it changes nothing and
// returns ErrNoWebhook.
func (s *Server) ShareWithWebhook(businessID, wabaID, ownerBusinessID string) (*metahook.Delivery, error) {
	d, url, err := s.deliverer()
	if err != nil {
		return nil, err
	}
	if err := s.AddWABA(businessID, wabaID); err != nil {
		return nil, err
	}
	if ownerBusinessID == "" {
		ownerBusinessID = DevOwnerBusinessID
	}
	return d.DeliverEnvelope(url, metahook.PartnerAdded(businessID, wabaID, ownerBusinessID, time.Now())), nil
}

// UnshareWithWebhook unshares WABA wabaID from business businessID (see
// Unshare) and delivers the signed account_update PARTNER_REMOVED, as
// ShareWithWebhook does for a share.
func (s *Server) UnshareWithWebhook(businessID, wabaID, ownerBusinessID string) (*metahook.Delivery, error) {
	d, url, err := s.deliverer()
	if err != nil {
		return nil, err
	}
	if err := s.Unshare(businessID, wabaID); err != nil {
		return nil, err
	}
	if ownerBusinessID == "" {
		ownerBusinessID = DevOwnerBusinessID
	}
	return d.DeliverEnvelope(url, metahook.PartnerRemoved(businessID, wabaID, ownerBusinessID, time.Now())), nil
}

func (s *Server) deliverer() (*metahook.Deliverer, string, error) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.current == nil {
		return nil, "", ErrNoWebhook
	}
	return s.hooks.current, s.hooks.sub.CallbackURL, nil
}

// closeWebhooks stops every delivery still retrying.
func (s *Server) closeWebhooks() {
	s.hooks.mu.Lock()
	s.hooks.closed = true
	ds := s.hooks.deliverers
	s.hooks.deliverers, s.hooks.current = nil, nil
	s.hooks.mu.Unlock()
	for _, d := range ds {
		d.Close()
	}
}

// WithWebhook sets the webhook subscription at start (see SetWebhook).
func WithWebhook(sub WebhookSubscription) Option {
	return func(s *Server) error { return s.SetWebhook(sub) }
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
