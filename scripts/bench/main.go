// Command bench is Hearth's end-to-end benchmark: it builds and starts the
// hub, loads automations, drives simulated motion sensors and lights over
// real MQTT, and measures the time from a sensor's event to its light's
// command, beside the peers a user would run instead (Mosquitto alone,
// Node-RED with Mosquitto) under the same load generator.
//
//	go run ./scripts/bench                        # the hub at 1,000 ev/s, QoS 0 and 1
//	go run ./scripts/bench -peer mosquitto-echo,nodered -step -json out.json -svg docs/bench/latency.svg
//
// See docs/performance.md for the figures and the command that made them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	Automations   int           `json:"automations"`
	Devices       int           `json:"devices"`
	Clients       int           `json:"clients"`
	Rates         floats        `json:"rates"`
	QoS           qosList       `json:"qos"`
	Duration      time.Duration `json:"duration"`
	MinEvents     int           `json:"min_events"`
	Repeat        int           `json:"repeat"`
	Warmup        time.Duration `json:"warmup"`
	Drain         time.Duration `json:"drain"`
	Hub           bool          `json:"hub"`
	Peers         names         `json:"peers"`
	Step          bool          `json:"step"`
	StepStart     float64       `json:"step_start"`
	StepFactor    float64       `json:"step_factor"`
	StepMax       float64       `json:"step_max"`
	StepDuration  time.Duration `json:"step_duration"`
	StepRefine    int           `json:"step_refine"`
	MaxP99        time.Duration `json:"max_p99"`
	StartupEvents int           `json:"startup_events"`
	StartupRepeat int           `json:"startup_repeat"`
	FillRate      float64       `json:"fill_rate"`
	Publishers    int           `json:"publishers"`
	WaitIdle      float64       `json:"wait_idle"`
	WaitIdleMax   time.Duration `json:"wait_idle_max"`
	HubBin        string        `json:"hub_bin,omitempty"`
	HubData       string        `json:"hub_data,omitempty"`
	NodeREDPrefix string        `json:"-"`
	Profile       string        `json:"-"`
	JSON          string        `json:"-"`
	SVG           string        `json:"-"`
	Compare       string        `json:"-"`
	Redraw        string        `json:"-"`
	Keep          bool          `json:"-"`
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{Rates: floats{1000}, QoS: qosList{0, 1}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Automations, "automations", 1000, "automations loaded (`n`): motion i turns light i on and off")
	fs.IntVar(&o.Devices, "devices", 1000, "motion sensors, lights and lux sensors (`n` of each)")
	fs.IntVar(&o.Clients, "clients", 0, "MQTT connections per side (sensors, lights) that the devices share; 0: one per device. The hub holds each client to 1,000 messages a second by default (limits: publish_rate_per_client), so with few connections a high rate measures that limit")
	fs.Var(&o.Rates, "rate", "sensor events per second, summed over all sensors (comma list)")
	fs.Var(&o.QoS, "qos", "QoS of the sensor events: 0, 1 or a comma list")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each run publishes")
	fs.IntVar(&o.MinEvents, "min-events", 0, "make a run long enough for at least `n` events (for low rates)")
	fs.IntVar(&o.Repeat, "repeat", 1, "repeat each run `n` times; the summary takes medians")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unrecorded publishing at the run's rate before each run")
	fs.DurationVar(&o.Drain, "drain", 5*time.Second, "how long to wait for the last commands after a run")
	fs.BoolVar(&o.Hub, "hub", true, "benchmark the hub (-hub=false: only the peers)")
	fs.Var(&o.Peers, "peer", "peer to run beside the hub: mosquitto-echo, nodered, hub-external (repeatable or comma list)")
	fs.BoolVar(&o.Step, "step", false, "find the sustainable rate of each target for each QoS by stepping the rate up")
	fs.Float64Var(&o.StepStart, "step-start", 1000, "first rate of -step")
	fs.Float64Var(&o.StepFactor, "step-factor", 1.5, "rate multiplier between steps")
	fs.Float64Var(&o.StepMax, "step-max", 100000, "highest rate -step tries")
	fs.DurationVar(&o.StepDuration, "step-duration", 5*time.Second, "how long each step publishes")
	fs.IntVar(&o.StepRefine, "step-refine", 2, "bisections between the last good and the first bad step")
	fs.DurationVar(&o.MaxP99, "max-p99", 50*time.Millisecond, "a rate is sustainable while nothing is lost and p99 stays under this")
	fs.IntVar(&o.StartupEvents, "startup-events", 0, "fill the hub's log to `n` events through MQTT, report its memory, then time start-ups on it (0: skip)")
	fs.IntVar(&o.StartupRepeat, "startup-repeat", 5, "start-ups timed on the filled log, with and without automations")
	fs.Float64Var(&o.FillRate, "fill-rate", 0, "sensor events per second while filling the log (0: 80% of the sustainable QoS 0 rate, or 2,000)")
	fs.IntVar(&o.Publishers, "publishers", 4, "goroutines publishing sensor events")
	fs.Float64Var(&o.WaitIdle, "wait-idle", 0, "before each run, wait until the machine is this `fraction` idle (0.8: 80%; 0: don't wait), for shared machines")
	fs.DurationVar(&o.WaitIdleMax, "wait-idle-max", 10*time.Minute, "give up waiting for -wait-idle after this long and run anyway")
	fs.StringVar(&o.HubBin, "hub-bin", "", "use this hub `binary` instead of building ./cmd/hub (to compare two builds)")
	fs.StringVar(&o.HubData, "hub-data", "", "start the hub on a copy of this data `folder` (a long log) instead of an empty one")
	fs.StringVar(&o.NodeREDPrefix, "nodered-prefix", "", "npm prefix holding (or to receive) Node-RED; default: a temporary folder")
	fs.StringVar(&o.Profile, "profile", "", "run the hub with --pprof and write CPU, heap, allocation, mutex and block profiles of each -rate run to `folder`")
	fs.StringVar(&o.JSON, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&o.SVG, "svg", "", "draw latency percentiles against rate to `file` (docs/bench/latency.svg)")
	fs.StringVar(&o.Redraw, "redraw", "", "run nothing: print the tables of an earlier -json `file` and redraw its -svg chart")
	fs.StringVar(&o.Compare, "compare", "", "print this run beside an earlier -json `file`")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary folder (data, configs, binaries)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, p := range o.Peers {
		switch p {
		case peerMosquittoEcho, peerNodeRED, peerHubExternal:
		default:
			return o, fmt.Errorf("-peer %q: want mosquitto-echo, nodered or hub-external", p)
		}
	}
	switch {
	case o.Automations < 1 || o.Devices < 1:
		return o, errors.New("-automations and -devices must be at least 1")
	case len(o.Rates) == 0 || len(o.QoS) == 0:
		return o, errors.New("-rate and -qos need at least one value")
	case o.Duration <= 0 || o.StepDuration <= 0:
		return o, errors.New("durations must be positive")
	case o.Step && (o.StepStart <= 0 || o.StepFactor <= 1):
		return o, errors.New("-step-start must be positive and -step-factor above 1")
	case o.Repeat < 1:
		return o, errors.New("-repeat must be at least 1")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if o.Redraw != "" {
		rep, err := readReport(o.Redraw)
		if err == nil {
			printReport(stdout, rep)
			o.JSON = ""
			err = saveReport(o, rep, stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := benchmark(ctx, o, args, stderr)
	if rep != nil {
		printReport(stdout, rep)
		if err2 := saveReport(o, rep, stdout); err2 != nil {
			err = errors.Join(err, err2)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// floats is a comma list of numbers.
type floats []float64

func (f *floats) String() string {
	s := make([]string, len(*f))
	for i, v := range *f {
		s[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(s, ",")
}

func (f *floats) Set(v string) error {
	*f = nil
	for _, part := range strings.Split(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || x <= 0 {
			return fmt.Errorf("%q: want a positive number", part)
		}
		*f = append(*f, x)
	}
	return nil
}

// qosList is a comma list of QoS levels 0 and 1.
type qosList []byte

func (q *qosList) String() string {
	s := make([]string, len(*q))
	for i, v := range *q {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

func (q *qosList) Set(v string) error {
	*q = nil
	for _, part := range strings.Split(v, ",") {
		switch strings.TrimSpace(part) {
		case "0":
			*q = append(*q, 0)
		case "1":
			*q = append(*q, 1)
		default:
			return fmt.Errorf("%q: want 0 or 1", part)
		}
	}
	return nil
}

// MarshalJSON writes the levels as numbers (a []byte would be base64).
func (q qosList) MarshalJSON() ([]byte, error) {
	ints := make([]int, len(q))
	for i, v := range q {
		ints[i] = int(v)
	}
	return json.Marshal(ints)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (q *qosList) UnmarshalJSON(b []byte) error {
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil {
		return err
	}
	*q = nil
	for _, v := range ints {
		*q = append(*q, byte(v))
	}
	return nil
}

// names is a repeatable flag that also takes comma lists.
type names []string

func (n *names) String() string { return strings.Join(*n, ",") }

func (n *names) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if p := strings.TrimSpace(part); p != "" {
			*n = append(*n, p)
		}
	}
	return nil
}
