package devices

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// hubClientID is the client that stands for the hub's commander: what it
// publishes enters the bus as a command, as the broker's Commander logs it.
const hubClientID = "hub-commander"

// liveHub is a throwaway mochi broker whose every message goes onto a real
// bus with the registry as its stage, as the hub's broker hook does.
type liveHub struct {
	url string
	bus *hearth.Bus
	reg *Registry
	sub *hearth.Subscription
	srv *mochi.Server
}

func startLiveHub(t *testing.T, o Options) *liveHub {
	t.Helper()
	reg, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	bus := hearth.NewBus(hearth.BusOptions{Size: 1024})
	bus.AddStage(reg)
	h := &liveHub{bus: bus, reg: reg, sub: bus.Subscribe("test", hearth.MayLag)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: true})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewNet("test", ln)); err != nil {
		t.Fatal(err)
	}
	err = s.Subscribe("#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		if pk.Origin == mochi.InlineClientId {
			return // a busCommander's publish, already on the bus as a command
		}
		kind := hearth.KindMessage
		if pk.Origin == hubClientID {
			kind = hearth.KindCommand
		}
		_, _ = bus.Publish(hearth.Event{Kind: kind, Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload),
			Client: pk.Origin, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test's clients disconnect in their own cleanups, just before
		// this one: mochi's Close, run while one of them is being deleted,
		// deadlocks (it takes its clients' read lock twice; the broker
		// package's Close waits for them the same way).
		for n, since := s.Clients.Len(), time.Now(); time.Since(since) < 20*time.Millisecond; {
			time.Sleep(2 * time.Millisecond)
			if m := s.Clients.Len(); m != n {
				n, since = m, time.Now()
			}
		}
		_ = s.Close()
		bus.Close()
	})
	h.url = "tcp://" + ln.Addr().String()
	h.srv = s
	return h
}

var liveClients atomic.Int64

// client connects a paho client; id "" picks a fresh one.
func (h *liveHub) client(t *testing.T, id string) paho.Client {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("device-%d", liveClients.Add(1))
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(h.url).SetClientID(id).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publish sends a QoS 1 message and waits for the broker's acknowledgement.
func publish(t *testing.T, c paho.Client, topic string, payload []byte, retain bool) {
	t.Helper()
	if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// subscribe runs handler for every message on filter.
func subscribe(t *testing.T, c paho.Client, filter string, handler func(topic string, payload []byte)) {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { handler(m.Topic(), m.Payload()) })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

// await reads the bus until ok holds of the read model after an event,
// and fails after ten seconds. The registry folds an event before the bus
// hands it out, so each event read is a moment to look.
func (h *liveHub) await(t *testing.T, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]hearth.Event, 64)
	for !ok() {
		if _, err := h.sub.Read(ctx, buf); err != nil && err != hearth.ErrGap {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// awaitEvent reads the bus until an event satisfies ok and returns it.
func (h *liveHub) awaitEvent(t *testing.T, what string, ok func(hearth.Event) bool) hearth.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]hearth.Event, 64)
	for {
		got, err := h.sub.Read(ctx, buf)
		if err != nil && err != hearth.ErrGap {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		for _, e := range got {
			if ok(e) {
				return e
			}
		}
	}
}

// stateIs reports whether device id's state holds every attribute of want.
func (h *liveHub) stateIs(id string, want map[string]any) func() bool {
	return func() bool {
		d, ok := h.reg.Device(id)
		if !ok {
			return false
		}
		for k, v := range want {
			if fmt.Sprint(d.State[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	}
}

func TestLiveBroker(t *testing.T) {
	file, err := ParseFile("devices.yaml", testdata(t, "devicesfile/good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := startLiveHub(t, Options{BaseTopic: "home", Adapters: Adapters(), File: file})
	dev := h.client(t, "")
	hub := h.client(t, hubClientID)

	t.Run("Zigbee2MQTT devices, names from the retained device list", func(t *testing.T) {
		publish(t, dev, "zigbee2mqtt/bridge/devices", testdata(t, "zigbee2mqtt/bridge_devices.json"), true)
		publish(t, dev, "zigbee2mqtt/hall_motion", testdata(t, "zigbee2mqtt/aqara_motion.json"), false)
		publish(t, dev, "zigbee2mqtt/kitchen/floor_light/availability", []byte(`{"state":"online"}`), true)
		publish(t, dev, "zigbee2mqtt/kitchen/floor_light", testdata(t, "zigbee2mqtt/ikea_bulb.json"), false)
		h.await(t, "the motion sensor and the bulb", func() bool {
			return h.stateIs("hall_motion", map[string]any{"occupancy": true, "illuminance": 12})() &&
				h.stateIs("kitchen_floor_light", map[string]any{"state": "ON", "brightness": 215})()
		})
		in, _ := h.reg.Info("hall_motion")
		if in.Model != "RTCGQ11LM" || in.Name != "Hall motion" || in.Room != "Hall" {
			t.Errorf("info = %+v", in)
		}
		if d, _ := h.reg.Device("kitchen_floor_light"); d.Availability != hearth.Online {
			t.Errorf("availability = %q", d.Availability)
		}
	})
	t.Run("Tasmota telemetry, result and last will", func(t *testing.T) {
		publish(t, dev, "tele/sonoff_th/LWT", []byte("Online"), true)
		publish(t, dev, "tele/sonoff_th/SENSOR", testdata(t, "tasmota/am2301_sensor.json"), false)
		publish(t, dev, "tele/sonoff_th/STATE", testdata(t, "tasmota/state.json"), false)
		h.await(t, "the Sonoff TH", h.stateIs("sonoff_th", map[string]any{"temperature": 24.6, "humidity": 58.2, "state": "OFF", "wifi_signal": -78}))
		if d, _ := h.reg.Device("sonoff_th"); d.Availability != hearth.Online {
			t.Errorf("availability = %q", d.Availability)
		}
	})
	t.Run("Home Assistant discovery from an ESPHome node", func(t *testing.T) {
		for _, e := range []struct{ component, name string }{
			{"sensor", "living_temperature"}, {"binary_sensor", "living_motion"}, {"switch", "living_relay"},
		} {
			publish(t, dev, "homeassistant/"+e.component+"/livingroom/"+e.name+"/config", testdata(t, "esphome/"+e.name+".json"), true)
		}
		// The configs must be in before their states: wait until the last one routes.
		h.await(t, "the discovery configs", func() bool {
			in, ok := h.reg.Info("livingroom")
			return ok && len(in.Capabilities) == 3
		})
		publish(t, dev, "livingroom/status", []byte("online"), true)
		publish(t, dev, "livingroom/sensor/living_temperature/state", []byte("21.5"), false)
		publish(t, dev, "livingroom/binary_sensor/living_motion/state", []byte("ON"), false)
		publish(t, dev, "livingroom/switch/living_relay/state", []byte("OFF"), false)
		h.await(t, "the node's state", h.stateIs("livingroom", map[string]any{"temperature": 21.5, "occupancy": true, "state": "OFF"}))
		if d, _ := h.reg.Device("livingroom"); d.Availability != hearth.Online {
			t.Errorf("availability = %q", d.Availability)
		}
	})
	t.Run("a hand-mapped device from the devices file", func(t *testing.T) {
		publish(t, dev, "garage/door/status", []byte("CLOSED"), false)
		publish(t, dev, "garage/climate", []byte(`{"sensors":{"temp_c":9.5,"list":[0,1]}}`), false)
		h.await(t, "the garage door", h.stateIs("garage_door", map[string]any{"contact": true, "temperature": 9.5}))
	})

	// Each device's firmware, simulated: it obeys its adapter's command
	// topics and reports its new state the way the real one does.
	subscribe(t, dev, "zigbee2mqtt/#", func(topic string, payload []byte) {
		if name, ok := strings.CutSuffix(topic, "/set"); ok {
			dev.Publish(name, 1, false, payload)
		}
	})
	subscribe(t, dev, "cmnd/sonoff_th/POWER", func(_ string, payload []byte) {
		b, _ := json.Marshal(map[string]string{"POWER": string(payload)})
		dev.Publish("stat/sonoff_th/RESULT", 1, false, b)
	})
	subscribe(t, dev, "livingroom/switch/living_relay/command", func(_ string, payload []byte) {
		dev.Publish("livingroom/switch/living_relay/state", 1, false, payload)
	})
	subscribe(t, dev, "heatpump/relay/set", func(_ string, payload []byte) {
		dev.Publish("heatpump/relay", 1, false, payload)
	})

	for _, tc := range []struct {
		name, device, command, want string
	}{
		{"a Zigbee2MQTT bulb", "kitchen_floor_light", "OFF", "OFF"},
		{"a Tasmota relay", "sonoff_th", "ON", "ON"},
		{"an ESPHome relay found by discovery", "livingroom", "ON", "ON"},
		{"a hand-mapped heat pump", "heat_pump", "ON", "ON"},
	} {
		t.Run(tc.name+" obeys the hub's state command", func(t *testing.T) {
			cmds, err := h.reg.CommandFor(tc.device, []byte(`{"state":"`+tc.command+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				publish(t, hub, c.Topic, c.Payload, c.Retain)
			}
			ev := h.awaitEvent(t, "the command event", func(e hearth.Event) bool { return e.Kind == hearth.KindCommand && e.Topic == cmds[0].Topic })
			if ev.Device != tc.device {
				t.Errorf("the command event names %q, want %q", ev.Device, tc.device)
			}
			h.await(t, "the device's new state", h.stateIs(tc.device, map[string]any{"state": tc.want}))
		})
	}
}
