package broker

import (
	"context"
	"log/slog"
)

// mochiLog is the handler mochi logs through. mochi's listener logs every
// client that goes away, a sensor's ordinary reconnect as much as a refused
// packet, as a warning with an empty message; those become debug lines, so
// that what the guard refuses is said once, by the guard, with who and why.
// mochi's info lines (hooks added, server starting and stopping) are its
// internals, not the house's story: they become debug lines too.
type mochiLog struct{ slog.Handler }

// Enabled lets the empty warnings and the info lines through to Handle,
// which decides.
func (h mochiLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelWarn || l == slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

// Handle demotes mochi's empty-message warnings to debug.
func (h mochiLog) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level == slog.LevelWarn && r.Message == "":
		r.Level = slog.LevelDebug
		r.Message = "connection ended"
	case r.Level == slog.LevelInfo:
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the demotion on derived loggers.
func (h mochiLog) WithAttrs(as []slog.Attr) slog.Handler { return mochiLog{h.Handler.WithAttrs(as)} }

// WithGroup keeps the demotion on derived loggers.
func (h mochiLog) WithGroup(name string) slog.Handler { return mochiLog{h.Handler.WithGroup(name)} }
