package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

// ControlPrefix is the path prefix of the emulator's own control endpoints,
// which no Graph path can take (Graph paths start with a version):
//
//	POST /_emulator/webhooks  {"callback_url": "...", "app_secret": "..."}
//	                          sets the webhook subscription ({} removes it)
//	GET  /_emulator/webhooks  {"callback_url": "...", "app_secret_set": true}
//	POST /_emulator/share     {"business_id": "...", "waba_id": "...",
//	                           "owner_business_id": "...", "wait": "10s"}
//	                          shares a WABA "through Embedded Signup" and
//	                          delivers the signed PARTNER_ADDED
//	POST /_emulator/unshare   the same for PARTNER_REMOVED
//
// business_id defaults to the only business when there is one. With "wait",
// share and unshare answer once the delivery got a 200 (or the wait ended),
// with its attempts and last status; without, at once (202).
const ControlPrefix = "/_emulator/"

// ShareRequest is the body of POST /_emulator/share and /_emulator/unshare.
type ShareRequest struct {
	BusinessID      string `json:"business_id,omitempty"`
	WabaID          string `json:"waba_id"`
	OwnerBusinessID string `json:"owner_business_id,omitempty"`
	// Wait, a duration such as "10s", waits for the delivery's outcome.
	Wait string `json:"wait,omitempty"`
}

// ShareAnswer is the answer of POST /_emulator/share and /_emulator/unshare.
type ShareAnswer struct {
	Success    bool   `json:"success"`
	Event      string `json:"event"`
	BusinessID string `json:"business_id"`
	WabaID     string `json:"waba_id"`
	// Delivery is "pending", "delivered" or "failed" (Error says why).
	Delivery string `json:"delivery"`
	Attempts int    `json:"attempts,omitempty"`
	Status   int    `json:"status,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	route := strings.TrimPrefix(r.URL.Path, ControlPrefix)
	switch {
	case route == "webhooks" && r.Method == http.MethodGet:
		sub := s.Webhook()
		controlJSON(w, http.StatusOK, map[string]any{"callback_url": sub.CallbackURL, "app_secret_set": sub.AppSecret != ""})
	case route == "webhooks" && r.Method == http.MethodPost:
		var sub WebhookSubscription
		if !decodeControl(w, r, &sub) {
			return
		}
		if err := s.SetWebhook(sub); err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		s.controlLog("webhook subscription set", "callback_url", sub.CallbackURL)
		controlJSON(w, http.StatusOK, map[string]any{"success": true})
	case (route == "share" || route == "unshare") && r.Method == http.MethodPost:
		s.serveShare(w, r, route == "share")
	default:
		controlError(w, http.StatusNotFound, errors.New("no such control endpoint: "+r.Method+" "+r.URL.Path))
	}
}

func (s *Server) serveShare(w http.ResponseWriter, r *http.Request, share bool) {
	var req ShareRequest
	if !decodeControl(w, r, &req) {
		return
	}
	var wait time.Duration
	if req.Wait != "" {
		d, err := time.ParseDuration(req.Wait)
		if err != nil || d < 0 || d > 10*time.Minute {
			controlError(w, http.StatusBadRequest, errors.New(`wait must be a duration from 0 to 10m, such as "10s"`))
			return
		}
		wait = d
	}
	if req.BusinessID == "" {
		req.BusinessID = s.onlyBusiness()
	}
	event, do := metahook.EventPartnerAdded, s.ShareWithWebhook
	if !share {
		event, do = metahook.EventPartnerRemoved, s.UnshareWithWebhook
	}
	dl, err := do(req.BusinessID, req.WabaID, req.OwnerBusinessID)
	switch {
	case errors.Is(err, ErrNoWebhook):
		controlError(w, http.StatusConflict, err)
		return
	case err != nil:
		controlError(w, http.StatusBadRequest, err)
		return
	}
	s.controlLog("webhook sent: "+event, "business_id", req.BusinessID, "waba_id", req.WabaID)
	ans := ShareAnswer{Success: true, Event: event, BusinessID: req.BusinessID, WabaID: req.WabaID, Delivery: "pending"}
	if wait <= 0 {
		controlJSON(w, http.StatusAccepted, ans)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	res, err := dl.Wait(ctx)
	switch {
	case err != nil:
		controlJSON(w, http.StatusAccepted, ans)
		return
	case res.Delivered():
		ans.Delivery = "delivered"
	default:
		ans.Delivery, ans.Error = "failed", res.Err.Error()
	}
	ans.Attempts, ans.Status = res.Attempts, res.Status
	controlJSON(w, http.StatusOK, ans)
}

// onlyBusiness is the id of the only business, or "" when there are several.
func (s *Server) onlyBusiness() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.businesses) != 1 {
		return ""
	}
	for id := range s.businesses {
		return id
	}
	return ""
}

func (s *Server) controlLog(msg string, args ...any) {
	if s.logger != nil {
		s.logger.Info("graph emulator: "+msg, args...)
	}
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, errors.New("body: "+err.Error()))
		return false
	}
	return true
}

func controlJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func controlError(w http.ResponseWriter, status int, err error) {
	controlJSON(w, status, map[string]any{"error": map[string]string{"message": err.Error()}})
}
