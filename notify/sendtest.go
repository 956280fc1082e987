package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// SendTest sends a test message through the channel of channels named
// name, once and now, and writes to w what happened: "delivered", or the
// stage that failed and why (`hub notify test CHANNEL`). It returns nil when
// the channel took the message.
func SendTest(ctx context.Context, channels []ChannelConfig, name string, w io.Writer) error {
	i := slices.IndexFunc(channels, func(c ChannelConfig) bool { return c.Name == name })
	if i < 0 && name != PageChannel {
		names := []string{PageChannel}
		for _, c := range channels {
			names = append(names, c.Name)
		}
		err := fmt.Errorf("no channel named %q (channels: %s)", name, strings.Join(names, ", "))
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return err
	}
	var only []ChannelConfig
	if i >= 0 {
		only = channels[i : i+1]
	}
	n, err := New(Options{Channels: only, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return err
	}
	defer n.Close()
	ch := n.channels[name]
	what := describe(ch.cfg)
	if ch.send == nil {
		fmt.Fprintf(w, "%s (%s): nothing to send: the page shows the notifications in the hub's log\n", name, what)
		return nil
	}
	err = n.Test(ctx, name)
	if err != nil {
		var e *Error
		again := ""
		if errors.As(err, &e) && e.Temporary {
			again = " (a later try may pass; notifications try this channel " + fmt.Sprint(ch.cfg.Tries) + " times)"
		}
		fmt.Fprintf(w, "%s (%s): failed: %v%s\n", name, what, err, again)
		return err
	}
	fmt.Fprintf(w, "%s (%s): delivered\n", name, what)
	return nil
}

// describe names a channel for people, without secrets.
func describe(c ChannelConfig) string {
	switch {
	case c.Webhook != nil:
		return "webhook " + redactURL(c.Webhook.URL)
	case c.Email != nil:
		return fmt.Sprintf("email to %s through %s, %s", strings.Join(c.Email.To, ", "), c.Email.addr(), c.Email.TLS)
	}
	return "the hub's page"
}
