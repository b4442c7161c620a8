package dev

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// The webhook gateway of `worker dev`: its address (a free port when taken),
// and the verify token and app secret it and the emulator share.
const (
	DefaultWebhookAddr = "127.0.0.1:8081"
	DevVerifyToken     = "dev-verify-token"
	DevAppSecret       = "dev-app-secret"
)

// SignupWABAID is the WABA the demo shares "through Embedded Signup": new to
// the emulator, announced by the webhook alone.
const SignupWABAID = "102290129340500"

// startGateway runs `worker webhook` (gateway.Run) against the embedded NATS
// on addr and points the emulator's webhook subscription at it. The stream
// META_WEBHOOKS is created first, so the first delivery finds it. stop ends
// the gateway gracefully.
func startGateway(ctx context.Context, js jetstream.JetStream, env *Env, addr string, log *slog.Logger) (stop func() error, err error) {
	if _, err := js.Stream(ctx, webhook.DefaultStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, webhook.StreamConfig(webhook.DefaultStream, webhook.DefaultMaxAge, 1)); err != nil {
			return nil, fmt.Errorf("dev: stream %s: %w", webhook.DefaultStream, err)
		}
	}
	ln, err := listen(addr, "webhook gateway", addr == DefaultWebhookAddr, log)
	if err != nil {
		return nil, err
	}
	addr = ln.Addr().String()
	_ = ln.Close()
	cfg, err := config.LoadWebhook(nil, config.MapEnv(map[string]string{
		"NATS_URL":             env.NATSURL,
		"WEBHOOK_ADDR":         addr,
		"WEBHOOK_VERIFY_TOKEN": DevVerifyToken,
		"GRAPH_APP_SECRET":     DevAppSecret,
		"HTTP_ADDR":            "",
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("dev: webhook gateway configuration: %w", err)
	}
	gctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(gctx, cfg, gateway.Options{Logger: log,
			OnListen: func(wa, _ net.Addr) { listening <- wa }})
	}()
	select {
	case a := <-listening:
		env.WebhookURL = "http://" + a.String() + cfg.Path
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("dev: webhook gateway: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return nil, ctx.Err()
	}
	if err := env.Graph.SetWebhook(emulator.WebhookSubscription{CallbackURL: env.WebhookURL, AppSecret: DevAppSecret,
		InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second}); err != nil {
		cancel()
		<-done
		return nil, fmt.Errorf("dev: %w", err)
	}
	return func() error { cancel(); return <-done }, nil
}

// demoSignup shares SignupWABAID "through Embedded Signup": the emulator
// sends the signed PARTNER_ADDED to the gateway, which publishes the
// waba.shared the worker then works. It returns the WABA id to wait for, or
// "" when the share could not start.
func demoSignup(ctx context.Context, emu *emulator.Server, log *slog.Logger) string {
	dl, err := emu.ShareWithWebhook(emulator.DevBusinessID, SignupWABAID, "")
	if err != nil {
		log.Error("demo: Embedded Signup share failed", "error", err.Error())
		return ""
	}
	log.Info("demo: Embedded Signup: the emulator sends Meta's signed account_update to the gateway",
		"event", "PARTNER_ADDED", "waba_id", SignupWABAID)
	go func() {
		res, err := dl.Wait(ctx)
		switch {
		case err != nil:
		case res.Delivered():
			log.Info("demo: the gateway answered Meta 200 once JetStream stored it", "attempts", res.Attempts)
		default:
			log.Warn("demo: webhook not delivered", "error", res.Err.Error())
		}
	}()
	return SignupWABAID
}

// gatewayLog passes the gateway's warnings and errors, and its lines about
// what a webhook became ("webhook: WABA shared ..."), to h: what `make run`
// should show, without the gateway's start-up chatter.
type gatewayLog struct{ slog.Handler }

func (g gatewayLog) Enabled(ctx context.Context, l slog.Level) bool { return g.Handler.Enabled(ctx, l) }

func (g gatewayLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && !strings.HasPrefix(r.Message, "webhook: ") {
		return nil
	}
	return g.Handler.Handle(ctx, r)
}

func (g gatewayLog) WithAttrs(as []slog.Attr) slog.Handler {
	return gatewayLog{g.Handler.WithAttrs(as)}
}

func (g gatewayLog) WithGroup(name string) slog.Handler { return gatewayLog{g.Handler.WithGroup(name)} }
