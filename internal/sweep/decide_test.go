package sweep

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabaworker/waba-worker/internal/ledger"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	rec := func(st ledger.State, kind string, age time.Duration, held ...string) ledger.Record {
		return ledger.Record{WABAID: "1", State: st, ErrorKind: kind, HeldTasks: held, EventID: "e", UpdatedAt: now.Add(-age)}
	}
	manage := []string{"MANAGE"}
	for _, tc := range []struct {
		name    string
		rec     ledger.Record
		found   bool
		corrupt bool
		wanted  []string
		emit    bool
		reason  Reason
	}{
		{"no record", ledger.Record{}, false, false, manage, true, ReasonMissing},
		{"corrupt", ledger.Record{}, false, true, manage, true, ReasonCorrupt},
		{"assigned", rec(ledger.StateAssigned, "", time.Hour, "MANAGE"), true, false, manage, false, ReasonOnboarded},
		{"assigned, more held", rec(ledger.StateAssigned, "", time.Hour, "DEVELOP", "MANAGE"), true, false, manage, false, ReasonOnboarded},
		{"assigned, a task short", rec(ledger.StateAssigned, "", time.Hour, "MANAGE"), true, false, []string{"MANAGE", "DEVELOP"}, true, ReasonMissingTasks},
		{"unshared, listed", rec(ledger.StateUnshared, "", time.Hour), true, false, manage, true, ReasonReshared},
		{"retries exhausted", rec(ledger.StateFailed, "retries_exhausted", time.Minute), true, false, manage, true, ReasonFailed},
		{"verification failed", rec(ledger.StateFailed, "verification_failed", time.Minute), true, false, manage, true, ReasonFailed},
		{"permanent, an hour ago", rec(ledger.StateFailed, "permanent", time.Hour), true, false, manage, false, ReasonFailedPermanentRecently},
		{"permanent, a day ago", rec(ledger.StateFailed, "permanent", day), true, false, manage, true, ReasonFailedPermanent},
		{"invalid event, today", rec(ledger.StateFailed, "invalid_event", 23*time.Hour), true, false, manage, false, ReasonFailedPermanentRecently},
		{"invalid event, last week", rec(ledger.StateFailed, "invalid_event", 7*day), true, false, manage, true, ReasonFailedPermanent},
	} {
		d := decide("1", tc.rec, tc.found, tc.corrupt, tc.wanted, now, day)
		if d.emit != tc.emit || d.reason != tc.reason {
			t.Errorf("%s: emit %v reason %s, want %v %s", tc.name, d.emit, d.reason, tc.emit, tc.reason)
		}
		if d.emit != (d.id != "") {
			t.Errorf("%s: id %q", tc.name, d.id)
		}
		if tc.reason == ReasonFailedPermanent && !strings.HasPrefix(d.id, "sweep-1-20261125-") {
			t.Errorf("%s: id %q lacks the day", tc.name, d.id)
		}
	}
}

// The message id is stable over an unchanged record and changes with any
// field the worker rewrites, and with the wanted tasks.
func TestMsgID(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	base := ledger.Record{WABAID: "102290129340398", State: ledger.StateFailed, ErrorKind: "retries_exhausted", EventID: "e1", UpdatedAt: at, HeldTasks: []string{}}
	manage := []string{"MANAGE"}
	id := MsgID(base.WABAID, ReasonFailed, &base, manage, "")
	if id != MsgID(base.WABAID, ReasonFailed, &base, manage, "") {
		t.Fatal("not stable")
	}
	if !strings.HasPrefix(id, "sweep-102290129340398-") || len(id) != len("sweep-102290129340398-")+16 {
		t.Errorf("id %q", id)
	}
	seen := map[string]string{id: "base"}
	for name, edit := range map[string]func(*ledger.Record){
		"updated_at": func(r *ledger.Record) { r.UpdatedAt = at.Add(time.Millisecond) },
		"event_id":   func(r *ledger.Record) { r.EventID = "e2" },
		"error_kind": func(r *ledger.Record) { r.ErrorKind = "verification_failed" },
		"state":      func(r *ledger.Record) { r.State = ledger.StateUnshared },
		"held_tasks": func(r *ledger.Record) { r.HeldTasks = []string{"DEVELOP"} },
	} {
		r := base
		edit(&r)
		got := MsgID(r.WABAID, ReasonFailed, &r, manage, "")
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same id as %s", name, prev)
		}
		seen[got] = name
	}
	for name, got := range map[string]string{
		"no record": MsgID(base.WABAID, ReasonMissing, nil, manage, ""),
		"tasks":     MsgID(base.WABAID, ReasonFailed, &base, []string{"MANAGE", "DEVELOP"}, ""),
		"reason":    MsgID(base.WABAID, ReasonFailedPermanent, &base, manage, ""),
		"day":       MsgID(base.WABAID, ReasonFailed, &base, manage, "20261125"),
	} {
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same id as %s", name, prev)
		}
		seen[got] = name
	}
	// A time zone does not change the id: the record is written in UTC, read back in UTC.
	r := base
	r.UpdatedAt = at.In(time.FixedZone("X", 3600))
	if MsgID(r.WABAID, ReasonFailed, &r, manage, "") != id {
		t.Error("the id depends on the time zone of updated_at")
	}
	if len(MsgID(strings.Repeat("9", 32), ReasonFailedPermanent, &base, manage, "20261125")) > 128 {
		t.Error("an id longer than events.ValidID allows")
	}
}

func TestIDSet(t *testing.T) {
	t.Parallel()
	s := newIDSet()
	for _, id := range []string{"102290129340398", "0123", "123", "99999999999999999999999", "18446744073709551615", "18446744073709551616"} {
		if !s.add(id) {
			t.Errorf("add %s: said duplicate", id)
		}
		if s.add(id) {
			t.Errorf("add %s twice: not a duplicate", id)
		}
		if !s.has(id) {
			t.Errorf("has %s: false", id)
		}
	}
	if s.len() != 6 || s.has("1") || s.has("00123") {
		t.Errorf("len %d", s.len())
	}
	if len(s.nums) != 3 || len(s.strs) != 3 {
		t.Errorf("%d numeric, %d string ids; want 3 and 3", len(s.nums), len(s.strs))
	}
}

func TestPacer(t *testing.T) {
	t.Parallel()
	p := newPacer(100, 3) // 10ms a token, 3 at once
	start := time.Now()
	for range 3 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 8*time.Millisecond {
		t.Errorf("the burst of 3 took %v", d)
	}
	for range 10 {
		_ = p.wait(t.Context())
	}
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Errorf("13 tokens at 100/s with a burst of 3 in %v, want at least 100ms", d)
	}
	// A refunded token is free again.
	before := time.Now()
	p.refund()
	_ = p.wait(t.Context())
	if d := time.Since(before); d > 8*time.Millisecond {
		t.Errorf("after a refund: waited %v", d)
	}
	// A context that ends stops the wait.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := newPacer(0.001, 1).wait(ctx); err == nil {
		t.Error("wait on an ended context: nil")
	}
	if err := newPacer(Unpaced, 1).wait(t.Context()); err != nil {
		t.Error(err)
	}
}

// BenchmarkIDSet measures the listed-id set, the one part of a sweep that
// grows with the number listed: bytes per id at 10,000 and 100,000 Meta-like
// ids, against a plain map[string]struct{} of the same ids.
func BenchmarkIDSet(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strconv.Itoa(102290129340398 + 7*i)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var setB, strB float64
			for range b.N {
				setB = float64(heapGrowth(func() any {
					s := newIDSet()
					for _, id := range ids {
						s.add(id)
					}
					return s
				}))
				strB = float64(heapGrowth(func() any {
					m := make(map[string]struct{})
					for _, id := range ids {
						m[strings.Clone(id)] = struct{}{} // a sweep's ids come from JSON: their own bytes
					}
					return m
				}))
			}
			b.ReportMetric(setB/float64(n), "set-B/id")
			b.ReportMetric(strB/float64(n), "stringmap-B/id")
		})
	}
}

// heapGrowth is the live heap that build's result holds.
func heapGrowth(build func() any) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(v)
	return ms.HeapAlloc - before
}
