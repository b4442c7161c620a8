package webhook

import (
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config, from the SPEC.
const (
	// DefaultAddr is where `worker webhook` listens for Meta.
	DefaultAddr            = ":8081"
	DefaultPath            = "/webhooks/meta"
	DefaultStream          = "META_WEBHOOKS"
	DefaultMaxAge          = 168 * time.Hour
	DefaultSubjectPrefix   = "meta.webhook"
	DefaultEventsStream    = "WABA"
	DefaultSharedSubject   = "waba.shared"
	DefaultUnsharedSubject = "waba.unshared"
	// DefaultPublishTimeout bounds the wait for a request's PubAcks. Meta
	// gives up on an answer after some seconds and delivers again later.
	DefaultPublishTimeout = 10 * time.Second
	// MaxBody is the largest body accepted (Meta sends at most 3 MB).
	MaxBody = 4 << 20
	// Source is the source of the events the gateway publishes.
	Source = "webhook"
)

// Config configures the gateway. JetStream, AppSecret and VerifyToken are
// required.
type Config struct {
	// JetStream publishes. Its connection should reconnect forever; its
	// async publish window (jetstream.WithPublishAsyncMaxPending, default
	// 4000) bounds the changes of all requests in flight together. Required.
	JetStream jetstream.JetStream
	// AppSecret returns the app secret that keys X-Hub-Signature-256. It is
	// called for every POST, so a secret read from a file follows the file.
	// Required; an empty secret or an error answers 503.
	AppSecret func() (string, error)
	// VerifyToken returns Meta's hub.verify_token, called for every
	// verification request. Required; an empty token or an error answers 503.
	VerifyToken func() (string, error)
	// Path is the only URL path served (others get 404). Defaults to
	// DefaultPath.
	Path string
	// Stream is the stream that captures SubjectPrefix.>; every raw publish
	// expects it. Defaults to DefaultStream.
	Stream string
	// SubjectPrefix prefixes the raw subjects. Defaults to DefaultSubjectPrefix.
	SubjectPrefix string
	// EventsStream is the worker's stream, which captures SharedSubject and
	// UnsharedSubject; their publishes expect it. Defaults to
	// DefaultEventsStream.
	EventsStream string
	// SharedSubject defaults to DefaultSharedSubject.
	SharedSubject string
	// UnsharedSubject defaults to DefaultUnsharedSubject.
	UnsharedSubject string
	// PublishTimeout bounds the wait for every PubAck of a request. Defaults
	// to DefaultPublishTimeout.
	PublishTimeout time.Duration
	// MaxBody caps the body. Defaults to MaxBody.
	MaxBody int64
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Observer gets the gateway's metrics. Defaults to none; see
	// NewPrometheus.
	Observer Observer
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Path, DefaultPath)
	def(&c.Stream, DefaultStream)
	def(&c.SubjectPrefix, DefaultSubjectPrefix)
	def(&c.EventsStream, DefaultEventsStream)
	def(&c.SharedSubject, DefaultSharedSubject)
	def(&c.UnsharedSubject, DefaultUnsharedSubject)
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxBody <= 0 {
		c.MaxBody = MaxBody
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.JetStream == nil {
		errs = append(errs, errors.New("webhook: Config.JetStream is required"))
	}
	if c.AppSecret == nil {
		errs = append(errs, errors.New("webhook: Config.AppSecret is required"))
	}
	if c.VerifyToken == nil {
		errs = append(errs, errors.New("webhook: Config.VerifyToken is required"))
	}
	return errors.Join(errs...)
}

// Static returns a secret source that always returns s.
func Static(s string) func() (string, error) {
	return func() (string, error) { return s, nil }
}
