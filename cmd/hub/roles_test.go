package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth"
	"hearth/broker"
	"hearth/devices"
	"hearth/internal/mosquittotest"
	"hearth/internal/pkitest"
)

func TestRecorderAndAutomationsRunAsTwoProcessesAroundOneBroker(t *testing.T) {
	mosquitto := mosquittotest.Start(t, "").Addr
	url := "mqtt://" + mosquitto
	dir := t.TempDir()
	file := filepath.Join(dir, "automations.yaml")
	if err := os.WriteFile(file, []byte(motionLightYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	recorder := startHubProcess(t, filepath.Join(dir, "recorder"),
		"--broker", url, "--broker-client-id", "hearth-recorder", "--role", "recorder,web")
	automations := startHubProcess(t, filepath.Join(dir, "automations"),
		"--broker", url, "--broker-client-id", "hearth-automations", "--role", "automations", "--automations", file)
	if automations.httpAddr != "" || automations.mqttAddr != "" {
		t.Fatalf("the automations process listens (mqtt %q, http %q); it should only be a client", automations.mqttAddr, automations.httpAddr)
	}

	light := connect(t, mosquitto, "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	sensor := connect(t, mosquitto, "hall_motion")
	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":12}`)
	// The automations process folds the lux reading before the motion: both
	// come from one client, in order.
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
	if got := receive(t, commands); got["state"] != "ON" {
		t.Fatalf("the light got %v, want ON from the automations process", got)
	}

	eventually(t, "the recorder's log holding the motion and the command", func() bool {
		motion := events(t, recorder.httpAddr, "topic=home/hall_motion&kind=message")
		cmds := events(t, recorder.httpAddr, "topic=home/hall_light/set")
		return len(motion) == 1 && len(cmds) >= 1
	})
	if !strings.Contains(automations.stderr.String(), "command sent") {
		t.Fatalf("the automations process did not log its command:\n%s", automations.stderr.String())
	}
}

// TestThePageArmsTheAlarmOfAnotherProcess runs the page (with the log) and
// the alarm (with the automations) as two processes around one broker: the
// page's command reaches the alarm over MQTT, and the alarm's answer comes
// back the same way, as its state.
func TestThePageArmsTheAlarmOfAnotherProcess(t *testing.T) {
	mosquitto := mosquittotest.Start(t, "").Addr
	url := "mqtt://" + mosquitto
	dir := t.TempDir()
	hash, err := devices.HashAlarmCode("2580")
	if err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, "hub.yaml", fmt.Sprintf("alarm:\n  code_hash: %q\n  exit_delay: 0s\n  sensors: {armed_away: [front_door]}\n", hash))

	page := startHubProcess(t, filepath.Join(dir, "recorder"),
		"--broker", url, "--broker-client-id", "hearth-recorder", "--role", "recorder,web")
	startHubProcess(t, filepath.Join(dir, "automations"),
		"--broker", url, "--broker-client-id", "hearth-automations", "--role", "automations", "--config", config)
	api := "http://" + page.httpAddr + "/api/alarm"
	eventually(t, "the alarm's state reaching the page's process", func() bool {
		return deviceState(t, page.httpAddr, "alarm")["state"] == "disarmed"
	})

	cases := []struct {
		name, body string
		status     int
		state      string
	}{
		{"the right code arms it", `{"action":"arm_away","code":"2580"}`, 200, "armed_away"},
		{"a wrong code is refused", `{"action":"disarm","code":"0000"}`, 403, "armed_away"},
		{"the right code disarms it", `{"action":"disarm","code":"2580"}`, 200, "disarmed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var answer struct {
				Error string
				Alarm map[string]any
			}
			if code := postJSON(t, api, tc.body, &answer); code != tc.status || answer.Alarm["state"] != tc.state {
				t.Fatalf("%d %+v, want %d with the alarm %s", code, answer, tc.status, tc.state)
			}
		})
	}
	t.Run("the codes stay out of the log, where the alarm does not run", func(t *testing.T) {
		var cmds []apiEvent
		eventually(t, "the page's three commands in the log", func() bool {
			cmds = events(t, page.httpAddr, "topic=home/alarm/set")
			return len(cmds) == len(cases)
		})
		for _, e := range cmds {
			if !strings.Contains(string(e.Payload), `"code":"***"`) {
				t.Errorf("logged %s", e.Payload)
			}
		}
	})
}

// TestTheDemoRunsOnAnExternalBrokerThatAsksForALogin starts the demo on
// Mosquitto with anonymous clients refused: the simulated devices log in
// as the hub does, and the house shows on the hub. It used to end in a
// nil pointer panic, the demo asking the embedded broker (there is none)
// for its address.
func TestTheDemoRunsOnAnExternalBrokerThatAsksForALogin(t *testing.T) {
	users := mosquittotest.PasswordFile(t, map[string]string{"hub": "s3cret"})
	m := mosquittotest.Start(t, "allow_anonymous false\npassword_file "+users+"\n")
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Demo = true
		c.Broker = &broker.RemoteConfig{Endpoint: broker.Endpoint{URL: m.URL(), Username: "hub", PasswordFile: password, ClientID: "hearth-demo"}}
	})
	eventually(t, "the demo's hall motion sensor heard through Mosquitto", func() bool {
		d, ok := app.devices.Device("hall_motion")
		return ok && d.Availability == hearth.Online
	})
}

// TestHealthzSaysWhenTheExternalBrokerIsGone rides on Mosquitto and stops
// it: /healthz turns 503, degraded, saying since when the broker is out of
// reach (commands fail meanwhile), and ok again once it is back. It used to
// say ok throughout.
func TestHealthzSaysWhenTheExternalBrokerIsGone(t *testing.T) {
	m := mosquittotest.Start(t, "")
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Broker = &broker.RemoteConfig{Endpoint: broker.Endpoint{URL: m.URL(), ClientID: "hearth-health", ReconnectMin: 100 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}}
	})
	url := "http://" + app.HTTPAddr().String() + "/healthz"
	health := func() (int, map[string]any) {
		var body map[string]any
		code := getJSON(t, url, &body)
		return code, body
	}
	if code, body := health(); code != 200 || body["status"] != "ok" {
		t.Fatalf("connected: %d %v", code, body)
	}
	m.Stop()
	eventually(t, "healthz degraded while the broker is gone", func() bool {
		code, body := health()
		msg, _ := body["broker_error"].(string)
		return code == 503 && body["status"] == "degraded" && strings.Contains(msg, "not connected to the broker "+m.URL())
	})
	m.Resume()
	eventually(t, "healthz ok once the broker is back", func() bool {
		code, body := health()
		return code == 200 && body["status"] == "ok" && body["broker_error"] == nil
	})
}

// TestAHubOnAnExternalBrokerStartsWithoutWarnings: the hub's own devices
// publish their state a moment before the hub is connected to the broker,
// and are published once it is. That used to be a warning at every start,
// which told a newcomer something was wrong when nothing was.
func TestAHubOnAnExternalBrokerStartsWithoutWarnings(t *testing.T) {
	m := mosquittotest.Start(t, "")
	logs := &lockedBuffer{}
	cfg := Config{MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), BaseTopic: "home",
		Broker: &broker.RemoteConfig{Endpoint: broker.Endpoint{URL: m.URL(), ClientID: "hearth-quiet"}}}
	app, err := Start(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	eventually(t, "the house mode published through Mosquitto", func() bool {
		d, ok := app.devices.Device("house")
		return ok && d.State["mode"] != nil && len(events(t, app.HTTPAddr().String(), "kind=command&topic=home/house")) > 0
	})
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("warnings at a quiet start:\n%s", logs.String())
	}
}

// TestTheDemoRidesOnAnExternalBrokerOverTLS: Mosquitto with a certificate
// of the test's own CA, which the hub and the demo's devices are told to
// trust (--broker-ca). The devices used to dial with the system's roots
// alone, and the demo failed to start.
func TestTheDemoRidesOnAnExternalBrokerOverTLS(t *testing.T) {
	ca := pkitest.NewCA(t, "home-ca")
	cert, key := ca.Issue("nas", true)
	tlsAddr := mosquittotest.FreeAddr(t)
	_, port, _ := strings.Cut(tlsAddr, ":")
	mosquittotest.Start(t, fmt.Sprintf("listener %s 127.0.0.1\ncertfile %s\nkeyfile %s\n", port, cert, key))
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Demo = true
		c.Broker = &broker.RemoteConfig{Endpoint: broker.Endpoint{URL: "mqtts://" + tlsAddr, CAFile: ca.File, ClientID: "hearth-demo-tls"}}
	})
	eventually(t, "the demo's hall motion sensor heard over TLS", func() bool {
		d, ok := app.devices.Device("hall_motion")
		return ok && d.Availability == hearth.Online
	})
}
