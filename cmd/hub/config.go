package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
)

// Config is what the command line sets.
type Config struct {
	MQTTAddr    string
	HTTPAddr    string
	DataDir     string
	Automations string
	Demo        bool
	BaseTopic   string
	LogLevel    slog.Level
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.MQTTAddr, "mqtt", ":1883", "MQTT listen `address` of the embedded broker")
	fs.StringVar(&c.HTTPAddr, "http", ":8080", "HTTP listen `address` of the web page and API")
	fs.StringVar(&c.DataDir, "data", "./data", "`folder` for the event log and state")
	fs.StringVar(&c.Automations, "automations", "", "automations YAML `file or folder`")
	fs.BoolVar(&c.Demo, "demo", false, "start a simulated house and its example automations")
	fs.StringVar(&c.BaseTopic, "base-topic", "home", "MQTT `topic` under which devices live")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hub [flags]\n\nHearth smart-home hub.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
	}
	for name, addr := range map[string]string{"--mqtt": c.MQTTAddr, "--http": c.HTTPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return c, fmt.Errorf("%s %q: want host:port or :port", name, addr)
		}
	}
	if c.DataDir == "" {
		return c, fmt.Errorf("--data: want a folder")
	}
	if c.BaseTopic == "" || strings.ContainsAny(c.BaseTopic, "+#") || strings.HasPrefix(c.BaseTopic, "/") || strings.HasSuffix(c.BaseTopic, "/") {
		return c, fmt.Errorf("--base-topic %q: want a topic without wildcards or leading/trailing slash", c.BaseTopic)
	}
	return c, nil
}
