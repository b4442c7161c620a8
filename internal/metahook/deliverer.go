package metahook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Defaults of DelivererConfig. Meta retries a delivery that did not get a
// 200 with decreasing frequency for up to 7 days; the emulator and tests
// shorten that.
const (
	DefaultInitialInterval = time.Second
	DefaultMaxInterval     = time.Hour
	DefaultMultiplier      = 2.0
	DefaultMaxElapsedTime  = 7 * 24 * time.Hour
	DefaultAttemptTimeout  = 10 * time.Second
)

// UserAgent is the User-Agent Meta's webhook deliveries carry.
const UserAgent = "facebookexternalua"

// Errors a Delivery ends with when it did not get a 200.
var (
	// ErrGaveUp: the attempts or the time allowed were spent.
	ErrGaveUp = errors.New("webhook delivery gave up")
	// ErrClosed: the Deliverer was closed before the delivery succeeded.
	ErrClosed = errors.New("webhook deliverer closed")
)

// DelivererConfig configures a Deliverer. Only Secret is required.
type DelivererConfig struct {
	// Secret is the app secret that keys X-Hub-Signature-256. Required.
	Secret string
	// Client sends the requests. Defaults to a new http.Client.
	Client *http.Client
	// InitialInterval is the wait before the first retry. Defaults to
	// DefaultInitialInterval.
	InitialInterval time.Duration
	// MaxInterval caps the wait between attempts. Defaults to
	// DefaultMaxInterval.
	MaxInterval time.Duration
	// Multiplier grows the wait after each attempt (with ±50% jitter).
	// Defaults to DefaultMultiplier.
	Multiplier float64
	// MaxElapsedTime bounds the time from the first attempt after which no
	// new attempt starts. Defaults to DefaultMaxElapsedTime (Meta's 7 days);
	// negative means no time bound (then MaxAttempts must be set).
	MaxElapsedTime time.Duration
	// MaxAttempts bounds the attempts, the first included. Defaults to 0:
	// bounded by MaxElapsedTime only.
	MaxAttempts int
	// AttemptTimeout bounds one attempt, answer body included. Defaults to
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Logger gets a line per failed attempt (debug) and per outcome.
	// Defaults to discarding.
	Logger *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c DelivererConfig) WithDefaults() DelivererConfig {
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = DefaultInitialInterval
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = DefaultMaxInterval
	}
	if c.Multiplier < 1 {
		c.Multiplier = DefaultMultiplier
	}
	if c.MaxElapsedTime == 0 {
		c.MaxElapsedTime = DefaultMaxElapsedTime
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c DelivererConfig) validate() error {
	switch {
	case c.Secret == "":
		return errors.New("metahook: DelivererConfig.Secret is required")
	case c.MaxElapsedTime < 0 && c.MaxAttempts <= 0:
		return errors.New("metahook: a delivery must be bounded: set MaxElapsedTime or MaxAttempts")
	}
	return nil
}

// Deliverer POSTs signed webhook deliveries in the background and retries
// each with exponential backoff until it is answered 200, like Meta. It is
// safe for concurrent use. Close it to stop.
type Deliverer struct {
	cfg    DelivererConfig
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewDeliverer returns a Deliverer, or an error naming what cfg lacks.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Deliverer{cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// Result is how a delivery ended.
type Result struct {
	// Attempts made, the first included.
	Attempts int
	// Status is the HTTP status of the last answer; 0 when none came.
	Status int
	// Err is nil when the callback answered 200; else it wraps ErrGaveUp or
	// ErrClosed and names the last failure.
	Err error
	// Elapsed is the time from the first attempt to the outcome.
	Elapsed time.Duration
}

// Delivered reports whether the callback answered 200.
func (r Result) Delivered() bool { return r.Err == nil }

// Delivery is one webhook on its way. Wait for it or watch Done.
type Delivery struct {
	done chan struct{}
	res  Result
}

// Done is closed when the delivery succeeded or gave up.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Wait returns the delivery's result once it is known, or ctx's error if ctx
// ends first.
func (d *Delivery) Wait(ctx context.Context) (Result, error) {
	select {
	case <-d.done:
		return d.res, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func finished(res Result) *Delivery {
	d := &Delivery{done: make(chan struct{}), res: res}
	close(d.done)
	return d
}

// Deliver starts delivering body to url and returns at once. The body is
// signed with the app secret (X-Hub-Signature-256 and Meta's legacy
// X-Hub-Signature) and sent as application/json; it is copied, so the
// caller may reuse it. A Deliverer that is closed returns a delivery that
// has already failed with ErrClosed.
func (d *Deliverer) Deliver(url string, body []byte) *Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return finished(Result{Err: ErrClosed})
	}
	dl := &Delivery{done: make(chan struct{})}
	body = bytes.Clone(body)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(dl.done)
		dl.res = d.run(url, body)
	}()
	return dl
}

// DeliverEnvelope marshals e and delivers it as Deliver does. An envelope
// that does not marshal (a change value that is not JSON) gives a delivery
// that has already failed.
func (d *Deliverer) DeliverEnvelope(url string, e Envelope) *Delivery {
	body, err := e.Marshal()
	if err != nil {
		return finished(Result{Err: fmt.Errorf("%w: envelope: %v", ErrGaveUp, err)})
	}
	return d.Deliver(url, body)
}

// Close stops retrying: deliveries still pending end with ErrClosed (an
// attempt in flight is canceled). It returns when they all have ended.
func (d *Deliverer) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

func (d *Deliverer) run(url string, body []byte) Result {
	headers := http.Header{
		"Content-Type":        {"application/json"},
		"User-Agent":          {UserAgent},
		SignatureHeader:       {Sign(d.cfg.Secret, body)},
		LegacySignatureHeader: {SignLegacy(d.cfg.Secret, body)},
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d.cfg.InitialInterval),
		backoff.WithMaxInterval(d.cfg.MaxInterval),
		backoff.WithMultiplier(d.cfg.Multiplier),
		backoff.WithMaxElapsedTime(max(d.cfg.MaxElapsedTime, 0)),
	)
	start := time.Now()
	log := d.cfg.Logger.With("url", url)
	var res Result
	for {
		res.Attempts++
		var err error
		res.Status, err = d.attempt(url, body, headers)
		if err == nil && res.Status != http.StatusOK {
			err = fmt.Errorf("answered %d", res.Status)
		}
		res.Elapsed = time.Since(start)
		if err == nil {
			log.Info("webhook delivered", "attempts", res.Attempts, "elapsed", res.Elapsed)
			return res
		}
		wait := b.NextBackOff()
		if (d.cfg.MaxAttempts > 0 && res.Attempts >= d.cfg.MaxAttempts) || wait == backoff.Stop {
			res.Err = fmt.Errorf("%w after %d attempts in %s: %v", ErrGaveUp, res.Attempts, res.Elapsed.Round(time.Millisecond), err)
			log.Warn("webhook delivery gave up", "attempts", res.Attempts, "error", err)
			return res
		}
		log.Debug("webhook delivery failed, retrying", "attempt", res.Attempts, "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			res.Err = fmt.Errorf("%w after %d attempts: %v", ErrClosed, res.Attempts, err)
			return res
		}
	}
}

// attempt POSTs once and returns the answer's status.
func (d *Deliverer) attempt(url string, body []byte, headers http.Header) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = headers.Clone()
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read (a bounded part of) the answer so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
