package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHubSimRunsASteadyHouseAgainstABroker(t *testing.T) {
	app, _ := startHub(t, "")
	var out, errs bytes.Buffer
	// 10 devices: 8 sensors at 40 messages/s together, each every 200ms.
	code := simCommand([]string{"--broker", app.MQTTAddr().String(), "--devices", "10", "--rate", "40", "--duration", "2s", "--seed", "7"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "10 devices (8 sensors)") {
		t.Fatalf("output %q", out.String())
	}
	// Every sensor reported (steadily, so more than its first state), and
	// every device went online.
	for _, id := range []string{"motion_0", "thermometer_2", "contact_3", "light_level_4", "motion_5", "thermometer_7", "contact_8", "light_level_9"} {
		eventually(t, id+" reporting steadily", func() bool {
			return len(events(t, app.HTTPAddr().String(), "kind=message&topic=home/"+id)) >= 3
		})
	}
	var devs []struct{ ID, Availability string }
	getJSON(t, "http://"+app.HTTPAddr().String()+"/api/devices", &devs)
	online := 0
	for _, d := range devs {
		if d.Availability == "online" || d.Availability == "offline" {
			online++
		}
	}
	if online < 10 {
		t.Fatalf("%d devices announced their availability, want 10: %+v", online, devs)
	}
}
