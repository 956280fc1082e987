package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"hearth"
	"hearth/devices"
	"hearth/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stack is the web server on the real parts it reads: a store in a
// temporary folder committing behind a durable bus, the device read model
// as the bus's stage, and a fake device side (fakeCommander).
type stack struct {
	store *store.Store
	bus   *hearth.Bus
	reg   *devices.Registry
	cmd   *fakeCommander
	web   *Server
	http  *httptest.Server
	clock *testClock
}

// stackOptions change a stack from the defaults.
type stackOptions struct {
	// ringSize is the bus ring's size (the bus default when 0).
	ringSize int
	// noStore leaves the log out: no store, Log and History nil.
	noStore bool
	// automations is handed to the server.
	automations Automations
	// reloader and whatIf are handed to the server.
	reloader Reloader
	whatIf   WhatIfRunner
	// accounts guards the server with the store's page users.
	accounts bool
	// pageChannels are the notification channels the page shows.
	pageChannels []string
	// info tells what devices are and can do, as the adapters would.
	info DeviceInfos
}

// testClock stamps bus events; tests that need a history move it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// set makes the next events happen at t.
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testLogger writes warnings and errors into the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newStack starts a stack; cleanup stops it in reverse order.
func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	s := &stack{clock: &testClock{}}
	s.reg = devices.New("home", testLogger(t))
	s.bus = hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: !o.noStore, Size: o.ringSize, Now: func() time.Time {
		if t := s.clock.now(); !t.IsZero() {
			return t
		}
		return time.Now()
	}})
	s.bus.AddStage(s.reg)
	opts := Options{
		Devices: s.reg, BaseTopic: "home", Stream: s.bus, Progress: s.bus,
		Automations: o.automations, Reloader: o.reloader, WhatIf: o.whatIf, Logger: testLogger(t),
		PageChannels: o.pageChannels, Info: o.info,
	}
	var runDone chan error
	var cancelRun context.CancelFunc
	if !o.noStore {
		st, err := store.Open(filepath.Join(t.TempDir(), "hearth.db"), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		s.store = st
		opts.Log, opts.History, opts.Meta = st, st, st
		if o.accounts {
			opts.Accounts = st
		}
		sub := s.bus.Subscribe("store", hearth.MustNotMiss)
		var ctx context.Context
		ctx, cancelRun = context.WithCancel(context.Background())
		runDone = make(chan error, 1)
		go func() { runDone <- st.Run(ctx, sub, s.bus) }()
	}
	s.cmd = &fakeCommander{bus: s.bus}
	opts.Commander = s.cmd
	s.web = New(opts)
	s.http = httptest.NewServer(s.web.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.web.Close(ctx); err != nil { // ends the live streams
			t.Errorf("close web: %v", err)
		}
		s.http.Close()
		s.bus.Close()
		if runDone != nil {
			if err := <-runDone; err != nil {
				t.Errorf("store run: %v", err)
			}
			cancelRun()
			if err := s.store.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		}
	})
	return s
}

// publish publishes a message on topic as a device would send it, and
// returns it as published.
func (s *stack) publish(t testing.TB, topic, payload string) hearth.Event {
	t.Helper()
	e, err := s.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: topic, Payload: []byte(payload), Client: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return e
}

// durable waits until everything published so far is in the log.
func (s *stack) durable(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.bus.WaitDurable(ctx, s.bus.NextSeq()-1); err != nil {
		t.Fatalf("wait for the log: %v", err)
	}
}

// house publishes the state of a small house: two lights, a motion
// sensor, a thermometer and a door, and waits for the log.
func (s *stack) house(t testing.TB) {
	t.Helper()
	s.publish(t, "home/hall_light", `{"state":"OFF","brightness":254,"linkquality":120}`)
	s.publish(t, "home/kitchen_light", `{"state":"ON","brightness":120}`)
	s.publish(t, "home/hall_motion", `{"occupancy":false,"battery":90,"linkquality":100}`)
	s.publish(t, "home/living_temp", `{"temperature":21.3,"humidity":45.2,"battery":80}`)
	s.publish(t, "home/front_door", `{"contact":true,"battery":70}`)
	s.publish(t, "home/front_door/availability", `online`)
	s.durable(t)
}

// fakeCommander logs a command on the bus as the broker does and then, as
// the device would, publishes the light's new state on <base>/<id>: the
// state it had with the command's attributes merged in.
type fakeCommander struct {
	bus *hearth.Bus

	mu   sync.Mutex
	sent []hearth.Command
	fail error
}

func (f *fakeCommander) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	f.mu.Lock()
	fail := f.fail
	f.sent = append(f.sent, c)
	f.mu.Unlock()
	if fail != nil {
		return hearth.Event{}, fail
	}
	ev, err := f.bus.Publish(hearth.Event{Kind: hearth.KindCommand, Topic: c.Topic, Device: c.Device, Payload: c.Payload, QoS: c.QoS, Cause: c.Cause})
	if err != nil {
		return hearth.Event{}, err
	}
	if c.Device == "alarm" || c.Device == "house" {
		return ev, nil // the hub's own devices answer through their component
	}
	var attrs map[string]any
	if err := json.Unmarshal(c.Payload, &attrs); err != nil {
		return ev, nil // not for a light
	}
	base, ok := strings.CutSuffix(c.Topic, "/set")
	if !ok {
		return ev, nil
	}
	state, _ := json.Marshal(attrs)
	if _, err := f.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: base, Payload: state, Client: "fake-" + c.Device}); err != nil {
		return ev, fmt.Errorf("device answer: %w", err)
	}
	return ev, nil
}

// commands returns what was sent so far.
func (f *fakeCommander) commands() []hearth.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hearth.Command(nil), f.sent...)
}

func (f *fakeCommander) failWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// call does an HTTP request with an optional body and decodes the JSON
// answer into into (when not nil). It returns the status.
func call(t testing.TB, method, url, body string, into any) int {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: content type %q, want application/json: %s", method, url, ct, b)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// get is call with GET.
func get(t testing.TB, url string, into any) int {
	t.Helper()
	return call(t, http.MethodGet, url, "", into)
}

var errBroken = errors.New("broker is down")

// eventOut is an event as the API writes it (hearth.Event only marshals).
type eventOut struct {
	Seq     uint64
	Time    time.Time
	Kind    hearth.Kind
	Topic   string
	Device  string
	Client  string
	Payload json.RawMessage
	Prev    json.RawMessage
	Cause   hearth.Cause
}

// causesOut is the answer of the causes endpoint as a client reads it.
type causesOut struct {
	Chain []struct {
		Via   string
		Event eventOut
	}
	Missing uint64
}
