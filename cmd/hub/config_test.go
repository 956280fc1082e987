package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth/broker"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileAndFlags(t *testing.T) {
	file := writeFile(t, "hub.yaml", `
mqtt: 127.0.0.1:1884
http: :9090
data: /var/lib/hearth
base_topic: house
log_level: debug
location: {latitude: 52.37, longitude: 4.89}
`)
	t.Run("the file sets what no flag sets", func(t *testing.T) {
		c, err := parseFlags([]string{"--config", file}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.MQTTAddr != "127.0.0.1:1884" || c.HTTPAddr != ":9090" || c.DataDir != "/var/lib/hearth" ||
			c.BaseTopic != "house" || c.LogLevel != slog.LevelDebug || c.Location.Latitude != 52.37 {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("a flag overrides the file", func(t *testing.T) {
		c, err := parseFlags([]string{"--config", file, "--http", ":8081", "--log-level", "warn"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTPAddr != ":8081" || c.LogLevel != slog.LevelWarn || c.MQTTAddr != "127.0.0.1:1884" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("without a file the defaults hold", func(t *testing.T) {
		c, err := parseFlags(nil, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.MQTTAddr != ":1883" || c.HTTPAddr != ":8080" || c.DataDir != "./data" || c.BaseTopic != "home" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("a file of comments alone, or nothing, keeps the defaults", func(t *testing.T) {
		for _, body := range []string{"", "# every setting commented out\n# mqtt: :1883\n", "\n\n"} {
			c, err := parseFlags([]string{"--config", writeFile(t, "hub.yaml", body)}, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("%q: %v", body, err)
			}
			if c.MQTTAddr != ":1883" || c.HTTPAddr != ":8080" || c.DataDir != "./data" || c.BaseTopic != "home" {
				t.Fatalf("%q: config %+v", body, c)
			}
		}
	})
	t.Run("hub config prints the effective configuration", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"config", "--config", file, "--mqtt", ":2883"}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		for _, want := range []string{"mqtt: :2883", "http: :9090", "base_topic: house", "latitude: 52.37"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("hub config output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

func TestBadConfigFilesNameTheLine(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"an unknown key":          {"mqtt: :1883\ncolour: red\n", `:2:1: unknown field "colour"`},
		"a wrong type":            {"demo: maybe\n", `:1:7: demo: want true or false, got "maybe"`},
		"a word for a number":     {"limits:\n  clients: many\n", `:2:12: limits.clients: want a whole number, got "many"`},
		"a number for a list":     {"bridges:\n  - url: mqtt://x:1883\n    topics: 5\n", `:3:13: bridges[0].topics: want a list, got "5"`},
		"keys for a word":         {"demo:\n  a: 1\n", `demo: want true or false, got keys and values`},
		"a list for a word":       {"mqtt: [1, 2]\n", `:1:7: mqtt: want text, got a list`},
		"a quoted key":            {"limits:\n  \"clients\": many\n", `limits.clients: want a whole number, got "many"`},
		"a number for a key":      {"limits:\n  5: x\n", `:2:3: limits: 5 is not the name of a setting`},
		"a value under an anchor": {"limits: &l\n  clients: many\n", `:2:12: limits.clients: want a whole number, got "many"`},
		"a second document":       {"mqtt: \":1883\"\n---\nhttp: \":9\"\n", `:3:5: a second document: the config file holds one`},
		"a bad latitude":          {"location: {latitude: 123, longitude: 0}\n", "latitude"},
		"a bad listen address":    {"http: nowhere\n", "http"},
		"an unknown log level":    {"log_level: loud\n", `:1:12: log_level: want debug, info, warn or error, got "loud"`},
		"a bad duration":          {"broker:\n  url: mqtt://nas:1883\n  reconnect_min: 5x\n", `:3:18: broker.reconnect_min: want a duration such as 30s, 5m or 1h30m, got "5x"`},
		"a websocket address":     {"websocket: {addr: abc}\n", `websocket.addr "abc": want host:port`},
		"a fraction for a count":  {"max_devices: 10.9\n", `:1:14: max_devices: want a whole number, got 10.9`},
		"a fraction deeper down":  {"disk_trouble: {hold_mb: 0.5}\n", `:1:25: disk_trouble.hold_mb: want a whole number, got 0.5`},
	}
	for name, tc := range cases {
		t.Run(name+" is refused", func(t *testing.T) {
			file := writeFile(t, "hub.yaml", tc.body)
			var out, errs bytes.Buffer
			if code := run([]string{"--config", file}, &out, &errs); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, errs.String())
			}
			if !strings.Contains(errs.String(), tc.want) {
				t.Fatalf("stderr %q does not mention %q", errs.String(), tc.want)
			}
		})
	}
	t.Run("a merge key is a name like any other", func(t *testing.T) {
		c, err := parseFlags([]string{"--config", writeFile(t, "hub.yaml", "limits:\n  <<: {clients: 5}\n  subscriptions_per_client: 3\n")}, &bytes.Buffer{})
		if err != nil || c.Limits.Clients != 5 || c.Limits.MaxSubscriptions != 3 {
			t.Fatalf("limits %+v, %v; want clients 5 from the merge key and 3 subscriptions", c.Limits, err)
		}
	})
	t.Run("a missing file is refused", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"--config", "/nonexistent/hub.yaml"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "nonexistent") {
			t.Fatalf("exit %d, stderr %s", code, errs.String())
		}
	})
}

func TestPublishRateLimitInTheConfigFile(t *testing.T) {
	cases := []struct {
		name, body string
		rate       float64
		burst      int
	}{
		{"without limits each client may publish 1,000 messages a second, 5,000 at once", "mqtt: :1883\n", 1000, 5000},
		{"the file sets the rate and the burst keeps its default", "limits: {publish_rate_per_client: 200}\n", 200, 5000},
		{"the file sets the burst", "limits: {publish_burst_per_client: 20000}\n", 1000, 20000},
		{"0 turns the limit off", "limits:\n  publish_rate_per_client: 0\n", 0, 5000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags([]string{"--config", writeFile(t, "hub.yaml", tc.body)}, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Limits.PublishRate != tc.rate || c.Limits.PublishBurst != tc.burst {
				t.Fatalf("publish rate %v, burst %d; want %v, %d", c.Limits.PublishRate, c.Limits.PublishBurst, tc.rate, tc.burst)
			}
		})
	}
	t.Run("hub config prints a limit turned off, and what it prints keeps it off", func(t *testing.T) {
		file := writeFile(t, "hub.yaml", "limits: {publish_rate_per_client: 0}\n")
		var out, errs bytes.Buffer
		if code := run([]string{"config", "--config", file}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		if !strings.Contains(out.String(), "publish_rate_per_client: 0") {
			t.Fatalf("hub config output lacks the limit turned off:\n%s", out.String())
		}
		c, err := parseFlags([]string{"--config", writeFile(t, "printed.yaml", out.String())}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Limits.PublishRate != 0 {
			t.Fatalf("the printed config reads back with a publish rate of %v, want 0", c.Limits.PublishRate)
		}
	})
	bad := []struct {
		name, body, want string
		limits           broker.Limits
	}{
		{"a negative rate", "limits: {publish_rate_per_client: -5}\n", "limits: publish_rate_per_client -5: want 0 (no limit) or at least 1 message a second", broker.Limits{PublishRate: -5}},
		{"a rate below one a second", "limits: {publish_rate_per_client: 0.2}\n", "limits: publish_rate_per_client 0.2:", broker.Limits{PublishRate: 0.2}},
		{"a negative burst", "limits: {publish_burst_per_client: -1}\n", "limits: publish_burst_per_client -1: want at least 1", broker.Limits{PublishBurst: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name+" stops hub config and the hub, naming the key and the value", func(t *testing.T) {
			var out, errs bytes.Buffer
			if code := run([]string{"config", "--config", writeFile(t, "hub.yaml", tc.body)}, &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.want) {
				t.Fatalf("hub config: exit %d, %q; want 2 saying %q", code, errs.String(), tc.want)
			}
			// Start, handed such a config by a program embedding the hub,
			// refuses it the same way.
			cfg := Config{MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), BaseTopic: "home", Limits: tc.limits}
			app, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				_ = app.Close()
				t.Fatal("the hub started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestMaxDevicesInTheConfig(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"config", "--config", writeFile(t, "hub.yaml", "mqtt: ':1883'\n")}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "max_devices: 10000") {
		t.Errorf("hub config does not show the default bound:\n%s", out.String())
	}
	for _, body := range []string{"max_devices: 0\n", "max_devices: -3\n"} {
		_, err := parseFlags([]string{"--config", writeFile(t, "hub.yaml", body)}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "max_devices") || !strings.Contains(err.Error(), "want at least 1") {
			t.Errorf("%q: err = %v, want one naming max_devices", body, err)
		}
	}
}

func TestHelpAndVersionAsCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 0 {
			t.Fatalf("hub %s: exit %d: %s", args[0], code, errs.String())
		}
		for _, cmd := range []string{"hub config", "hub user add", "hub automations test", "hub notify test", "hub sim", "hub version", "-mqtt"} {
			if !strings.Contains(errs.String(), cmd) {
				t.Errorf("hub %s does not mention %q:\n%s", args[0], cmd, errs.String())
			}
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 0 || out.String() != "hearth "+version+"\n" {
			t.Errorf("hub %s: exit %d, %q %q", args[0], code, out.String(), errs.String())
		}
	}
}

// TestHubConfigRefusesWhatTheHubWouldRefuseAtStart feeds `hub config`, the
// check docs/install.md gives for a config file, mistakes the hub used to
// find only when it started: the service would restart into them.
func TestHubConfigRefusesWhatTheHubWouldRefuseAtStart(t *testing.T) {
	for name, tc := range map[string]struct{ args, says string }{
		"a port past 65535":                   {"--mqtt 127.0.0.1:99999", `mqtt "127.0.0.1:99999": the port is a number from 0 to 65535`},
		"a port that is no number":            {"--http :80x", `http ":80x": the port is a number`},
		"a pprof address with no port":        {"--pprof localhost", `pprof "localhost": want host:port`},
		"credentials in the broker URL":       {"--broker mqtt://u:secret@nas:1883", "credentials belong in username and password_file"},
		"a broker URL of another scheme":      {"--broker http://nas:1883", "want mqtt://host:port"},
		"a password file that is not there":   {"--broker mqtt://nas:1883 --broker-user u --broker-password-file /nonexistent", "password_file: open /nonexistent"},
		"a TLS certificate that is not there": {"--config " + writeFile(t, "tls.yaml", "tls:\n  addr: :8883\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n"), "nonexistent"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errs bytes.Buffer
			if code := run(append([]string{"config"}, strings.Fields(tc.args)...), &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.says) {
				t.Fatalf("hub config %s: exit %d, %q; want 2 saying %q", tc.args, code, errs.String(), tc.says)
			}
			if strings.Contains(errs.String(), "secret") {
				t.Fatalf("the error shows the password: %q", errs.String())
			}
		})
	}
}

func TestBrokerFlagsChangeTheFilesBrokerOneFieldAtATime(t *testing.T) {
	file := writeFile(t, "hub.yaml", "broker:\n  url: mqtt://nas.local:1883\n  username: hub\n  client_id: hearth-pi\n")
	for _, tc := range []struct {
		name                string
		args                []string
		url, user, clientID string
		err                 string
	}{
		{"the file alone", []string{"--config", file}, "mqtt://nas.local:1883", "hub", "hearth-pi", ""},
		{"a companion overrides its field and keeps the URL", []string{"--config", file, "--broker-user", "bob", "--broker-client-id", "myid"},
			"mqtt://nas.local:1883", "bob", "myid", ""},
		{"--broker changes the URL and keeps the login", []string{"--config", file, "--broker", "mqtt://other:1883"}, "mqtt://other:1883", "hub", "hearth-pi", ""},
		{"flags alone make the section", []string{"--broker", "mqtt://b:1883", "--broker-user", "u"}, "mqtt://b:1883", "u", "", ""},
		{"a companion without a broker is a mistake", []string{"--broker-user", "bob"}, "", "", "", "--broker-user is for an external broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Broker == nil || c.Broker.URL != tc.url || c.Broker.Username != tc.user || c.Broker.ClientID != tc.clientID {
				t.Fatalf("broker %+v", c.Broker)
			}
		})
	}
}
