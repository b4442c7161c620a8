// Package logging builds the worker's *slog.Logger: tint's readable, coloured
// lines on a terminal, JSON lines otherwise. As a last guard it redacts any
// attribute whose key names a secret (token, secret, proof, password); the
// code never logs one on purpose.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
)

// The defaults of LOG_LEVEL and LOG_FORMAT.
const (
	DefaultLevel  = slog.LevelInfo
	DefaultFormat = "auto"
)

// RedactURLs hides the user info (passwords, tokens) of comma-separated URLs
// such as NATS_URL, whether or not they parse: scheme://[redacted]@host.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				parts[i] = u[:s+3] + "[redacted]" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// New returns a logger writing to w at level. format is "auto" (tint when w
// is a terminal, JSON otherwise), "json" or "text" (tint without colour when
// w is not a terminal).
func New(w io.Writer, level slog.Leveler, format string) (*slog.Logger, error) {
	term := IsTerminal(w)
	switch format {
	case "json":
	case "auto", "":
		if term {
			return tinted(w, level, false), nil
		}
	case "text":
		return tinted(w, level, !term), nil
	default:
		return nil, fmt.Errorf("unknown log format %q (want auto, json or text)", format)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})), nil
}

func tinted(w io.Writer, level slog.Leveler, noColor bool) *slog.Logger {
	return slog.New(tint.NewHandler(w, &tint.Options{
		Level:       level,
		TimeFormat:  time.TimeOnly,
		NoColor:     noColor,
		ReplaceAttr: redact,
	}))
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

var secretWords = []string{"token", "secret", "proof", "password", "authorization"}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, w := range secretWords {
		if strings.Contains(k, w) && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}
