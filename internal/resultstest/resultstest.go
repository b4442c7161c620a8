// Package resultstest collects the result events a worker publishes, for
// tests: it reads waba.assignment.succeeded and .failed from the stream
// with an ordered consumer, checks each against its JSON Schema, and
// answers "has every event exactly one result?".
package resultstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/schemas"
)

// Subjects of the results (wabatype's defaults).
const (
	SucceededSubject = wabatype.DefaultSucceededSubject
	FailedSubject    = wabatype.DefaultFailedSubject
)

// Collector holds every result seen so far. Its methods are safe for
// concurrent use.
type Collector struct {
	t         testing.TB
	mu        sync.Mutex
	succeeded map[string][]events.Succeeded
	failed    map[string][]events.Failed
	msgIDs    map[string]int
	all       bytes.Buffer
}

// Collect starts reading results from stream (which must exist) until the
// test ends.
func Collect(t testing.TB, js jetstream.JetStream, stream string) *Collector {
	t.Helper()
	c := &Collector{t: t, succeeded: map[string][]events.Succeeded{}, failed: map[string][]events.Failed{}, msgIDs: map[string]int{}}
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SucceededSubject, FailedSubject},
	})
	if err != nil {
		t.Fatalf("results consumer: %v", err)
	}
	cc, err := cons.Consume(c.add)
	if err != nil {
		t.Fatalf("results consumer: %v", err)
	}
	t.Cleanup(cc.Stop)
	return c
}

func (c *Collector) add(msg jetstream.Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all.Write(msg.Data())
	for _, vs := range msg.Headers() {
		for _, v := range vs {
			c.all.WriteString(v)
		}
	}
	msgID := msg.Headers().Get(jetstream.MsgIDHeader)
	c.msgIDs[msgID]++
	var eventID struct {
		ID string `json:"event_id"`
	}
	_ = json.Unmarshal(msg.Data(), &eventID)
	outcome := wabatype.OutcomeFailed
	if msg.Subject() == SucceededSubject {
		outcome = wabatype.OutcomeSucceeded
	}
	if !wabatype.ValidResultMsgID(msgID, eventID.ID, outcome) {
		c.t.Errorf("result on %s has Nats-Msg-Id %q, want %q (or %s.replay.<seq>.%s)", msg.Subject(), msgID, eventID.ID+"."+outcome, eventID.ID, outcome)
	}
	switch msg.Subject() {
	case SucceededSubject:
		if err := schemas.Validate(schemas.Succeeded, msg.Data()); err != nil {
			c.t.Errorf("published succeeded event breaks its schema: %v\n%s", err, msg.Data())
		}
		var s events.Succeeded
		if err := json.Unmarshal(msg.Data(), &s); err != nil {
			c.t.Errorf("succeeded event: %v", err)
		}
		c.succeeded[s.EventID] = append(c.succeeded[s.EventID], s)
	case FailedSubject:
		if err := schemas.Validate(schemas.Failed, msg.Data()); err != nil {
			c.t.Errorf("published failed event breaks its schema: %v\n%s", err, msg.Data())
		}
		var f events.Failed
		if err := json.Unmarshal(msg.Data(), &f); err != nil {
			c.t.Errorf("failed event: %v", err)
		}
		c.failed[f.EventID] = append(c.failed[f.EventID], f)
	}
}

// Count is the number of events with at least one result.
func (c *Collector) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.succeeded)
	for id := range c.failed {
		if _, ok := c.succeeded[id]; !ok {
			n++
		}
	}
	return n
}

// FailedCount is the number of events with a failed result.
func (c *Collector) FailedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.failed)
}

// Succeeded returns the succeeded results of event id.
func (c *Collector) Succeeded(id string) []events.Succeeded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.succeeded[id]
}

// SucceededFor returns the succeeded results for WABA wabaID, of any event.
func (c *Collector) SucceededFor(wabaID string) []events.Succeeded {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []events.Succeeded
	for _, rs := range c.succeeded {
		for _, r := range rs {
			if r.WabaID == wabaID {
				out = append(out, r)
			}
		}
	}
	return out
}

// Failed returns the failed results of event id.
func (c *Collector) Failed(id string) []events.Failed {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed[id]
}

// Raw is everything published on the result subjects, bodies and headers.
func (c *Collector) Raw() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}

// Wait waits until n events have a result, or fails the test at timeout.
func (c *Collector) Wait(n int, timeout time.Duration) {
	c.t.Helper()
	WaitFor(c.t, fmt.Sprintf("%d results (have %d)", n, c.Count()), timeout, func() bool { return c.Count() >= n })
}

// WaitEach waits until every id has a result, or fails the test at
// timeout: unlike Wait, results of other events (a sweep's, say) do not
// count.
func (c *Collector) WaitEach(ids []string, timeout time.Duration) {
	c.t.Helper()
	WaitFor(c.t, fmt.Sprintf("a result for each of %d events", len(ids)), timeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, id := range ids {
			if len(c.succeeded[id])+len(c.failed[id]) == 0 {
				return false
			}
		}
		return true
	})
}

// ExactlyOne fails the test unless every id has exactly one result and no
// Nats-Msg-Id was stored twice.
func (c *Collector) ExactlyOne(t testing.TB, ids []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := 0
	for _, id := range ids {
		if n := len(c.succeeded[id]) + len(c.failed[id]); n != 1 && bad < 20 {
			bad++
			t.Errorf("event %s has %d results (%d succeeded, %d failed), want exactly 1", id, n, len(c.succeeded[id]), len(c.failed[id]))
		}
	}
	for id, n := range c.msgIDs {
		if n != 1 {
			t.Errorf("Nats-Msg-Id %q stored %d times", id, n)
		}
	}
}

// WaitFor polls cond every 10ms until it holds, or fails the test once
// timeout has passed.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a logger's or a
// child process's output, read by the test while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
