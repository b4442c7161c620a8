package handlers

import (
	"context"
	"log/slog"
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

func (j jobLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !j.l.Enabled(ctx, level) {
		return
	}
	if j.eventID != "" || j.wabaID != "" {
		args = append([]any{"event_id", j.eventID, "waba_id", j.wabaID}, args...)
	}
	j.l.Log(ctx, level, msg, args...)
}
