package store

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hearth"
)

// BenchmarkWriteBytes measures what the log costs the disk: the bytes the
// process hands the kernel to write (/proc/self/io write_bytes minus
// cancelled_write_bytes, counted when a 4 KiB page of the page cache is
// dirtied, which is what an SD card ends up writing) per event, with the
// event mix the hub logs and at the pace of a real house. Each iteration is
// one sensor event at the scenario's rate, so run it for a fixed time:
//
//	go test -run '^$' -bench WriteBytes -benchtime 120s ./store/
//
// A sensor event is what a motion event costs the hub end to end: the
// message, the state change folded from it, and, when an automation
// reacts, its run (with its trace) and the command it sends; four log
// events, as in scripts/bench. The write-ahead log is checkpointed into the
// database at the end of each run and that is counted too: every page is
// written twice in WAL mode, once to the WAL and once to the database. What
// Run writes when it stops is not: the figures are the steady state, so run
// long enough for the periodic writes (a round of indexing every 262,144
// events, a devices snapshot every 16,384) to average out.
//
// Reported: B/log-event and B/sensor-event, log-events/commit, and the
// rate reached (a serial QoS 1 publisher is bound by the fsync).
func BenchmarkWriteBytes(b *testing.B) {
	if _, err := writtenBytes(); err != nil {
		b.Skipf("no /proc/self/io here: %v", err)
	}
	busy := houseLoad{devices: 1000, rate: 1000, reactEvery: 1, payload: motionPayload}
	// A few hours of history first: the indexes of a fresh log are small
	// enough that every commit finds its pages in a handful of leaves.
	busyTemplate := templateLog(b, busy, 50_000)
	for _, c := range []struct {
		name     string
		template string
		load     houseLoad
	}{
		// scripts/bench's load: 1,000 motion sensors, each event an edge
		// that turns a light on or off; on a new log, as scripts/bench
		// starts the hub, and on one with history.
		{"1000-devices-qos0-1000/s-new-log", "", busy},
		{"1000-devices-qos0-1000/s", busyTemplate, busy},
		// The same house with QoS 1 sensors, as scripts/bench sends them:
		// many clients, each with its message in flight, 1,000 a second in
		// all.
		{"1000-devices-qos1-1000/s", busyTemplate, houseLoad{devices: 1000, rate: 1000, qos: 1, reactEvery: 1, payload: motionPayload, inFlight: true}},
		// The same house with QoS 1 sensors behind one client (a bridge, a
		// gateway) waiting for each acknowledgement before its next message.
		{"1000-devices-qos1-serial", busyTemplate, houseLoad{devices: 1000, rate: 1000, qos: 1, reactEvery: 1, payload: motionPayload, clients: 1}},
		// A quiet house: `hub sim --devices 12 --rate 5`, Zigbee2MQTT-like
		// sensors sending QoS 1, an automation reacting to one in four.
		{"12-devices-qos1-5/s", "", houseLoad{devices: 12, rate: 5, qos: 1, reactEvery: 4, payload: zigbeePayload}},
		// The same house sending QoS 0, Zigbee2MQTT's default: commits
		// gather a second of events (DefaultQuietDelay).
		{"12-devices-qos0-5/s", "", houseLoad{devices: 12, rate: 5, qos: 0, reactEvery: 4, payload: zigbeePayload}},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "hearth.db")
			if c.template != "" {
				copyFile(b, c.template, path)
			}
			st := openAt(b, path)
			st.SetQuietDelay(DefaultQuietDelay)
			// The schema a new file was just given is not the log's cost.
			if _, err := st.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			r := startRun(b, st)
			gen := newHouse(c.load)
			startCommits := st.batches.Load()
			before := mustWritten(b)
			start := time.Now()
			b.ResetTimer()

			for i := range b.N {
				if wait := time.Until(start.Add(time.Duration(float64(i) / c.load.rate * float64(time.Second)))); wait > 0 {
					time.Sleep(wait)
				}
				msg := gen.sensorEvent(b, r)
				if c.load.qos > 0 && !c.load.inFlight {
					r.waitDurable(b, msg)
				}
			}
			r.waitDurable(b, r.bus.NextSeq()-1)
			elapsed := time.Since(start)
			// What the WAL holds still has to reach the database. Counted
			// before Run stops: the steady state, not a shutdown.
			if _, err := st.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			written := mustWritten(b) - before
			b.StopTimer()
			if err := r.stop(); err != nil {
				b.Fatal(err)
			}

			logEvents := float64(gen.logged)
			b.ReportMetric(float64(written)/logEvents, "B/log-event")
			b.ReportMetric(float64(written)/float64(b.N), "B/sensor-event")
			b.ReportMetric(logEvents/float64(max(st.batches.Load()-startCommits, 1)), "log-events/commit")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sensor-events/s")
		})
	}
}

// BenchmarkHouseQoS1 measures how many QoS 1 sensor events a second the log
// takes from 32 publishers, each waiting for its message to be durable
// before the next, as MQTT clients wait for their PUBACK: the house of
// scripts/bench (1,000 motion sensors, each event a message, its state
// change, an automation's run and its command) on a log with a few hours of
// history. It reports the rate, the CPU time the process spent per sensor
// event (the store's share of the hub's), and the bytes written.
//
//	go test -run '^$' -bench HouseQoS1 -benchtime 100000x ./store/
func BenchmarkHouseQoS1(b *testing.B) {
	if _, err := writtenBytes(); err != nil {
		b.Skipf("no /proc/self/io here: %v", err)
	}
	load := houseLoad{devices: 1000, qos: 1, reactEvery: 1, payload: motionPayload}
	template := templateLog(b, load, 50_000)
	b.Run("32-publishers", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "hearth.db")
		copyFile(b, template, path)
		st := openAt(b, path)
		st.SetQuietDelay(DefaultQuietDelay)
		r := startRun(b, st)
		gen := newHouse(load)
		var genMu sync.Mutex
		var next atomic.Int64
		cpu0, written0 := cpuTime(b), mustWritten(b)
		start := time.Now()
		b.ResetTimer()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					genMu.Lock()
					seq := gen.sensorEvent(b, r)
					genMu.Unlock()
					if err := r.bus.WaitDurable(context.Background(), seq); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		cpu := cpuTime(b) - cpu0
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
		if _, err := st.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		written := mustWritten(b) - written0
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sensor-events/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/sensor-event")
		b.ReportMetric(float64(written)/float64(gen.logged), "B/log-event")
	})
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// houseLoad is a house sending sensor events at a steady pace.
type houseLoad struct {
	devices    int     // motion sensors (each with a light an automation switches)
	rate       float64 // sensor events per second
	qos        byte    // of the sensor messages
	reactEvery int     // an automation reacts to one in this many sensor events
	payload    func(i int, on bool) []byte
	inFlight   bool // QoS 1 sent by many clients: nobody waits before the next
	clients    int  // MQTT clients the sensors send through (0: 450, as scripts/bench)
}

func motionPayload(_ int, on bool) []byte {
	return fmt.Appendf(nil, `{"occupancy":%t}`, on)
}

// zigbeePayload is what a Zigbee2MQTT motion sensor sends.
func zigbeePayload(i int, on bool) []byte {
	return fmt.Appendf(nil, `{"battery":%d,"linkquality":%d,"occupancy":%t}`, 60+i%40, 100+i%90, on)
}

// house makes the events of a houseLoad, round robin over its devices.
type house struct {
	load   houseLoad
	n      int
	on     []bool
	runs   int
	logged int // log events published
}

func newHouse(l houseLoad) *house {
	return &house{load: l, on: make([]bool, l.devices)}
}

// sensorEvent publishes the next sensor event and what the hub logs with
// it, and returns the message's sequence number.
func (h *house) sensorEvent(t testing.TB, r *running) uint64 {
	t.Helper()
	i := h.n % h.load.devices
	react := h.n%h.load.reactEvery == 0
	h.n++
	prev := h.load.payload(i, h.on[i])
	h.on[i] = !h.on[i]
	payload := h.load.payload(i, h.on[i])
	dev := fmt.Sprintf("motion_%d", i)
	topic := "home/" + dev
	msg := r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: topic, Device: dev,
		Client: fmt.Sprintf("sensors-%d", i%cmp.Or(h.load.clients, 450)), Payload: payload, QoS: h.load.qos})[0]
	state := r.publish(t, hearth.Event{Kind: hearth.KindState, Topic: topic, Device: dev,
		Payload: payload, Prev: prev, Cause: hearth.Cause{Seq: msg.Seq}})[0]
	h.logged += 2
	if react {
		h.runs++
		h.react(t, r, i, state)
		h.logged += 2
	}
	return msg.Seq
}

// react publishes what an automation's run logs: the command it sent and
// its trace, as automations.Engine.recordTrace writes it.
func (h *house) react(t testing.TB, r *running, i int, state hearth.Event) {
	t.Helper()
	on := h.on[i]
	id, set := fmt.Sprintf("motion_%d_off", i), `{"state":"OFF"}`
	if on {
		id, set = fmt.Sprintf("motion_%d_on", i), `{"brightness":200,"state":"ON"}`
	}
	run := fmt.Sprintf("%s#%d", id, h.runs)
	cause := hearth.Cause{Seq: state.Seq, Run: run, Source: "automation"}
	light := fmt.Sprintf("light_%d", i)
	cmd := r.publish(t, hearth.Event{Kind: hearth.KindCommand, Topic: "home/" + light + "/set", Device: light,
		Payload: []byte(set), Cause: cause})[0]
	now := state.Time
	steps := []hearth.TraceStep{{Time: now, Kind: "trigger", Text: fmt.Sprintf("device motion_%d when occupancy == %t", i, on), Result: "fired"}}
	if on {
		steps = append(steps, hearth.TraceStep{Time: now, Kind: "condition", Text: fmt.Sprintf("(states.lux_%d.illuminance ?? 0) < 30", i), Result: "true"})
		steps = append(steps, hearth.TraceStep{Time: now, Kind: "condition", Text: `(states.house.mode ?? "home") != "away"`, Result: "true"})
	} else {
		steps = append(steps, hearth.TraceStep{Time: now, Kind: "condition", Text: `(states.house.mode ?? "home") != "party"`, Result: "true"})
	}
	steps = append(steps, hearth.TraceStep{Time: cmd.Time, Kind: "command", Text: "set " + light + " " + set, Result: "sent", Seq: cmd.Seq})
	trace, err := json.Marshal(hearth.Trace{
		RunSummary: hearth.RunSummary{Run: run, Started: now, Ended: cmd.Time.Add(40 * time.Microsecond), Outcome: "done"},
		Automation: id, Trigger: state.Seq, Steps: steps,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.publish(t, hearth.Event{Kind: hearth.KindRun, Topic: "$hearth/automations/" + id, Payload: trace, Cause: cause})
}

// templateLog makes a log holding n sensor events of l (and what the hub
// logs with them), checkpointed and closed, and returns its path.
func templateLog(b *testing.B, l houseLoad, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "template.db")
	st, err := Open(path, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	st.SetQuietDelay(0)
	ctx, cancel := context.WithCancel(context.Background())
	bus := hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: true})
	r := &running{bus: bus, cancel: cancel, done: make(chan error, 1)}
	sub := bus.Subscribe("store", hearth.MustNotMiss)
	go func() { r.done <- st.Run(ctx, sub, bus) }()
	gen := newHouse(l)
	for range n {
		gen.sensorEvent(b, r)
	}
	r.waitDurable(b, bus.NextSeq()-1)
	err = r.stop()
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil { // checkpoints and removes the WAL
		b.Fatal(err)
	}
	return path
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// writtenBytes is what this process has caused to be written to storage.
func writtenBytes() (int64, error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var written, cancelled int64 = -1, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/io %s: %w", k, err)
		}
		switch k {
		case "write_bytes":
			written = n
		case "cancelled_write_bytes":
			cancelled = n
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if written < 0 {
		return 0, fmt.Errorf("/proc/self/io has no write_bytes")
	}
	return written - cancelled, nil
}

func mustWritten(t testing.TB) int64 {
	t.Helper()
	n, err := writtenBytes()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
