package broker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiLog is the handler mochi logs through. mochi's listener logs every
// client that goes away, a sensor's ordinary reconnect as much as a refused
// packet, as a warning with an empty message; those become debug lines, so
// that what the guard refuses is said once, by the guard, with who and why.
// mochi's info lines (hooks added, server starting and stopping) are its
// internals, not the house's story: they become debug lines too.
//
// mochi logs whole packets ("packet", with their payload) beside its
// errors. A payload can be an alarm code on home/alarm/set, and its bytes
// are no help to anyone reading the log: a packet is logged as what it is
// (type, topic, QoS, retain, size), never what it says. A publish the hook
// refused because the log could not take it (errNotLogged) is said by the
// store, once a minute; mochi's line for each one becomes a debug line.
type mochiLog struct{ slog.Handler }

// Enabled lets the empty warnings, the info lines and the publish errors
// through to Handle, which decides.
func (h mochiLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelWarn || l == slog.LevelInfo || l == slog.LevelError || h.Handler.Enabled(ctx, l)
}

// Handle demotes what is not the house's story and leaves payloads out.
func (h mochiLog) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	notLogged := false
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "packet":
			a = packetAttr(a.Value.Any())
		case "error":
			if err, ok := a.Value.Any().(error); ok && errors.Is(err, errNotLogged) {
				notLogged = true
			}
		}
		out.AddAttrs(a)
		return true
	})
	switch {
	case out.Level == slog.LevelWarn && out.Message == "":
		out.Level = slog.LevelDebug
		out.Message = "connection ended"
	case out.Level == slog.LevelInfo, notLogged:
		out.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, out.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, out)
}

// packetAttr is a packet mochi logged, without its payload.
func packetAttr(v any) slog.Attr {
	var pk packets.Packet
	switch v := v.(type) {
	case packets.Packet:
		pk = v
	case *packets.Packet:
		if v == nil {
			return slog.String("packet", "none")
		}
		pk = *v
	default:
		return slog.String("packet", "(left out)")
	}
	return slog.Group("packet",
		slog.String("type", packets.PacketNames[pk.FixedHeader.Type]),
		slog.String("topic", pk.TopicName),
		slog.Int("qos", int(pk.FixedHeader.Qos)),
		slog.Bool("retain", pk.FixedHeader.Retain),
		slog.Int("payload_bytes", len(pk.Payload)),
	)
}

// WithAttrs keeps the demotion on derived loggers.
func (h mochiLog) WithAttrs(as []slog.Attr) slog.Handler { return mochiLog{h.Handler.WithAttrs(as)} }

// WithGroup keeps the demotion on derived loggers.
func (h mochiLog) WithGroup(name string) slog.Handler { return mochiLog{h.Handler.WithGroup(name)} }
