package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"hearth/notify"
)

// NotifyConfig is the notify section of the config file: the channels
// notifications go through besides the page (docs/automations.md).
type NotifyConfig struct {
	Channels []notify.ChannelConfig `yaml:"channels,omitempty"`
}

// newNotifier makes the notifier of the configured channels, logging its
// notifications and their outcomes on events (the bus).
func newNotifier(cfg Config, events notify.Publisher, log *slog.Logger) (*notify.Notifier, error) {
	n, err := notify.New(notify.Options{Channels: cfg.Notify.Channels, Events: events, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("notification channels", "channels", n.Channels(), "defaults", n.Defaults())
	return n, nil
}

// pageChannels names the channels whose notifications the page lists: the
// configured page channels, and "page" (which the notifier adds) unless a
// channel of the config file took that name.
func pageChannels(chs []notify.ChannelConfig) []string {
	out := []string{}
	named := false
	for _, c := range chs {
		named = named || c.Name == notify.PageChannel
		if c.Page != nil {
			out = append(out, c.Name)
		}
	}
	if !named {
		out = append([]string{notify.PageChannel}, out...)
	}
	return out
}

// notifyCommand runs `hub notify test CHANNEL --config FILE`: it sends a
// test message through the channel now and prints "delivered" or what
// failed (DNS, connect, TLS, auth, the HTTP status or SMTP reply). It
// returns 1 when the channel did not take the message.
func notifyCommand(args []string, stdout, stderr io.Writer) int {
	usage := "usage: hub notify test CHANNEL --config FILE"
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("hub notify test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "config `file` (YAML) whose notify section has the channel")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nSends a test message through one notification channel of the config file\nand prints whether it was delivered, or what failed.\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	// The channel comes first, flags after it, as people type it.
	rest := args[1:]
	channel := ""
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		channel, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if channel == "" && fs.NArg() == 1 {
		channel = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if channel == "" {
		fs.Usage()
		return 2
	}
	var cfg Config
	if *file == "" && channel != notify.PageChannel {
		fmt.Fprintln(stderr, "hub notify test: --config FILE names the config file that has the channels")
		return 2
	}
	if *file != "" {
		var err error
		if cfg, err = loadConfigFile(*file); err != nil {
			fmt.Fprintln(stderr, "hub notify test:", err)
			return 1
		}
	}
	if err := notify.SendTest(context.Background(), cfg.Notify.Channels, channel, stdout); err != nil {
		return 1
	}
	return 0
}
