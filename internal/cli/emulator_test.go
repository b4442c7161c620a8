package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/emulator"
)

// startEmulator runs `worker graph-emulator args...` until the test ends
// and returns its URL and its log.
func startEmulator(t *testing.T, args ...string) (url string, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cliRun(ctx, map[string]string{"LOG_FORMAT": "json"}, &stdout, &stderr,
			append([]string{"graph-emulator", "--addr", "127.0.0.1:0"}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("graph-emulator returned %v after Ctrl-C, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("graph-emulator did not stop within 10s")
		}
	})
	waitFor(t, "the emulator to listen", 10*time.Second, func() bool {
		for _, l := range jsonLines(stderr.String()) {
			if l["msg"] == "graph emulator listening" {
				url = l["url"].(string)
				return true
			}
		}
		select {
		case err := <-done:
			t.Fatalf("graph-emulator returned %v:\n%s", err, stderr.String())
		default:
		}
		return false
	})
	return url, &stderr
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Without --seed it serves the dev world, logging one line per request.
func TestGraphEmulatorServesAndLogsEachRequest(t *testing.T) {
	t.Parallel()
	url, logs := startEmulator(t)
	code, body := get(t, url+"/v25.0/"+emulator.DevBusinessID+"/system_users", emulator.DevAdminToken)
	if code != 200 || !strings.Contains(body, `"name":"waba-worker"`) {
		t.Fatalf("system_users: %d %s", code, body)
	}
	code, body = get(t, url+"/v25.0/999/assigned_users?business="+emulator.DevBusinessID, emulator.DevAdminToken)
	if code != 400 || !strings.Contains(body, `"error_subcode":33`) {
		t.Fatalf("unknown WABA: %d %s", code, body)
	}
	var lines []map[string]any
	waitFor(t, "two request lines", 5*time.Second, func() bool {
		lines = nil
		for _, l := range jsonLines(logs.String()) {
			if l["msg"] == "graph request" {
				lines = append(lines, l)
			}
		}
		return len(lines) == 2
	})
	if lines[0]["status"] != float64(200) || lines[1]["status"] != float64(400) || lines[1]["code"] != float64(100) {
		t.Errorf("request lines: %v", lines)
	}
	if strings.Contains(logs.String(), emulator.DevAdminToken) {
		t.Error("the token appears in the log")
	}
}

// --seed serves another world; --app-secret requires appsecret_proof;
// --print-seed prints a seed that --seed reads back.
func TestGraphEmulatorSeedFile(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), nil, "graph-emulator", "--print-seed")
	if r.code != 0 {
		t.Fatalf("--print-seed: exit %d, %s", r.code, r.stderr)
	}
	if _, err := emulator.LoadSeed(strings.NewReader(r.stdout)); err != nil {
		t.Fatalf("--print-seed's output does not load: %v\n%s", err, r.stdout)
	}

	seed := emulator.Seed{Businesses: []emulator.Business{{ID: "42", SystemUsers: []emulator.SystemUser{
		{ID: "4201", Name: "bsp-bot", Role: emulator.RoleAdmin, Token: "tok-42"}}, WABAs: []emulator.WABA{{ID: "4299"}}}}}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(seed); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startEmulator(t, "--seed", file)
	if code, body := get(t, url+"/v25.0/42/system_users", "tok-42"); code != 200 || !strings.Contains(body, `"bsp-bot"`) {
		t.Errorf("seeded business: %d %s", code, body)
	}
	if code, _ := get(t, url+"/v25.0/42/system_users", emulator.DevAdminToken); code != 401 {
		t.Errorf("the dev token works against a seed without it: %d", code)
	}

	url, _ = startEmulator(t, "--seed", file, "--app-secret", "s3cret")
	if code, body := get(t, url+"/v25.0/42/system_users", "tok-42"); code != 400 || !strings.Contains(body, "appsecret_proof") {
		t.Errorf("without appsecret_proof: %d %s", code, body)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"businesses":[],"nope":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t.Context(), nil, "graph-emulator", "--seed", bad); r.code != 2 || !strings.Contains(r.stderr, `unknown field "nope"`) {
		t.Errorf("bad seed: exit %d, stderr %q", r.code, r.stderr)
	}
}
