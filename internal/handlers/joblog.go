package handlers

import (
	"context"
	"log/slog"
	"time"
)

// jobLog logs for one delivery: each line starts with its event_id and
// waba_id (when known). It adds them per line rather than through
// Logger.With, whose handler would format them for every event, also for
// the events that log one line or none at the level set.
type jobLog struct {
	l       *slog.Logger
	eventID string
	wabaID  string
}

func (j jobLog) Debug(msg string, args ...any) { j.log(slog.LevelDebug, msg, args) }
func (j jobLog) Info(msg string, args ...any)  { j.log(slog.LevelInfo, msg, args) }
func (j jobLog) Warn(msg string, args ...any)  { j.log(slog.LevelWarn, msg, args) }

// log hands the record to the logger's handler itself, as slog's own
// wrappers do: the ids go in as typed attributes (no []any to box them in),
// and no caller PC is taken, which Logger.Log does for every line and no
// handler of ours reads (no AddSource).
func (j jobLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	h := j.l.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	if j.eventID != "" || j.wabaID != "" {
		r.AddAttrs(slog.String("event_id", j.eventID), slog.String("waba_id", j.wabaID))
	}
	r.Add(args...)
	_ = h.Handle(ctx, r)
}
