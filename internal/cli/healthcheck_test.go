package cli

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "nats: disconnected", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	noenv := func(string) (string, bool) { return "", false }

	for _, tc := range []struct {
		url      string
		wantCode int // 0: no error
		want     string
	}{
		{srv.URL + "/readyz", 0, "200 OK ok"},
		{srv.URL + "/other", 1, "503 Service Unavailable nats: disconnected"},
		{"http://127.0.0.1:1/readyz", 1, "connection refused"},
	} {
		var stdout bytes.Buffer
		err := Run(t.Context(), []string{"healthcheck", "--url", tc.url}, noenv, &stdout, &bytes.Buffer{})
		var ee *ExitError
		switch {
		case tc.wantCode == 0 && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.wantCode == 0 && !strings.Contains(stdout.String(), tc.want):
			t.Errorf("%s: printed %q, want %q", tc.url, stdout.String(), tc.want)
		case tc.wantCode != 0 && (!errors.As(err, &ee) || ee.Code != tc.wantCode):
			t.Errorf("%s: err %v, want exit %d", tc.url, err, tc.wantCode)
		case tc.wantCode != 0 && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: err %q, want it to hold %q", tc.url, err, tc.want)
		}
	}
}

func TestReadyzURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:8080/readyz",
		":9000":          "http://127.0.0.1:9000/readyz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://127.0.0.1:8080/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"not an address": "http://127.0.0.1:8080/readyz",
	} {
		if got := readyzURL(addr); got != want {
			t.Errorf("readyzURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
