// Command crash kills the hub with SIGKILL again and again while clients
// publish QoS 1 messages, restarts it on the same data folder each time,
// and checks what survived: every acknowledged message in the log (exactly
// once unless a crash made its client send it again), SQLite's integrity
// check, the device state against the fold of the log and against what the
// restarted hub serves, and the delay pending at the kill firing after the
// restart. It runs a release build of the hub and exits 1 on any violation.
//
//	go run ./scripts/crash -cycles 100 -clients 8
//
// See docs/reliability.md ("Crash") for the rule and the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"hearth/internal/crashtest"
	"hearth/internal/hubbin"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the command line and runs the cycles. It returns the exit
// status: 0 when every promise held, 1 on a violation or a run that could
// not go on, 2 for a bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg crashtest.Config
	fs.IntVar(&cfg.Cycles, "cycles", 10, "kills and restarts")
	fs.IntVar(&cfg.Clients, "clients", 4, "MQTT clients publishing QoS 1 messages")
	fs.IntVar(&cfg.Window, "window", 32, "messages each client may have waiting for their PUBACK")
	fs.DurationVar(&cfg.Delay, "delay", 3*time.Second, "the automation's delay, pending at each kill")
	fs.DurationVar(&cfg.KillWithin, "kill-within", time.Second, "the kill comes at a random moment up to this long after the load is flowing")
	seed := fs.Uint64("seed", 0, "seed of the kill moments (random when 0)")
	dir := fs.String("dir", "", "`folder` for the hub's data, its log (hub.log) and the build; a new temporary one, removed after a clean run, when empty")
	bin := fs.String("hub", "", "hub `binary` to run instead of building a release build of ./cmd/hub")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crash: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if cfg.Delay <= cfg.KillWithin {
		fmt.Fprintf(stderr, "crash: -delay %v must be longer than -kill-within %v, or the delay may fire before the kill\n", cfg.Delay, cfg.KillWithin)
		return 2
	}
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	keep := *dir != ""
	if *dir == "" {
		d, err := os.MkdirTemp("", "hearth-crash-")
		if err != nil {
			fmt.Fprintln(stderr, "crash:", err)
			return 1
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(stderr, "crash:", err)
		return 1
	}
	if *bin == "" {
		var err error
		if *bin, err = hubbin.Build(ctx, *dir); err != nil {
			fmt.Fprintln(stderr, "crash:", err)
			return 1
		}
	}
	logFile, err := os.OpenFile(filepath.Join(*dir, "hub.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "crash:", err)
		return 1
	}
	defer logFile.Close()

	fmt.Fprintf(stdout, "machine: %s\n", machine(*dir))
	fmt.Fprintf(stdout, "crash: %d cycles, %d clients, window %d, delay %v, kill within %v, seed %d, folder %s\n\n",
		cfg.Cycles, cfg.Clients, cfg.Window, cfg.Delay, cfg.KillWithin, cfg.Seed, *dir)
	rep := newReport(stdout)
	cfg.Dir = *dir
	cfg.Report = rep.cycle
	cfg.Start = func(ctx context.Context, data, automations string) (crashtest.Hub, error) {
		return startHub(ctx, *bin, logFile, "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--data", data, "--automations", automations, "--log-level", "warn")
	}
	began := time.Now()
	sum, err := crashtest.Run(ctx, cfg)
	rep.summary(sum, time.Since(began))
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "crash:", err)
		fmt.Fprintf(stderr, "crash: the folder is kept: %s\n", *dir)
		return 1
	case len(sum.Problems()) > 0:
		for _, p := range sum.Problems() {
			fmt.Fprintln(stderr, "VIOLATION:", p)
		}
		fmt.Fprintf(stderr, "crash: the folder is kept: %s (the hub's log is hub.log)\n", *dir)
		return 1
	}
	if !keep {
		_ = os.RemoveAll(*dir)
	}
	return 0
}
