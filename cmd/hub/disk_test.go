package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"hearth/internal/disktest"
)

const motionLight = `
- id: hall_light_on_motion
  triggers:
    - device: hall_motion
      when: occupancy == true
  actions:
    - set: hall_light
      state: {state: "ON"}
`

// healthz returns /healthz's status code and "status".
func healthz(t *testing.T, httpAddr string) (int, string) {
	t.Helper()
	var body struct {
		Status string `json:"status"`
	}
	code := getJSON(t, "http://"+httpAddr+"/healthz", &body)
	return code, body.Status
}

func metricsText(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTheHubRidesOutAFullDisk(t *testing.T) {
	card := disktest.Tmpfs(t, "32m")
	app, _ := startHubWith(t, motionLight, func(c *Config) {
		c.DataDir = card
		c.DiskTrouble.retryMax = 50 * time.Millisecond
	})
	mqttAddr, httpAddr := app.MQTTAddr().String(), app.HTTPAddr().String()
	light := connect(t, mqttAddr, "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	motion := connect(t, mqttAddr, "hall_motion")
	camera := connect(t, mqttAddr, "camera")
	// The meter speaks MQTT 3.1.1 at QoS 1 and keeps its session: what it
	// sent without an acknowledgement it sends again when it reconnects.
	meterOpts := mqtt.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("meter").
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).
		SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	meter := mqtt.NewClient(meterOpts)
	if tok := meter.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect meter: %v", tok.Error())
	}
	t.Cleanup(func() { meter.Disconnect(100) })
	publish(t, meter, "home/meter", 1, `{"kwh":0}`)

	// The card fills up (another program's files, say). The camera's
	// pictures keep coming until the log cannot take them.
	filler := disktest.Fill(t, card)
	picture := strings.Repeat("x", 4096)
	for i := 0; app.bus.DurableErr() == nil; i++ {
		for range 5 {
			publish(t, camera, "home/camera", 0, fmt.Sprintf(`{"i":%d,"jpeg":%q}`, i, picture))
		}
		if i > 10_000 {
			t.Fatal("the log never ran out of room")
		}
		time.Sleep(10 * time.Millisecond) // the camera's pace; the log commits them once a second
	}

	var refused mqtt.Token
	t.Run("a QoS 1 message is not acknowledged and the meter stays connected", func(t *testing.T) {
		refused = meter.Publish("home/meter", 1, false, `{"kwh":1}`)
		// A SUBACK comes after any PUBACK the hub would have sent for the
		// message before it, and paho reads them in order.
		if tok := meter.Subscribe("home/meter/set", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		select {
		case <-refused.Done():
			t.Fatalf("the hub acknowledged a message it could not log (err %v)", refused.Error())
		default:
		}
		if !meter.IsConnectionOpen() {
			t.Fatal("the meter was disconnected")
		}
	})

	t.Run("motion still turns the light on", func(t *testing.T) {
		publish(t, motion, "home/hall_motion", 0, `{"occupancy":true}`)
		if got := receive(t, commands); got["state"] != "ON" {
			t.Fatalf("light command %v, want state ON", got)
		}
	})

	t.Run("the hub says so on /healthz and /metrics", func(t *testing.T) {
		if code, status := healthz(t, httpAddr); code != http.StatusServiceUnavailable || status != "degraded" {
			t.Fatalf("/healthz: %d %q, want 503 degraded", code, status)
		}
		if m := metricsText(t, httpAddr); !strings.Contains(m, "\nhearth_log_failing 1\n") {
			t.Fatal("/metrics does not say hearth_log_failing 1")
		}
	})

	select {
	case <-app.Failed():
		t.Fatal("the hub gave up on a full disk")
	default:
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/healthz says ok once the disk has room", func() bool {
		code, status := healthz(t, httpAddr)
		return code == http.StatusOK && status == "ok"
	})

	t.Run("once the disk has room, a QoS 1 message is acknowledged and logged", func(t *testing.T) {
		thermometer := connect(t, mqttAddr, "thermometer")
		publish(t, thermometer, "home/thermometer", 1, `{"temperature":21.5}`)
		if got := events(t, httpAddr, "kind=message&topic=home/thermometer"); len(got) != 1 {
			t.Fatalf("acknowledged, and the log holds %d such messages, want 1", len(got))
		}
		if m := metricsText(t, httpAddr); !strings.Contains(m, "\nhearth_log_failing 0\n") {
			t.Fatal("/metrics does not say hearth_log_failing 0")
		}
	})

	t.Run("the meter sends the refused message again, and the log holds it once", func(t *testing.T) {
		// Its next message makes the hub end its connection; it reconnects
		// and sends what was never acknowledged. (paho completes the old
		// token when it sends again, not on the PUBACK: look in the log.)
		publish(t, meter, "home/meter", 1, `{"kwh":2}`)
		var got []string
		eventually(t, "the meter's messages in the log", func() bool {
			got = got[:0]
			for _, e := range events(t, httpAddr, "kind=message&topic=home/meter&limit=10") {
				got = append(got, string(e.Payload))
			}
			return len(got) >= 3
		})
		want := map[string]int{`{"kwh":0}`: 1, `{"kwh":1}`: 1, `{"kwh":2}`: 1}
		for _, p := range got {
			want[p]--
		}
		for p, n := range want {
			if n != 0 {
				t.Fatalf("the log holds meter messages %q: want %s exactly once", got, p)
			}
		}
		if !refused.WaitTimeout(10 * time.Second) {
			t.Fatal("the refused message's token never completed")
		}
	})

	t.Run("what happened while the disk was full is in the log", func(t *testing.T) {
		motions := events(t, httpAddr, "kind=message&topic=home/hall_motion&limit=5")
		cmds := events(t, httpAddr, "topic=home/hall_light/set&limit=5")
		if len(motions) != 1 || len(cmds) != 1 || cmds[0].Cause.Seq == 0 {
			t.Fatalf("log holds %d motion messages and %d light commands (%+v); want one each, the command with its cause", len(motions), len(cmds), cmds)
		}
	})
}

func TestDiskTroubleConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    DiskTroubleConfig
		wantErr string
	}{
		{"the limits come from the config file", "disk_trouble: {hold_events: 5000, hold_mb: 8}\n", DiskTroubleConfig{HoldEvents: 5000, HoldMB: 8}, ""},
		{"no section leaves the defaults", "mqtt: :1883\n", DiskTroubleConfig{}, ""},
		{"a negative limit is refused", "disk_trouble: {hold_events: -1}\n", DiskTroubleConfig{}, "must not be negative"},
		{"an unknown key names its line", "disk_trouble:\n  hold_minutes: 5\n", DiskTroubleConfig{}, "hub.yaml:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags([]string{"--config", writeFile(t, "hub.yaml", tc.yaml)}, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.DiskTrouble != tc.want {
				t.Fatalf("disk_trouble %+v, %v; want %+v", c.DiskTrouble, err, tc.want)
			}
			st := c.DiskTrouble.store()
			if st.HoldEvents != tc.want.HoldEvents || st.HoldBytes != int64(tc.want.HoldMB)<<20 {
				t.Fatalf("the store is told %+v", st)
			}
		})
	}
}
