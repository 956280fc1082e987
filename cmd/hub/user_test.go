package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestBrokerUsersAndTheirTopics(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	add := func(name, password string, acl ...string) {
		t.Helper()
		args := []string{"add", name, "--data", data}
		for _, a := range acl {
			args = append(args, "--acl", a)
		}
		var out, errs bytes.Buffer
		if code := userCommand(args, strings.NewReader(password+"\n"), &out, &errs); code != 0 {
			t.Fatalf("hub user add %s: exit %d: %s", name, code, errs.String())
		}
	}
	add("hall_motion", "motion-secret-1", "write:home/%u", "read:home/%u/set")
	add("dashboard", "dashboard-secret-1", "read:home/#")

	var list bytes.Buffer
	if code := userCommand([]string{"list", "--data", data}, strings.NewReader(""), &list, &list); code != 0 ||
		!strings.Contains(list.String(), "hall_motion") || !strings.Contains(list.String(), "dashboard") {
		t.Fatalf("hub user list: %d %q", code, list.String())
	}

	app, _ := startHubWith(t, "", func(c *Config) {
		c.DataDir = data
		c.UsersFile = filepath.Join(data, "users.yaml")
	})
	addr, httpAddr := app.MQTTAddr().String(), app.HTTPAddr().String()
	dial := func(id, user, password string) (mqtt.Client, error) {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
			SetUsername(user).SetPassword(password).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		tok.WaitTimeout(10 * time.Second)
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(100) })
		}
		return c, tok.Error()
	}

	t.Run("anonymous clients are refused once there are users", func(t *testing.T) {
		if _, err := dial("anon", "", ""); err == nil {
			t.Fatal("an anonymous client connected")
		}
	})
	t.Run("a wrong password is refused", func(t *testing.T) {
		if _, err := dial("hall_motion", "hall_motion", "guess"); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	})
	t.Run("a device writes its own topic and nobody else's", func(t *testing.T) {
		sensor, err := dial("hall_motion", "hall_motion", "motion-secret-1")
		if err != nil {
			t.Fatalf("the right password was refused: %v", err)
		}
		sensor.Publish("home/front_door", 0, false, `{"contact":false}`).Wait()
		publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
		eventually(t, "the sensor's own message in the log", func() bool {
			return len(events(t, httpAddr, "topic=home/hall_motion&kind=message")) == 1
		})
		if evs := events(t, httpAddr, "topic=home/front_door"); len(evs) != 0 {
			t.Fatalf("a message outside the sensor's topics reached the log: %+v", evs)
		}
	})
}
