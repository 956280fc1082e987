package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"hearth"

	"hearth/internal/mosquittotest"
)

// remoteConfig is a remote-mode config for a test: quick back-off and drain.
func remoteConfig(url, clientID string) RemoteConfig {
	return RemoteConfig{
		Endpoint: Endpoint{
			URL:            url,
			ClientID:       clientID,
			KeepAlive:      10 * time.Second,
			ConnectTimeout: 5 * time.Second,
			ReconnectMin:   20 * time.Millisecond,
			ReconnectMax:   200 * time.Millisecond,
		},
		DrainTimeout: 500 * time.Millisecond,
	}
}

// newBus makes a durable bus; with store, a stand-in for the store marks
// every event durable as soon as it reads it.
func newBus(t *testing.T, store bool) *hearth.Bus {
	t.Helper()
	bus := hearth.NewBus(hearth.BusOptions{Durable: true, Size: 4096})
	t.Cleanup(bus.Close)
	if store {
		markDurable(t, bus)
	}
	return bus
}

// startRemote starts remote mode on bus and closes it when the test ends.
func startRemote(t *testing.T, cfg RemoteConfig, bus *hearth.Bus) *Remote {
	t.Helper()
	if cfg.Logger == nil {
		_, cfg.Logger = newTestLog(t)
	}
	r, err := NewRemote(cfg, bus)
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRemoteMessagesReachTheBus(t *testing.T) {
	m := mosquittotest.Start(t, "")
	sensor := pahoClient(t, m.Addr, "hall_motion", nil)
	// Retained before the hub subscribes: it comes with the subscription.
	tok := sensor.Publish("home/plug/availability", 1, true, "online")
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish retained: %v", tok.Error())
	}

	bus := newBus(t, true)
	r := newReader(t, bus)
	startRemote(t, remoteConfig(m.URL(), "hub"), bus)

	ev := r.next()
	checkMessage(t, ev, "home/plug/availability", "online", 1, "")
	if !ev.Retain {
		t.Error("a retained message sent on subscription is logged without Retain")
	}
	for _, tc := range []struct {
		name    string
		topic   string
		qos     byte
		payload string
	}{
		{"a QoS 1 message is logged as a message event", "home/hall_motion", 1, `{"occupancy":true}`},
		{"a QoS 0 message is logged as a message event", "home/hall_lux", 0, `{"illuminance":12}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			publish(t, sensor, tc.topic, tc.qos, []byte(tc.payload))
			checkMessage(t, r.next(), tc.topic, tc.payload, tc.qos, "")
		})
	}
}

func TestRemoteCommand(t *testing.T) {
	m := mosquittotest.Start(t, "")
	bus := newBus(t, true)
	r := newReader(t, bus)
	hub := startRemote(t, remoteConfig(m.URL(), "hub"), bus)
	light := pahoClient(t, m.Addr, "hall_light", nil)
	got := subscribe(t, light, "home/hall_light/set", 1)

	cmd := hearth.Command{
		Device:  "hall_light",
		Topic:   "home/hall_light/set",
		Payload: []byte(`{"state":"ON"}`),
		QoS:     1,
		Cause:   hearth.Cause{Seq: 41, Run: "hall_light_on_motion#3", Source: "automation"},
	}
	t.Run("a command is logged with its cause and reaches the device", func(t *testing.T) {
		ev, err := hub.Command(context.Background(), cmd)
		if err != nil {
			t.Fatalf("Command: %v", err)
		}
		logged := r.next()
		if logged.Seq != ev.Seq || logged.Kind != hearth.KindCommand || logged.Topic != cmd.Topic ||
			string(logged.Payload) != `{"state":"ON"}` || logged.Cause != cmd.Cause {
			t.Fatalf("logged %+v (payload %q); want the command with its cause", logged, logged.Payload)
		}
		if msg := receive(t, got); msg != (message{"home/hall_light/set", `{"state":"ON"}`}) {
			t.Fatalf("device received %+v", msg)
		}
	})

	t.Run("the broker's copy of the command is not logged as a message", func(t *testing.T) {
		// mosquitto sends the hub its own command back (MQTT 3.1.1 has no
		// "no local"); the next event must be a marker published after.
		marker := pahoClient(t, m.Addr, "marker", nil)
		publish(t, marker, "test/marker", 1, []byte("after"))
		if next := r.next(); next.Topic != "test/marker" {
			t.Fatalf("event after the command is %s on %s, want the marker: the command was logged twice", next.Kind, next.Topic)
		}
	})

	t.Run("a command while the broker is away is refused and not logged", func(t *testing.T) {
		m.Stop()
		eventually(t, "the hub notices the broker is gone", func() bool { return !hub.Connected() })
		before := bus.NextSeq()
		if _, err := hub.Command(context.Background(), cmd); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("Command: %v, want ErrNotConnected", err)
		}
		if bus.NextSeq() != before {
			t.Fatal("a refused command was logged")
		}
		m.Resume()
		eventually(t, "the hub reconnects", hub.Connected)
	})
}

func TestRemoteAcknowledgesOnlyWhatTheLogHolds(t *testing.T) {
	m := mosquittotest.Start(t, "")
	sensor := pahoClient(t, m.Addr, "thermometer", nil)

	t.Run("a message the log did not take is delivered again to the next session", func(t *testing.T) {
		bus1 := newBus(t, false) // nothing marks events durable
		r1 := newReader(t, bus1)
		hub1 := startRemote(t, remoteConfig(m.URL(), "hub-a"), bus1)
		publish(t, sensor, "home/thermometer", 1, []byte("21.5"))
		checkMessage(t, r1.next(), "home/thermometer", "21.5", 1, "")
		_ = hub1.Close() // the log never confirmed it: not acknowledged

		bus2 := newBus(t, true)
		r2 := newReader(t, bus2)
		hub2 := startRemote(t, remoteConfig(m.URL(), "hub-a"), bus2)
		checkMessage(t, r2.next(), "home/thermometer", "21.5", 1, "")
		_ = hub2.Close() // this time it was durable, then acknowledged

		bus3 := newBus(t, true)
		r3 := newReader(t, bus3)
		startRemote(t, remoteConfig(m.URL(), "hub-a"), bus3)
		publish(t, sensor, "home/thermometer", 1, []byte("marker"))
		checkMessage(t, r3.next(), "home/thermometer", "marker", 1, "")
	})

	t.Run("a message redelivered on a new connection is logged once", func(t *testing.T) {
		bus := newBus(t, false)
		r := newReader(t, bus)
		hub := startRemote(t, remoteConfig(m.URL(), "hub-b"), bus)
		publish(t, sensor, "home/thermometer", 1, []byte("22.0"))
		first := r.next()
		checkMessage(t, first, "home/thermometer", "22.0", 1, "")

		// Drop the connection while the message waits for the log: mosquitto
		// sends it again, with DUP set, on the next connection.
		old := hub.link.current()
		old.abort()
		eventually(t, "the hub reconnects", func() bool { return hub.Connected() && hub.link.current() != old })
		bus.MarkDurable(first.Seq)

		publish(t, sensor, "home/thermometer", 1, []byte("22.5"))
		next := r.next()
		checkMessage(t, next, "home/thermometer", "22.5", 1, "")
		bus.MarkDurable(next.Seq)
		_ = hub.Close()

		// Both were acknowledged: a new session gets neither again.
		bus2 := newBus(t, true)
		r2 := newReader(t, bus2)
		startRemote(t, remoteConfig(m.URL(), "hub-b"), bus2)
		publish(t, sensor, "home/thermometer", 1, []byte("23.0"))
		checkMessage(t, r2.next(), "home/thermometer", "23.0", 1, "")
	})
}
