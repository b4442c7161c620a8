package deploy_test

import (
	"os"
	"regexp"
	"testing"
)

// docker-compose.yml's default image names are the ones the Makefile builds,
// so that plain docker-compose commands find them: the NATS image's tag is
// the nats-server version go.mod pins.
func TestComposeImageDefaults(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/nats-io/nats-server/v2")
	}
	for _, want := range []string{"${NATS_IMAGE:-waba-nats:" + string(m[1]) + "}", "${WORKER_IMAGE:-waba-worker:dev}"} {
		if !regexp.MustCompile(regexp.QuoteMeta("image: " + want)).Match(compose) {
			t.Errorf("docker-compose.yml lacks image: %s", want)
		}
	}
}
