package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wabaworker/waba-worker/internal/config"
)

func healthcheckHelp() help {
	return help{
		usage: "worker healthcheck [flags]",
		about: []string{
			"Asks the running worker's /readyz (or --url) and exits 0 when it answers 200, 1",
			"otherwise, printing one line about the answer. It is the health check of the",
			"container image, which has no shell and no curl (docker-compose.yml uses it).",
		},
		env: []string{
			"HTTP_ADDR   the worker's address, for the default --url (default \":8080\")",
		},
		example: []string{
			"worker healthcheck --url http://127.0.0.1:8080/readyz --timeout 2s",
		},
	}
}

func runHealthcheck(ctx context.Context, args []string, env config.LookupEnv, stdout, _ io.Writer) error {
	getenv := getter(env)
	fs := newFlagSet("worker healthcheck")
	var (
		url     string
		timeout time.Duration
	)
	fs.StringVar(&url, "url", readyzURL(getenv("HTTP_ADDR")), "URL to GET [$HTTP_ADDR]")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	if err := parse(fs, healthcheckHelp(), args, stdout); err != nil {
		return err
	}
	if timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageError("--url: %v", err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("healthcheck: %w", err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	line := fmt.Sprintf("%s %s", resp.Status, strings.Join(strings.Fields(string(body)), " "))
	if resp.StatusCode != http.StatusOK {
		return &ExitError{Code: 1, Err: fmt.Errorf("healthcheck: %s", line)}
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// readyzURL is /readyz on the loopback address of HTTP_ADDR (":8080" when
// unset; a wildcard or empty host becomes 127.0.0.1).
func readyzURL(addr string) string {
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080/readyz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
