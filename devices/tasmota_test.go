package devices

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

func TestTasmotaSensor(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		want  map[string]any
		units map[string]string
	}{
		{
			name:  "an AM2301's values become temperature and humidity",
			file:  "am2301_sensor.json",
			want:  map[string]any{"temperature": 24.6, "humidity": 58.2},
			units: map[string]string{"temperature": "°C", "humidity": "%"},
		},
		{
			name:  "a BME280 adds pressure in its unit",
			file:  "bme280_sensor.json",
			want:  map[string]any{"temperature": 21.7, "humidity": 66.6, "pressure": 988.6},
			units: map[string]string{"temperature": "°C", "pressure": "hPa"},
		},
		{
			name: "an energy meter's ENERGY values and a switch at the top level",
			file: "energy_sensor.json",
			want: map[string]any{"switch1": "ON", "total_start_time": "2022-03-20T15:20:48", "total": 514.153, "yesterday": 1.495, "today": 0.537,
				"period": 0, "power": 56, "apparent_power": 92, "reactive_power": 73, "factor": 0.61, "voltage": 234, "current": 0.392},
			units: map[string]string{"power": "W", "total": "kWh", "voltage": "V", "current": "A", "apparent_power": "VA"},
		},
		{
			name: "values whose names clash are named by their whole path",
			file: "ds18b20_am2301_sensor.json",
			want: map[string]any{"ds18b20_1_id": "0316A2795FFF", "ds18b20_1_temperature": 21.9, "ds18b20_2_id": "0416A27B46FF",
				"ds18b20_2_temperature": 19.4, "am2301_temperature": 24.6, "humidity": 58.2},
			units: map[string]string{"ds18b20_1_temperature": "°C", "am2301_temperature": "°C"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			e, out := g.send(hearth.KindMessage, "tele/tasmota_9CF9D1/SENSOR", testdata(t, "tasmota/"+tc.file))
			if e.Device != "tasmota_9CF9D1" || len(out) != 1 {
				t.Fatalf("device %q, emitted %+v", e.Device, out)
			}
			sameState(t, "state", g.state("tasmota_9CF9D1"), tc.want)
			in := g.info("tasmota_9CF9D1")
			if in.Adapter != "tasmota" || in.Kind != "sensor" {
				t.Errorf("info = %+v", in)
			}
			for attr, unit := range tc.units {
				if c := capability(t, in, attr); c.Unit != unit || c.Type != "numeric" {
					t.Errorf("%s = %+v, want unit %s", attr, c, unit)
				}
			}
			if out := g.msg("tele/tasmota_9CF9D1/SENSOR", testdata(t, "tasmota/"+tc.file)); len(out) != 0 {
				t.Errorf("the same report again emitted %+v", out)
			}
		})
	}
}

func TestTasmotaState(t *testing.T) {
	t.Run("STATE gives the relay and the Wifi signal, not the uptime", func(t *testing.T) {
		g := newRig(t)
		g.msg("tele/tasmota_9CF9D1/STATE", testdata(t, "tasmota/state.json"))
		sameState(t, "state", g.state("tasmota_9CF9D1"), map[string]any{"state": "OFF", "wifi_rssi": 44, "wifi_signal": -78})
		if out := g.msg("tele/tasmota_9CF9D1/STATE", testdata(t, "tasmota/state_later.json")); len(out) != 0 {
			t.Errorf("a later report with only the uptime moved emitted %+v", out)
		}
		if in := g.info("tasmota_9CF9D1"); in.Kind != "switch" || !capability(t, in, "state").Set {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("a dimmer's Dimmer is brightness on the hub's scale", func(t *testing.T) {
		g := newRig(t)
		g.msg("tele/shelly_dimmer/STATE", testdata(t, "tasmota/state_dimmer.json"))
		sameState(t, "state", g.state("shelly_dimmer"), map[string]any{"state": "ON", "brightness": 25, "wifi_rssi": 70, "wifi_signal": -65})
		g.msg("stat/shelly_dimmer/RESULT", testdata(t, "tasmota/result_dimmer.json"))
		if b := g.state("shelly_dimmer")["brightness"]; b != 127.0 {
			t.Errorf("brightness after Dimmer 50 = %v, want 127", b)
		}
		if in := g.info("shelly_dimmer"); in.Kind != "light" {
			t.Errorf("kind = %q, want light", in.Kind)
		}
	})
	cases := []struct {
		name    string
		topic   string
		payload string
		want    map[string]any
		avail   hearth.Availability
	}{
		{name: "RESULT of a power command", topic: "stat/plug/RESULT", payload: string(testdata(t, "tasmota/result_power.json")), want: map[string]any{"state": "ON"}},
		{name: "RESULT of relay 2", topic: "stat/plug/RESULT", payload: string(testdata(t, "tasmota/result_power2.json")), want: map[string]any{"state_2": "OFF"}},
		{name: "stat POWER as plain text", topic: "stat/plug/POWER", payload: string(testdata(t, "tasmota/stat_power.txt")), want: map[string]any{"state": "ON"}},
		{name: "stat POWER2 as plain text", topic: "stat/plug/POWER2", payload: "OFF", want: map[string]any{"state_2": "OFF"}},
		{name: "LWT Online is online", topic: "tele/plug/LWT", payload: "Online", avail: hearth.Online},
		{name: "LWT Offline is offline", topic: "tele/plug/LWT", payload: "Offline", avail: hearth.Offline},
		{name: "RESULT of an unknown command changes nothing", topic: "stat/plug/RESULT", payload: string(testdata(t, "tasmota/result_unknown.json"))},
		{name: "a command sent to the device is not its state", topic: "cmnd/plug/POWER", payload: "ON"},
		{name: "another tele topic is not state", topic: "tele/plug/HASS_STATE", payload: `{"Version":"x"}`},
		{name: "a POWER that is neither ON nor OFF is ignored", topic: "stat/plug/POWER", payload: "BLINK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			e, out := g.send(hearth.KindMessage, tc.topic, []byte(tc.payload))
			if e.Device != "plug" {
				t.Errorf("device = %q", e.Device)
			}
			switch {
			case tc.want != nil:
				if len(out) != 1 {
					t.Fatalf("emitted %+v", out)
				}
				sameState(t, "state", g.state("plug"), tc.want)
			case tc.avail != "":
				if len(out) != 1 || string(out[0].Payload) != string(tc.avail) {
					t.Fatalf("emitted %+v, want %s", out, tc.avail)
				}
			default:
				if len(out) != 0 {
					t.Fatalf("emitted %+v, want nothing", out)
				}
			}
		})
	}
	t.Run("INFO1 gives the module as the model, in both forms", func(t *testing.T) {
		g := newRig(t)
		g.msgs("tele/a/LWT", "Online")
		g.msg("tele/a/INFO1", testdata(t, "tasmota/info1.json"))
		g.msgs("tele/b/LWT", "Online")
		g.msg("tele/b/INFO1", testdata(t, "tasmota/info1_nested.json"))
		if in := g.info("a"); in.Model != "Shelly Dimmer" || in.Description != "Tasmota 8.3.1.2(tasmota)" {
			t.Errorf("a = %+v", in)
		}
		if in := g.info("b"); in.Model != "Sonoff Basic" {
			t.Errorf("b = %+v", in)
		}
	})
}

func TestTasmotaCommands(t *testing.T) {
	g := newRig(t)
	g.msg("tele/tasmota_9CF9D1/STATE", testdata(t, "tasmota/state.json"))
	cases := []struct {
		name    string
		payload string
		want    []cmdRow
		err     string
	}{
		{name: "state ON is Power ON", payload: `{"state":"ON"}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/POWER", "ON"}}},
		{name: "state in lower case and true/false are understood", payload: `{"state":"toggle"}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/POWER", "TOGGLE"}}},
		{name: "a boolean state is ON or OFF", payload: `{"state":false}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/POWER", "OFF"}}},
		{name: "relay 2 is POWER2", payload: `{"state_2":"ON"}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/POWER2", "ON"}}},
		{name: "full brightness is Dimmer 100", payload: `{"brightness":254}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/Dimmer", "100"}}},
		{name: "brightness and state: the dimmer first, so that OFF wins", payload: `{"state":"OFF","brightness":127}`,
			want: []cmdRow{{"cmnd/tasmota_9CF9D1/Dimmer", "50"}, {"cmnd/tasmota_9CF9D1/POWER", "OFF"}}},
		{name: "brightness out of range is clamped", payload: `{"brightness":400}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/Dimmer", "100"}}},
		{name: "the lowest brightness is the lowest Dimmer, not 0, which is off", payload: `{"brightness":1}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/Dimmer", "1"}}},
		{name: "brightness 0 is Dimmer 0", payload: `{"brightness":0}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/Dimmer", "0"}}},
		{name: "color_temp is CT", payload: `{"color_temp":300}`, want: []cmdRow{{"cmnd/tasmota_9CF9D1/CT", "300"}}},
		{name: "an attribute Tasmota does not take is refused", payload: `{"effect":"blink"}`, err: `not "effect"`},
		{name: "a state that is not on or off is refused", payload: `{"state":"maybe"}`, err: `"ON", "OFF" or "TOGGLE"`},
		{name: "a brightness that is not a number is refused", payload: `{"brightness":"lots"}`, err: "must be a number"},
		{name: "a relay number out of range is refused", payload: `{"state_99":"ON"}`, err: "no relay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := g.r.CommandFor("tasmota_9CF9D1", []byte(tc.payload))
			if tc.err != "" {
				if err == nil || !errors.Is(err, hearth.ErrBadCommand) || !contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rows(cmds); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("commands = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Temperature": "temperature", "DewPoint": "dew_point", "ApparentPower": "apparent_power", "TotalStartTime": "total_start_time",
		"DS18B20-1": "ds18b20_1", "AM2301": "am2301", "PM2.5": "pm2_5", "eCO2": "e_co2", "CTEnergy": "ct_energy", "RSSI": "rssi", "Switch1": "switch1",
		"": "", "__": "",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}
