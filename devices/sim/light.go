package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// LightState is what a simulated light is doing.
type LightState struct {
	// On says whether the light is on.
	On bool
	// Brightness is 1 to 254; it is kept while the light is off.
	Brightness int
}

// payload is the state as the light publishes it.
func (s LightState) payload() map[string]any {
	state := "OFF"
	if s.On {
		state = "ON"
	}
	return map[string]any{"state": state, "brightness": s.Brightness}
}

// Light is a dimmable light that obeys commands on <base>/<id>/set the way
// a Zigbee2MQTT light does and publishes its whole new state, retained, on
// <base>/<id> after every command.
type Light struct {
	*link
	cmds chan []byte

	mu    sync.Mutex
	state LightState
}

func newLight(l *link) *Light {
	return &Light{link: l, cmds: make(chan []byte, 64), state: LightState{Brightness: 254}}
}

// ID returns the light's device id.
func (l *Light) ID() string { return l.id }

// State returns what the light is doing now.
func (l *Light) State() LightState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// setup subscribes to commands, announces the light and publishes its state.
func (l *Light) setup(ctx context.Context) error {
	err := wait(ctx, l.client.Subscribe(l.topic("/set"), 1, func(_ mqtt.Client, m mqtt.Message) {
		// paho's router goroutine: hand the command to run, never block.
		select {
		case l.cmds <- m.Payload():
		default:
			l.log.Warn("command dropped: too many pending")
		}
	}))
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", l.topic("/set"), err)
	}
	if err := l.announce(ctx); err != nil {
		return err
	}
	return l.publishState(ctx, l.State().payload(), true)
}

// run applies commands until ctx is done.
func (l *Light) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.lost:
			l.reconnect(ctx, l.setup)
		case cmd := <-l.cmds:
			next, err := applyCommand(l.State(), cmd)
			if err != nil {
				l.log.Warn("command ignored", "error", err, "payload", string(cmd))
				continue
			}
			l.mu.Lock()
			l.state = next
			l.mu.Unlock()
			if err := l.publishState(ctx, next.payload(), true); err != nil && ctx.Err() == nil {
				l.log.Warn("publish state", "error", err)
			}
		}
	}
}

// applyCommand returns the light's state after a command such as
// {"state":"ON","brightness":200}: state is ON, OFF or TOGGLE (any case);
// brightness is 0 to 254, where 0 turns the light off and more sets the level
// and, without a state, turns it on. Unknown keys are ignored, as Zigbee2MQTT
// does; a command with neither key, or with a bad value, is an error and
// changes nothing.
func applyCommand(s LightState, payload []byte) (LightState, error) {
	var cmd map[string]json.RawMessage
	if err := json.Unmarshal(payload, &cmd); err != nil || cmd == nil {
		return s, errors.New("not a JSON object")
	}
	rawState, hasState := cmd["state"]
	rawBright, hasBright := cmd["brightness"]
	if !hasState && !hasBright {
		return s, errors.New("neither state nor brightness")
	}
	on := s.On
	if hasState {
		var v string
		if err := json.Unmarshal(rawState, &v); err != nil {
			return s, fmt.Errorf("state %s is not a string", rawState)
		}
		switch strings.ToUpper(v) {
		case "ON":
			on = true
		case "OFF":
			on = false
		case "TOGGLE":
			on = !s.On
		default:
			return s, fmt.Errorf("state %q is not ON, OFF or TOGGLE", v)
		}
	}
	if hasBright {
		var b float64
		if err := json.Unmarshal(rawBright, &b); err != nil || b < 0 || b > 254 {
			return s, fmt.Errorf("brightness %s is not a number from 0 to 254", rawBright)
		}
		if n := int(math.Round(b)); n == 0 {
			on = false
		} else {
			s.Brightness = n
			on = on || !hasState
		}
	}
	s.On = on
	return s, nil
}
