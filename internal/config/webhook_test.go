package config_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/health"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

func webhookMinimal() map[string]string {
	return map[string]string{"WEBHOOK_VERIFY_TOKEN": "verify-secret", "GRAPH_APP_SECRET": "app-secret"}
}

// `worker webhook` needs only the verify token and the app secret; every
// default comes from the package that owns the setting.
func TestWebhookDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.LoadWebhook(nil, env(webhookMinimal()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != nats.DefaultURL || !c.Provision || c.EventsStream != "WABA" || c.SharedSubject != "waba.shared" ||
		c.Addr != webhook.DefaultAddr || c.Path != webhook.DefaultPath || c.Stream != webhook.DefaultStream ||
		c.MaxAge != webhook.DefaultMaxAge || c.HTTPAddr != health.DefaultAddr || c.LogFormat != "auto" {
		t.Errorf("defaults: %+v", c)
	}
	if c.VerifyToken.Value != "verify-secret" || c.AppSecret.Value != "app-secret" {
		t.Errorf("secrets: %v %v", c.VerifyToken, c.AppSecret)
	}
	c, err = config.LoadWebhook([]string{"--webhook-addr", ":9443", "--verify-token-file", "/etc/hostname", "--stream", "EVENTS"},
		env(map[string]string{"GRAPH_APP_SECRET_FILE": "/etc/hostname", "WEBHOOK_ADDR": ":1"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9443" || c.VerifyToken.File != "/etc/hostname" || c.AppSecret.File != "/etc/hostname" || c.EventsStream != "EVENTS" {
		t.Errorf("flags and files: %+v", c)
	}
}

// The rows `worker webhook` shares with `worker run` are the same rows:
// same variable, flag and default.
func TestWebhookSharesRunRows(t *testing.T) {
	t.Parallel()
	run := map[string]string{}
	for _, v := range config.Variables() {
		run[v[0]] = v[1]
	}
	var runHelp, hookHelp bytes.Buffer
	if _, err := config.Load([]string{"--help"}, env(nil), &runHelp); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if _, err := config.LoadWebhook([]string{"--help"}, env(nil), &hookHelp); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	flagOf := func(help, env string) string {
		m := regexp.MustCompile(`(?m)^  (--[a-z-]+)\n.*\[\$` + env + `\]$`).FindStringSubmatch(help)
		if m == nil {
			return ""
		}
		return m[1]
	}
	shared := 0
	for _, v := range config.WebhookVariables() {
		def, ok := run[v[0]]
		if !ok {
			if !strings.HasPrefix(v[0], "WEBHOOK_") {
				t.Errorf("%s is neither worker run's nor a WEBHOOK_ variable", v[0])
			}
			continue
		}
		shared++
		if def != v[1] {
			t.Errorf("%s: default %q here, %q in worker run", v[0], v[1], def)
		}
		if a, b := flagOf(hookHelp.String(), v[0]), flagOf(runHelp.String(), v[0]); a == "" || a != b {
			t.Errorf("%s: flag %q here, %q in worker run", v[0], a, b)
		}
	}
	if shared < 10 {
		t.Errorf("only %d shared rows", shared)
	}
}

// README's table of `worker webhook` names every variable with its default.
func TestREADMEWebhookTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "### worker webhook")
	if start < 0 {
		t.Fatal("README has no \"### worker webhook\" section")
	}
	text = text[start:]
	if end := strings.Index(text[4:], "\n## "); end > 0 {
		text = text[:end+4]
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \\|\\s*([^|]*?)\\s*\\|")
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		for _, name := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(m[1], -1) {
			rows[name[1]] = strings.TrimSpace(m[2])
		}
	}
	for _, v := range config.WebhookVariables() {
		got, ok := rows[v[0]]
		if !ok {
			t.Errorf("README's worker webhook table lacks %s", v[0])
			continue
		}
		if v[1] != "" && got != "`"+v[1]+"`" {
			t.Errorf("README says %s defaults to %s, the code says %q", v[0], got, v[1])
		}
	}
}
