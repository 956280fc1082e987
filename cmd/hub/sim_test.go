package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth/internal/mosquittotest"
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

func TestHubSimLogsInToABrokerThatAsksForIt(t *testing.T) {
	users := mosquittotest.PasswordFile(t, map[string]string{"sim": "pa55"})
	m := mosquittotest.Start(t, "allow_anonymous false\npassword_file "+users+"\n")
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte("pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := simCommand([]string{"--broker", m.URL(), "--user", "sim", "--password-file", password, "--devices", "2", "--duration", "500ms"}, &out, &errs); code != 0 {
		t.Fatalf("with the login: exit %d: %s", code, errs.String())
	}
	errs.Reset()
	if code := simCommand([]string{"--broker", m.URL(), "--devices", "2", "--duration", "500ms"}, &out, &errs); code == 0 || !strings.Contains(errs.String(), "not Authorized") {
		t.Fatalf("without the login: exit %d: %s", code, errs.String())
	}
}

func TestHubSimSaysWhatIsWrongWithItsFlags(t *testing.T) {
	for args, says := range map[string]string{
		"--devices -3":                          "-devices -3: want 1 or more",
		"--rate -1":                             "-rate -1: want 0",
		"--user sim":                            "-user and -password-file go together",
		"extra":                                 `unexpected argument "extra"`,
		"--user a --password-file /nonexistent": "password_file: open /nonexistent",
	} {
		var out, errs bytes.Buffer
		if code := simCommand(strings.Fields(args), &out, &errs); code != 2 || !strings.Contains(errs.String(), says) {
			t.Errorf("hub sim %s: exit %d, %q; want 2 saying %q", args, code, errs.String(), says)
		}
	}
}
