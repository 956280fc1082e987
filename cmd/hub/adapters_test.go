package main

import (
	"path/filepath"
	"testing"

	"hearth"
)

func TestAZigbee2MQTTBulbIsSwitchedLikeANativeLight(t *testing.T) {
	app, _ := startHub(t, `
- id: button_bulb
  triggers: [{mqtt: home/button}]
  actions: [{set: kitchen_bulb, state: {state: "ON", brightness: 120}}]
`)
	addr, httpAddr := app.MQTTAddr().String(), app.HTTPAddr().String()
	z2m := connect(t, addr, "zigbee2mqtt")
	sets := subscribe(t, z2m, "zigbee2mqtt/kitchen_bulb/set")
	publish(t, z2m, "zigbee2mqtt/kitchen_bulb", 1, `{"state":"OFF","brightness":10,"color_temp":325}`)

	eventually(t, "the bulb in the read model", func() bool {
		var d hearth.DeviceState
		getJSON(t, "http://"+httpAddr+"/api/devices/kitchen_bulb", &d)
		return d.State["brightness"] == 10.0
	})
	button := connect(t, addr, "button")
	publish(t, button, "home/button", 1, `{"action":"single"}`)
	if got := receive(t, sets); got["state"] != "ON" || got["brightness"] != 120.0 {
		t.Fatalf("Zigbee2MQTT got %v on its /set, want the automation's command", got)
	}
}

func TestHomeAssistantDiscoveryOutlivesARestart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	hub := startHubProcess(t, data)
	node := connect(t, hub.mqttAddr, "esphome_garden")
	publish(t, node, "homeassistant/binary_sensor/garden/config", 1,
		`{"name": "garden", "device_class": "motion", "state_topic": "homeassistant/binary_sensor/garden/state"}`)
	publish(t, node, "homeassistant/binary_sensor/garden/state", 1, "ON")
	occupancy := func(h *hubProcess) any {
		var d hearth.DeviceState
		getJSON(t, "http://"+h.httpAddr+"/api/devices/garden", &d)
		return d.State["occupancy"]
	}
	eventually(t, "the discovered sensor's state", func() bool { return occupancy(hub) == true })
	if err := hub.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = hub.cmd.Wait()
	node.Disconnect(0)

	// The broker's retained copy of the config is gone with the process;
	// the hub must know the sensor from its log.
	hub = startHubProcess(t, data)
	node = connect(t, hub.mqttAddr, "esphome_garden_again")
	publish(t, node, "homeassistant/binary_sensor/garden/state", 1, "OFF")
	eventually(t, "the sensor read after the restart", func() bool { return occupancy(hub) == false })
}
