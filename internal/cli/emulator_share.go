package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/emulator"
)

// runEmulatorShare is `worker graph-emulator share|unshare`: it asks a
// running emulator to share (or unshare) a WABA as Embedded Signup does,
// which delivers the signed account_update to the emulator's callback URL.
func runEmulatorShare(ctx context.Context, verb string, args []string, env config.LookupEnv, stdout io.Writer) error {
	getenv := getter(env)
	fs := newFlagSet("worker graph-emulator " + verb)
	var (
		base string
		req  emulator.ShareRequest
		wait time.Duration
	)
	def := "http://127.0.0.1" + emulator.DefaultAddr
	if v := getenv("GRAPH_BASE_URL"); v != "" {
		def = v
	}
	fs.StringVar(&base, "url", def, "the running emulator's base `URL` [$GRAPH_BASE_URL]")
	fs.StringVar(&req.WabaID, "waba-id", "", "the WABA `id` (created when new, for share)")
	fs.StringVar(&req.BusinessID, "business-id", "", "the partner business `id` (default: the emulator's only business)")
	fs.StringVar(&req.OwnerBusinessID, "owner-business-id", "", "the customer's business `id` in waba_info (default "+emulator.DevOwnerBusinessID+")")
	fs.DurationVar(&wait, "wait", 0, "wait up to this `duration` for the callback to answer 200")
	event := "PARTNER_ADDED"
	if verb == "unshare" {
		event = "PARTNER_REMOVED"
	}
	h := help{
		usage: "worker graph-emulator " + verb + " --waba-id ID [flags]",
		about: []string{
			fmt.Sprintf("Asks a running `worker graph-emulator --webhook-url ...` to %s a WABA as a customer finishing", verb),
			fmt.Sprintf("Embedded Signup does; it delivers a signed account_update %s to its", event),
			"callback URL, retrying with backoff until answered 200. Prints the emulator's answer (JSON).",
		},
		example: []string{"worker graph-emulator " + verb + " --url http://127.0.0.1:8090 --waba-id 102290129340500 --wait 30s"},
	}
	if err := parse(fs, h, args, stdout); err != nil {
		return err
	}
	if req.WabaID == "" {
		return usageError("--waba-id is required (see 'worker graph-emulator %s --help')", verb)
	}
	if wait > 0 {
		req.Wait = wait.String()
	}
	body, _ := json.Marshal(req)
	rctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimRight(base, "/")+emulator.ControlPrefix+verb, bytes.NewReader(body))
	if err != nil {
		return usageError("--url: %v", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("graph emulator at %s: %w", base, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprint(stdout, string(out))
	if resp.StatusCode >= 300 {
		return &ExitError{Code: 1, Err: fmt.Errorf("graph emulator answered %d", resp.StatusCode)}
	}
	var ans emulator.ShareAnswer
	if json.Unmarshal(out, &ans) == nil && wait > 0 && ans.Delivery != "delivered" {
		return &ExitError{Code: 1, Err: fmt.Errorf("webhook not delivered within %s (%s)", wait, ans.Delivery)}
	}
	return nil
}
