package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"hearth/broker"
	"hearth/devices/sim"
)

// simCommand runs `hub sim`: a simulated house of any size against any
// broker, for demos, benchmarks and soak runs.
func simCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokerURL := fs.String("broker", "tcp://127.0.0.1:1883", "the broker's `address` (tcp://host:port or host:port)")
	n := fs.Int("devices", 20, "how many `devices`: motion sensors, lights, thermometers, door contacts and light-level sensors in turn")
	rate := fs.Float64("rate", 0, "messages per `second` from all sensors together, each reporting its whole state steadily; 0 for the demo's lifelike pace")
	base := fs.String("base-topic", "home", "MQTT `topic` under which devices live")
	duration := fs.Duration("duration", 0, "stop after this `long`; 0 runs until Ctrl-C")
	seed := fs.Uint64("seed", 0, "random `seed`; 0 picks one")
	user := fs.String("user", "", "user `name` at the broker, for one that asks for a login (the hub's own once it has users)")
	passwordFile := fs.String("password-file", "", "`file` whose first line is the password of -user")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hub sim [flags]\n\nRuns simulated Zigbee2MQTT-style devices against a broker.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var bad string
	switch {
	case fs.NArg() > 0:
		bad = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	case *n < 1:
		bad = fmt.Sprintf("-devices %d: want 1 or more", *n)
	case *rate < 0:
		bad = fmt.Sprintf("-rate %g: want 0 (the demo's pace) or more", *rate)
	case (*user == "") != (*passwordFile == ""):
		bad = "-user and -password-file go together"
	}
	if bad != "" {
		fmt.Fprintln(stderr, "hub sim:", bad)
		return 2
	}
	password, err := broker.Endpoint{PasswordFile: *passwordFile}.ThePassword()
	if err != nil {
		fmt.Fprintf(stderr, "hub sim: -password-file %s: %v\n", *passwordFile, err)
		return 2
	}
	url := *brokerURL
	if !strings.Contains(url, "://") {
		url = "tcp://" + url
	}
	url = strings.Replace(strings.Replace(url, "mqtt://", "tcp://", 1), "mqtts://", "ssl://", 1)

	specs := sim.Spread(*n)
	o := sim.Options{BaseTopic: *base, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Username: *user, Password: password}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	o.Rand = rand.New(rand.NewPCG(*seed, *seed>>32))
	sensors := 0
	for _, s := range specs {
		if s.Kind != sim.Lamp {
			sensors++
		}
	}
	if *rate > 0 && sensors > 0 {
		o.Steady = true
		o.Tick = time.Duration(float64(time.Second) * float64(sensors) / *rate)
	}
	house, err := sim.NewHouse(specs, o)
	if err != nil {
		fmt.Fprintln(stderr, "hub sim:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := house.Start(ctx, url); err != nil {
		fmt.Fprintln(stderr, "hub sim:", err)
		return 1
	}
	defer house.Close()
	pace := "a lifelike pace"
	if o.Steady {
		pace = fmt.Sprintf("%.0f messages/s (each sensor every %v)", *rate, o.Tick)
	}
	fmt.Fprintf(stdout, "hub sim: %d devices (%d sensors) on %s at %s; Ctrl-C to stop\n", *n, sensors, url, pace)
	<-ctx.Done()
	return 0
}
