package metahook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wabaworker/waba-worker/internal/metahook"
)

// Known answer: HMAC-SHA256 of "hello" keyed by "secret" (RFC 2104 test
// tools agree).
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	const want = "sha256=88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b"
	if got := metahook.Sign("secret", []byte("hello")); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if got := metahook.SignLegacy("secret", []byte("hello")); !strings.HasPrefix(got, "sha1=") || len(got) != 5+40 {
		t.Fatalf("SignLegacy = %s", got)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	good := metahook.Sign("s3cret", body)
	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"good", good, nil},
		{"upper-case prefix and hex", "SHA256=" + strings.ToUpper(good[7:]), nil},
		{"surrounding blanks", "  " + good + " ", nil},
		{"missing", "", metahook.ErrNoSignature},
		{"blank", "   ", metahook.ErrNoSignature},
		{"other key", metahook.Sign("other", body), metahook.ErrBadSignature},
		{"other body", metahook.Sign("s3cret", append(body, ' ')), metahook.ErrBadSignature},
		{"sha1 only", metahook.SignLegacy("s3cret", body), metahook.ErrBadSignature},
		{"no prefix", good[7:], metahook.ErrBadSignature},
		{"not hex", "sha256=zz" + good[9:], metahook.ErrBadSignature},
		{"short", good[:40], metahook.ErrBadSignature},
		{"prefix only", "sha256=", metahook.ErrBadSignature},
	}
	for _, c := range cases {
		err := metahook.Verify("s3cret", body, c.header)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error names the secret: %v", c.name, err)
		}
	}
}
