package devices

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"hearth"
)

// defaultModes are the house modes when the configuration names none.
var defaultModes = []string{"home", "away", "night", "vacation"}

// HouseConfig is the house: section of the hub's config file.
type HouseConfig struct {
	// Modes are the modes the house can be in, the first one the mode of a
	// new hub; home, away, night and vacation when empty.
	Modes []string `yaml:"modes,omitempty"`
}

// House keeps the hub's simple own devices: the house mode (device
// "house", state {"mode":"away"}) and people's presence set by hand or by
// automations (a person's {"presence":"home"}). It reads commands to them
// from the bus (<base>/house/set {"mode":"away"}, from the page, an
// automation or an MQTT client), checks them, and publishes the new state
// retained on the device's state topic through the Commander, which logs
// it; the registry folds it, so the mode is persisted with the other
// devices' states and usable in conditions (states.house.mode == "away").
type House struct {
	reg   *Registry
	log   *slog.Logger
	modes []string
	set   string // <base>/house/set
	out   *outbox

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewHouse registers the house device and starts the publisher. The house
// keeps the mode the registry restored; a new hub starts in the first mode.
// Call Consume with a MustNotMiss subscription, and Close to stop.
func NewHouse(cfg HouseConfig, o HubOptions) (*House, error) {
	if err := o.check("house"); err != nil {
		return nil, err
	}
	modes := cfg.Modes
	if len(modes) == 0 {
		modes = defaultModes
	}
	for i, m := range modes {
		if m == "" || len(m) > 64 || strings.TrimSpace(m) != m {
			return nil, fmt.Errorf("house: mode %q: want a word", m)
		}
		if slices.Contains(modes[:i], m) {
			return nil, fmt.Errorf("house: mode %q is listed twice", m)
		}
	}
	modes = slices.Clone(modes)
	h := &House{reg: o.Registry, log: o.logger("house"), modes: modes, set: o.Registry.SetTopic(HouseID)}
	h.out = newOutbox(o.Commander, h.log)
	h.reg.addHub(HouseID, adapterHub, &hubDevice{kind: hubHouse, check: h.checkCommand}, hearth.DeviceInfo{
		Name: "House", Kind: "select", Description: "the house mode",
		Capabilities: []hearth.Capability{{Attr: "mode", Type: "enum", Set: true, Values: modes}},
	})

	// Publish the mode at start: a new hub gets its first mode, and after a
	// restart MQTT clients get the retained state the embedded broker lost.
	mode := modes[0]
	if d, ok := h.reg.Device(HouseID); ok {
		if m, isStr := d.State["mode"].(string); isStr && m != "" {
			mode = m
			if !slices.Contains(modes, m) {
				h.log.Warn("the house is in a mode no longer configured", "mode", m, "modes", modes)
			}
		}
	}
	h.publish(HouseID, map[string]any{"mode": mode}, hearth.Cause{Source: "house"})

	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.out.loop(ctx, h.out.flush)
	}()
	h.out.signal()
	return h, nil
}

// Modes returns the modes the house can be in.
func (h *House) Modes() []string { return slices.Clone(h.modes) }

// Consume reads commands to the house and to people from sub until the bus
// is closed or ctx is done (nil). It never waits on the bus: what it
// publishes goes through the House's own publisher.
func (h *House) Consume(ctx context.Context, sub *hearth.Subscription) error {
	return readLoop(ctx, sub, h.log, h.Handle)
}

// Handle reads one event: a command to the house or to a person is
// checked and its result published.
func (h *House) Handle(e hearth.Event) {
	if e.Kind == hearth.KindState {
		h.presenceFromAPhone(e)
		return
	}
	if e.Kind != hearth.KindCommand && e.Kind != hearth.KindMessage {
		return
	}
	id, ok := strings.CutSuffix(e.Topic, "/"+subSet)
	if !ok {
		return
	}
	id, ok = strings.CutPrefix(id, h.reg.BaseTopic()+"/")
	if !ok || strings.Contains(id, "/") {
		return
	}
	var kind hubKind
	if id == HouseID {
		kind = hubHouse
	} else if kind = h.reg.hubKindOf(id); kind != hubPerson {
		return
	}
	c, err := parseHubCommand(e.Payload)
	if err == nil {
		if kind == hubHouse {
			err = h.checkCommand(c)
		} else {
			err = checkPresence(c)
		}
	}
	if err != nil {
		h.log.Warn("command refused", "device", id, "by", changedBy(e), "seq", e.Seq, "err", err)
		return
	}
	cause := hearth.Cause{Seq: e.Seq, Run: e.Cause.Run, Source: "house"}
	if kind == hubHouse {
		mode := c.attrs["mode"].(string) // checked
		if d, ok := h.reg.Device(HouseID); ok && d.State["mode"] == mode {
			return
		}
		h.log.Info("house mode", "mode", mode, "by", changedBy(e), "seq", e.Seq)
		h.publish(HouseID, map[string]any{"mode": mode}, cause)
		return
	}
	h.publish(id, map[string]any{"presence": c.attrs["presence"]}, cause)
}

// presenceFromAPhone publishes a person's presence when a phone changed
// it (OwnTracks: a state event on the phone's topic), as the hub publishes
// presence set by hand: dashboards and sirens read home/person_<id>, and a
// value retained there earlier must not stay. The location stays in the
// hub's state and log.
func (h *House) presenceFromAPhone(e hearth.Event) {
	// The person check first: every state event comes through here, and
	// only a person's needs the topic built to compare.
	if e.Device == "" || h.reg.hubKindOf(e.Device) != hubPerson || e.Topic == h.reg.BaseTopic()+"/"+e.Device {
		return
	}
	var change map[string]any
	if json.Unmarshal(e.Payload, &change) != nil {
		return
	}
	if p, ok := change["presence"]; ok {
		h.publish(e.Device, map[string]any{"presence": p}, hearth.Cause{Seq: e.Seq, Source: "house"})
	}
}

// checkCommand accepts {"mode": <a configured mode>}.
func (h *House) checkCommand(c hubCommand) error {
	mode, ok := c.attrs["mode"].(string)
	if !ok || len(c.attrs) != 1 {
		return badCommand(`the house takes {"mode": one of %s}`, strings.Join(h.modes, ", "))
	}
	if !slices.Contains(h.modes, mode) {
		return badCommand("house mode %q is not one of %s", mode, strings.Join(h.modes, ", "))
	}
	return nil
}

// publish queues device id's new state for the publisher.
func (h *House) publish(id string, state map[string]any, cause hearth.Cause) {
	b, err := json.Marshal(state)
	if err != nil {
		h.log.Error("state not encoded", "device", id, "err", err)
		return
	}
	h.out.push(hearth.Command{
		Device: id, Topic: h.reg.BaseTopic() + "/" + id, Payload: b,
		QoS: 1, Retain: true, Cause: cause,
	})
}

// Close stops the publisher; what it had not published yet is dropped.
func (h *House) Close() {
	h.cancel()
	h.wg.Wait()
}
