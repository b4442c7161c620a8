package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

// Handler is the gateway. Create it with New.
type Handler struct {
	cfg Config
	log *slog.Logger
	obs Observer
}

// New returns the gateway, or an error naming what cfg lacks.
func New(cfg Config) (*Handler, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, log: cfg.Logger, obs: cfg.Observer}, nil
}

// ServeHTTP answers Meta's verification requests (GET) and deliveries
// (POST) on the configured path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	var outcome string
	switch {
	case r.URL.Path != h.cfg.Path:
		outcome = OutcomeNotFound
		http.NotFound(w, r)
	case r.Method == http.MethodGet:
		outcome = h.verify(w, r)
	case r.Method == http.MethodPost:
		outcome = h.deliver(w, r)
	default:
		outcome = OutcomeMethodNotAllowed
		w.Header().Set("Allow", "GET, POST")
		text(w, http.StatusMethodNotAllowed, "method not allowed")
	}
	h.obs.Request(outcome, time.Since(start))
}

// verify answers the verification request Meta sends when the callback URL
// is configured.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) string {
	q := r.URL.Query()
	want, err := h.cfg.VerifyToken()
	if err != nil || want == "" {
		h.log.Error("webhook verification request, but the verify token is unavailable", "error", errText(err, "empty"))
		text(w, http.StatusServiceUnavailable, "verify token unavailable")
		return OutcomeConfigError
	}
	if q.Get("hub.mode") != "subscribe" || !equal(q.Get("hub.verify_token"), want) {
		h.log.Warn("webhook verification request refused: wrong hub.mode or hub.verify_token", "hub_mode", clip(q.Get("hub.mode")))
		text(w, http.StatusForbidden, "verification failed")
		return OutcomeVerifyRejected
	}
	h.log.Info("webhook verification request answered")
	text(w, http.StatusOK, q.Get("hub.challenge"))
	return OutcomeVerified
}

// equal compares in constant time, the lengths too (hashing first).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// deliver verifies, publishes and answers one delivery.
func (h *Handler) deliver(w http.ResponseWriter, r *http.Request) string {
	if r.ContentLength > h.cfg.MaxBody {
		h.log.Warn("webhook body too large", "bytes", r.ContentLength, "max", h.cfg.MaxBody)
		text(w, http.StatusRequestEntityTooLarge, "body too large")
		return OutcomeTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.log.Warn("webhook body too large", "max", h.cfg.MaxBody)
			text(w, http.StatusRequestEntityTooLarge, "body too large")
			return OutcomeTooLarge
		}
		h.log.Warn("webhook body could not be read", "error", err)
		text(w, http.StatusBadRequest, "body could not be read")
		return OutcomeReadError
	}
	secret, err := h.cfg.AppSecret()
	if err != nil || secret == "" {
		h.log.Error("webhook delivery, but the app secret is unavailable: answering 503 so Meta delivers again", "error", errText(err, "empty"))
		text(w, http.StatusServiceUnavailable, "app secret unavailable")
		return OutcomeConfigError
	}
	if err := metahook.Verify(secret, body, r.Header.Get(metahook.SignatureHeader)); err != nil {
		if errors.Is(err, metahook.ErrNoSignature) {
			h.obs.SignatureFailure(SignatureMissing)
			h.log.Warn("webhook delivery without "+metahook.SignatureHeader+" refused", "remote", r.RemoteAddr)
			text(w, http.StatusUnauthorized, "missing signature")
			return OutcomeUnsigned
		}
		h.obs.SignatureFailure(SignatureMismatch)
		h.log.Warn("webhook delivery with a bad signature refused", "error", err, "remote", r.RemoteAddr)
		text(w, http.StatusForbidden, "bad signature")
		return OutcomeBadSignature
	}
	changes, err := ParseEnvelope(body)
	if err != nil {
		h.log.Warn("signed webhook delivery is not Meta's envelope", "error", err, "bytes", len(body))
		text(w, http.StatusBadRequest, "not a webhook envelope")
		return OutcomeBadEnvelope
	}

	msgs, mapped := h.plan(changes)
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.PublishTimeout)
	defer cancel()
	pubStart := time.Now()
	err = h.publish(ctx, msgs)
	h.obs.Published(len(msgs), time.Since(pubStart), err)
	if err != nil {
		h.log.Error("webhook delivery not stored: answering 503 so Meta delivers again", "error", err,
			"changes", len(changes), "messages", len(msgs))
		text(w, http.StatusServiceUnavailable, "not stored, deliver again")
		return OutcomeUnavailable
	}
	for i, c := range changes {
		m := mapped[i]
		h.obs.Change(c.Field, m.Event, m.Result)
		switch m.Result {
		case ResultShared:
			h.log.Info("webhook: WABA shared", "event", m.Event, "event_id", m.Shared.ID, "waba_id", m.Shared.WabaID, "business_id", m.Shared.BusinessID)
		case ResultUnshared:
			h.log.Info("webhook: WABA unshared", "event", m.Event, "event_id", m.Unshared.ID, "waba_id", m.Unshared.WabaID)
		case ResultUnmapped:
			h.log.Warn("webhook: event stored raw only, it could not be mapped", "event", m.Event, "field", c.Field,
				"entry_id", clip(c.EntryID), "msg_id", c.MsgID(), "problem", m.Problem)
		}
	}
	h.log.Debug("webhook delivery stored", "changes", len(changes), "messages", len(msgs))
	text(w, http.StatusOK, "ok")
	return OutcomeAccepted
}

// outbound is one message to publish.
type outbound struct {
	subject, msgID, stream string
	data                   []byte
}

// plan turns the changes into the messages to publish: each change raw, then
// the events some of them become.
func (h *Handler) plan(changes []Change) ([]outbound, []Mapped) {
	msgs := make([]outbound, 0, len(changes)+1)
	mapped := make([]Mapped, len(changes))
	for i, c := range changes {
		id := c.MsgID()
		msgs = append(msgs, outbound{subject: c.Subject(h.cfg.SubjectPrefix), msgID: id, stream: h.cfg.Stream, data: c.Encode()})
		m := Map(c)
		mapped[i] = m
		var ev any
		subject := ""
		switch m.Result {
		case ResultShared:
			ev, subject = m.Shared, h.cfg.SharedSubject
		case ResultUnshared:
			ev, subject = m.Unshared, h.cfg.UnsharedSubject
		default:
			continue
		}
		data, _ := json.Marshal(ev) // strings only: cannot fail
		msgs = append(msgs, outbound{subject: subject, msgID: id, stream: h.cfg.EventsStream, data: data})
	}
	return msgs, mapped
}

// publish publishes every message asynchronously and waits once for all
// their PubAcks, within ctx. The first failure is returned; the messages
// published before it stay (their ids make Meta's redelivery harmless).
func (h *Handler) publish(ctx context.Context, msgs []outbound) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := h.cfg.JetStream.PublishMsgAsync(&nats.Msg{Subject: m.subject, Data: m.data},
			jetstream.WithMsgID(m.msgID), jetstream.WithExpectStream(m.stream))
		if err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				err = fmt.Errorf("%w (%d bytes; raise the server's max_payload)", err, len(m.data))
			}
			return fmt.Errorf("publish %s: %w", m.subject, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", msgs[i].subject, err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d PubAcks: %w", len(futures)-i, context.Cause(ctx))
		}
	}
	return nil
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func errText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// clip bounds what a log line repeats from a request.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
