package web

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"hearth"
	"hearth/web/webtest"
)

func num(v float64) *float64 { return &v }

// zigbeeHouse describes devices as the Zigbee2MQTT adapter does from their
// exposes (devices.z2mCapabilities): a cover, a lock, a thermostat, a
// colour-temperature bulb and a motion sensor that reports its battery
// voltage in mV.
var zigbeeHouse = infoOf{
	"garage_cover": {ID: "garage_cover", Name: "Garage blind", Room: "Garage", Adapter: "zigbee2mqtt", Kind: "cover", Capabilities: []hearth.Capability{
		{Attr: "state", Type: "enum", Set: true, Values: []string{"OPEN", "CLOSE", "STOP"}},
		{Attr: "position", Type: "numeric", Set: true, Unit: "%", Min: num(0), Max: num(100)},
		{Attr: "linkquality", Type: "numeric", Unit: "lqi", Min: num(0), Max: num(255)},
	}},
	"front_lock": {ID: "front_lock", Name: "Front door lock", Room: "Hall", Adapter: "zigbee2mqtt", Kind: "lock", Capabilities: []hearth.Capability{
		{Attr: "state", Type: "binary", Set: true, On: "LOCK", Off: "UNLOCK"},
		{Attr: "lock_state", Type: "enum", Values: []string{"not_fully_locked", "locked", "unlocked"}},
		{Attr: "battery", Type: "numeric", Unit: "%", Min: num(0), Max: num(100)},
	}},
	"living_trv": {ID: "living_trv", Name: "Living radiator", Room: "Living room", Adapter: "zigbee2mqtt", Kind: "climate", Capabilities: []hearth.Capability{
		{Attr: "local_temperature", Type: "numeric", Unit: "°C"},
		{Attr: "current_heating_setpoint", Type: "numeric", Set: true, Unit: "°C", Min: num(5), Max: num(30)},
		{Attr: "system_mode", Type: "enum", Set: true, Values: []string{"off", "auto", "heat"}},
		{Attr: "running_state", Type: "enum", Values: []string{"idle", "heat"}},
	}},
	"desk_bulb": {ID: "desk_bulb", Name: "Desk bulb", Room: "Office", Adapter: "zigbee2mqtt", Kind: "light", Capabilities: []hearth.Capability{
		{Attr: "state", Type: "binary", Set: true, On: "ON", Off: "OFF", Toggle: "TOGGLE"},
		{Attr: "brightness", Type: "numeric", Set: true, Min: num(0), Max: num(254)},
		{Attr: "color_temp", Type: "numeric", Set: true, Unit: "mired", Min: num(250), Max: num(454), Presets: []string{"coolest", "cool", "neutral", "warm", "warmest"}},
		{Attr: "effect", Type: "enum", Set: true, Values: []string{"blink", "breathe", "okay", "channel_change", "finish_effect", "stop_effect"}},
		{Attr: "color", Type: "object", Set: true},
	}},
	"hall_motion": {ID: "hall_motion", Adapter: "zigbee2mqtt", Kind: "binary_sensor", Class: "motion", Capabilities: []hearth.Capability{
		{Attr: "occupancy", Type: "binary", Class: "motion", On: true, Off: false},
		{Attr: "voltage", Type: "numeric", Unit: "mV"},
		{Attr: "device_temperature", Type: "numeric", Unit: "°C"},
	}},
}

// zigbeeStates publishes the states of zigbeeHouse's devices.
func zigbeeStates(t *testing.T, s *stack) {
	t.Helper()
	s.publish(t, "home/garage_cover", `{"state":"CLOSE","position":0,"linkquality":80}`)
	s.publish(t, "home/front_lock", `{"state":"UNLOCK","lock_state":"unlocked","battery":92}`)
	s.publish(t, "home/living_trv", `{"local_temperature":18.3,"current_heating_setpoint":18,"system_mode":"heat","running_state":"idle"}`)
	s.publish(t, "home/desk_bulb", `{"state":"ON","brightness":200,"color_temp":370}`)
	s.publish(t, "home/hall_motion", `{"occupancy":false,"voltage":3042,"device_temperature":24}`)
	s.durable(t)
}

// lastCommand waits for a command beyond the first n and returns it.
func lastCommand(t *testing.T, s *stack, n int) hearth.Command {
	t.Helper()
	eventually(t, func() bool { return len(s.cmd.commands()) > n })
	cmds := s.cmd.commands()
	return cmds[len(cmds)-1]
}

// TestBrowserDeviceControls sets a cover, a lock, a thermostat and a bulb
// from the page, with the controls their capabilities call for.
func TestBrowserDeviceControls(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{info: zigbeeHouse})
	zigbeeStates(t, s)
	home := s.http.URL + "/"

	t.Run("a cover's card opens it and its page sets its position", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Phone)
		tab.Navigate(home)
		card := `[data-device="garage_cover"]`
		tab.WaitJS(`document.querySelector('` + card + ` .big .unit')?.textContent === '%'`)
		labels := webtest.Eval[[]string](tab, `[...document.querySelectorAll('`+card+` .choices button')].map((b) => b.textContent)`)
		if !slices.Equal(labels, []string{"Open", "Close", "Stop"}) {
			t.Fatalf("the cover's card has the buttons %q, want Open, Close, Stop", labels)
		}
		n := len(s.cmd.commands())
		tab.Click(card + ` [data-value="OPEN"]`)
		if c := lastCommand(t, s, n); c.Topic != "home/garage_cover/set" || string(c.Payload) != `{"state":"OPEN"}` {
			t.Fatalf("Open sent %s to %s", c.Payload, c.Topic)
		}
		tab.WaitJS(`document.querySelector('` + card + ` [data-value="OPEN"]').getAttribute('aria-pressed') === 'true'`)

		tab.Navigate(home + "#/device/garage_cover")
		slider := `.settings [data-attr="position"] input[type=range]`
		tab.WaitJS(`document.querySelector('` + slider + `')?.max === '100'`)
		n = len(s.cmd.commands())
		tab.SetRange(slider, 40)
		if c := lastCommand(t, s, n); string(c.Payload) != `{"position":40}` {
			t.Fatalf("the position slider sent %s", c.Payload)
		}
		tab.WaitJS(`document.querySelector('.settings [data-attr="position"] output').value === '40%'`)
		tab.NoErrors()
	})

	t.Run("a lock's switch locks and unlocks it", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		sw := `[data-device="front_lock"] .switch`
		tab.WaitJS(`document.querySelector('` + sw + `')?.getAttribute('aria-checked') === 'false'`)
		if name := webtest.Eval[string](tab, `document.querySelector('`+sw+`').getAttribute('aria-label')`); name != "Front door lock locked" {
			t.Errorf("the lock's switch is called %q", name)
		}
		n := len(s.cmd.commands())
		tab.Click(sw)
		if c := lastCommand(t, s, n); string(c.Payload) != `{"state":"LOCK"}` {
			t.Fatalf("the switch sent %s, want LOCK", c.Payload)
		}
		tab.WaitJS(`document.querySelector('` + sw + `').getAttribute('aria-checked') === 'true' && document.querySelector('[data-device="front_lock"] .switch-text').textContent === 'Locked'`)
		n = len(s.cmd.commands())
		tab.Focus(sw)
		tab.Key(" ")
		if c := lastCommand(t, s, n); string(c.Payload) != `{"state":"UNLOCK"}` {
			t.Fatalf("the switch sent %s, want UNLOCK", c.Payload)
		}
		tab.WaitJS(`document.querySelector('` + sw + `').getAttribute('aria-checked') === 'false'`)
		tab.NoErrors()
	})

	t.Run("a thermostat's page sets its setpoint in range and its mode", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home + "#/device/living_trv")
		slider := `[data-attr="current_heating_setpoint"] input[type=range]`
		tab.WaitJS(`document.querySelector('` + slider + `')?.value === '18'`)
		bounds := webtest.Eval[[]string](tab, `['min', 'max'].map((a) => document.querySelector('`+slider+`')[a])`)
		if !slices.Equal(bounds, []string{"5", "30"}) {
			t.Fatalf("the setpoint slider runs over %q, want 5 to 30", bounds)
		}
		n := len(s.cmd.commands())
		tab.SetRange(slider, 99) // the slider holds it to its range
		c := lastCommand(t, s, n)
		if string(c.Payload) != `{"current_heating_setpoint":30}` {
			t.Fatalf("the setpoint slider sent %s, want 30", c.Payload)
		}
		tab.WaitJS(`document.querySelector('[data-attr="current_heating_setpoint"] output').value === '30 °C'`)
		n = len(s.cmd.commands())
		tab.Click(`[data-attr="system_mode"] [data-value="auto"]`)
		if c := lastCommand(t, s, n); string(c.Payload) != `{"system_mode":"auto"}` {
			t.Fatalf("the mode sent %s", c.Payload)
		}
		state := webtest.Eval[string](tab, `document.querySelector('.state').textContent`)
		if !strings.Contains(state, "18.3 °C") {
			t.Errorf("the state list says %q, want the temperature in °C", state)
		}
		tab.NoErrors()
	})

	t.Run("a bulb's page sets its colour temperature, a preset and an effect", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home + "#/device/desk_bulb")
		tab.WaitJS(`!!document.querySelector('[data-attr="effect"] select')`)
		if n := webtest.Eval[int](tab, `document.querySelectorAll('.settings [data-attr="state"], .settings [data-attr="brightness"], .settings [data-attr="color"]').length`); n != 0 {
			t.Errorf("%d controls again for what the light's own controls set, or for its colour", n)
		}
		n := len(s.cmd.commands())
		tab.Click(`[data-attr="color_temp"] .presets button:last-child`)
		if c := lastCommand(t, s, n); string(c.Payload) != `{"color_temp":"warmest"}` {
			t.Fatalf("the preset sent %s", c.Payload)
		}
		n = len(s.cmd.commands())
		webtest.Eval[bool](tab, `(() => { document.querySelector('[data-attr="effect"] select').value = 'breathe'; return true; })()`)
		tab.Click(`[data-attr="effect"] button`)
		if c := lastCommand(t, s, n); string(c.Payload) != `{"effect":"breathe"}` {
			t.Fatalf("the effect sent %s", c.Payload)
		}
		tab.NoErrors()
	})

	t.Run("a card shows the unit the device gives", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		facts := `[...document.querySelectorAll('[data-device="hall_motion"] .facts li')].map((li) => li.textContent)`
		tab.WaitJS(facts + `.length > 0`)
		got := webtest.Eval[[]string](tab, facts)
		if !slices.Contains(got, "Voltage 3,042 mV") || !slices.Contains(got, "Device temperature 24 °C") {
			t.Errorf("the motion sensor's facts are %q, want its voltage in mV and its temperature in °C", got)
		}
		tab.NoErrors()
	})

	t.Run("screenshots of the controls on a phone and a desktop, light and dark", func(t *testing.T) {
		for _, v := range []webtest.View{webtest.Phone, webtest.PhoneDark, webtest.Desktop, webtest.DesktopDark} {
			tab := b.NewTab(t, v)
			for _, p := range []struct{ name, hash, ready string }{
				{"controls-home", "#/", `!!document.querySelector('[data-device="front_lock"] .switch')`},
				{"controls-cover", "#/device/garage_cover", `!!document.querySelector('.settings input[type=range]')`},
				{"controls-thermostat", "#/device/living_trv", `!!document.querySelector('.settings input[type=range]')`},
				{"controls-bulb", "#/device/desk_bulb", `!!document.querySelector('.settings select')`},
			} {
				tab.Navigate(home + "?" + p.name + p.hash)
				tab.WaitJS(p.ready)
				tab.FullScreenshot(fmt.Sprintf("%s-%s", p.name, v.Name))
			}
			tab.NoErrors()
		}
		t.Logf("screenshots: %s", webtest.ScreenshotDir(t))
	})
}
