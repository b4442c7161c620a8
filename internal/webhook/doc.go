// Package webhook is the gateway from Meta's webhooks into JetStream, the
// http.Handler behind `worker webhook`.
//
// Meta delivers every webhook field of the app (account_update, messages,
// message_template_status_update, ...) to one callback URL. The gateway:
//
//   - answers Meta's verification request (GET with hub.mode=subscribe and
//     hub.verify_token) with hub.challenge, and anything else with 403;
//   - accepts a POST only with a valid X-Hub-Signature-256 over the raw
//     body (401 when missing, 403 when wrong; nothing is published), a body
//     of at most MaxBody bytes (413) that is Meta's envelope (400);
//   - publishes every change of every entry to meta.webhook.<object>.<field>
//     in the stream META_WEBHOOKS as {"object","entry_id","time","field",
//     "value"}, value byte for byte, with a Nats-Msg-Id derived from the
//     content so Meta's redeliveries are dropped by the stream's duplicate
//     window;
//   - turns account_update PARTNER_ADDED and PARTNER_APP_INSTALLED into
//     waba.shared, and PARTNER_REMOVED, PARTNER_APP_UNINSTALLED,
//     ACCOUNT_OFFBOARDED and ACCOUNT_DELETED into waba.unshared;
//   - answers 200 only once every publish of the request has its PubAck, and
//     503 when JetStream cannot take them, so Meta delivers again: nothing it
//     acknowledged is lost, and a partial publish is harmless because of the
//     message ids.
//
// Meta's payloads vary (its own reference examples put field and object in
// odd places, omit object or time, and removals come with or without
// waba_info), so parsing is lenient: see ParseEnvelope. A change that cannot
// be mapped to an event is still published raw, counted and logged, and is
// never a reason to answer anything but 200.
package webhook
