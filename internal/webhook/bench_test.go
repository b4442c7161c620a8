package webhook_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/metahook"
	"github.com/wabaworker/waba-worker/internal/natstest"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// BenchmarkPost is one signed delivery, answered 200 after every PubAck,
// through real HTTP and an in-process JetStream (file storage). Each
// iteration's changes are new (no duplicates), as Meta's traffic mostly is.
// Signing the body on the client side is included.
func BenchmarkPost(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("changes=%d", n), func(b *testing.B) {
			ns := natstest.Start(b)
			_, js := ns.Connect()
			ctx := testCtx(b)
			if _, err := js.CreateStream(ctx, webhook.StreamConfig(webhook.DefaultStream, webhook.DefaultMaxAge, 1)); err != nil {
				b.Fatal(err)
			}
			h, err := webhook.New(webhook.Config{JetStream: js, AppSecret: webhook.Static(appSecret), VerifyToken: webhook.Static(verifyToken)})
			if err != nil {
				b.Fatal(err)
			}
			srv := newServer(b, h)
			// A template with a fixed-width marker, made unique per iteration.
			const marker = "MARKER0000000000"
			tmpl, _ := metahook.Messages(marker, "106540352242922", n, fixedTime).Marshal()
			client := &http.Client{Timeout: 30 * time.Second}
			b.SetBytes(int64(len(tmpl)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				id := strconv.Itoa(1e15 + i)
				body := bytes.ReplaceAll(tmpl, []byte(marker), []byte(id))
				req, _ := http.NewRequest(http.MethodPost, srv+webhook.DefaultPath, bytes.NewReader(body))
				req.Header.Set(metahook.SignatureHeader, metahook.Sign(appSecret, body))
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("answer %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(n), "changes/op")
		})
	}
}
