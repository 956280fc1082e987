// Command hub is the Hearth smart-home hub: an MQTT broker, an event log, a
// device read model, automations and a web API in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the command line, starts the hub and waits for SIGINT/SIGTERM.
// It returns the process exit code: 2 for a bad command line, 1 when the hub
// could not start.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "config":
			return configCommand(args[1:], stdout, stderr)
		case "automations":
			return automationsCommand(args[1:], stdout, stderr)
		case "notify":
			return notifyCommand(args[1:], stdout, stderr)
		case "sim":
			return simCommand(args[1:], stdout, stderr)
		case "user":
			return userCommand(args[1:], os.Stdin, stdout, stderr)
		case "version":
			printVersion(stdout)
			return 0
		case "help":
			args = []string{"--help"}
		}
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		printVersion(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hub:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	started := tuneMemory(os.Getenv) // memory.go

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the automations; it is caught from the start, so that
	// one sent as soon as the hub says it listens does not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	app, err := Start(ctx, cfg, log)
	started()
	if err != nil {
		fmt.Fprintln(stderr, "hub:", err)
		return 1
	}
	if addr := app.MQTTAddr(); addr != nil {
		fmt.Fprintf(stdout, "hearth: mqtt listening on %s\n", addr)
	} else if cfg.Broker != nil {
		fmt.Fprintf(stdout, "hearth: mqtt client of %s\n", cfg.Broker.Endpoint.LogValue())
	}
	if addr := app.HTTPAddr(); addr != nil {
		fmt.Fprintf(stdout, "hearth: http listening on http://%s\n", addr)
	}
	defer fmt.Fprintln(stdout, "hearth: stopped")
	fmt.Fprintln(stdout, "hearth: ready")
	if cfg.Demo && app.HTTPAddr() != nil {
		printDemo(stdout, cfg, app.HTTPAddr())
	}
	code := 0
wait:
	for {
		select {
		case <-hup:
			if err := app.Reload("SIGHUP"); err != nil && !errors.Is(err, errNoAutomationsPath) {
				log.Error("SIGHUP: automations not reloaded; the previous ones keep running", "err", err)
			}
			if err := app.ReloadUsers(); err != nil {
				log.Error("SIGHUP: broker users not reloaded", "err", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			break wait
		case <-app.Failed():
			log.Error("a part of the hub failed; shutting down")
			code = 1
			break wait
		}
	}
	if err := app.Close(); err != nil {
		fmt.Fprintln(stderr, "hub: shutdown:", err)
		return 1
	}
	return code
}

// configCommand prints the configuration the hub would run with.
func configCommand(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		printVersion(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hub config:", err)
		return 2
	}
	if err := printConfig(stdout, cfg); err != nil {
		fmt.Fprintln(stderr, "hub config:", err)
		return 1
	}
	return 0
}

// printDemo tells a person who started the demo where to look and what
// will happen: the alarm's story needs the demo's own automations.
func printDemo(w io.Writer, cfg Config, httpAddr net.Addr) {
	fmt.Fprintf(w, "hearth: demo house running; open http://%s in a browser, Ctrl-C to stop\n", browseAddr(httpAddr))
	mine := ""
	if cfg.Automations != "" {
		mine = fmt.Sprintf("hearth: the automations are yours, from %s, not the demo's own", cfg.Automations)
	}
	switch {
	case cfg.Alarm == nil && mine == "":
		fmt.Fprintf(w, "hearth: demo alarm code %s: the family leaves in a few seconds and the alarm arms itself; arm and disarm it on the page\n", demoCode)
	case cfg.Alarm == nil:
		fmt.Fprintf(w, "%s: the alarm does not arm by itself; arm and disarm it on the page with code %s\n", mine, demoCode)
	case mine != "":
		fmt.Fprintln(w, mine)
	}
}
