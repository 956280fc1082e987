package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"hearth/automations"
	"hearth/broker"
	"hearth/devices"
)

// Config is what the config file and the command line set. Flags override
// the file; `hub config` prints the result.
type Config struct {
	MQTTAddr    string     `yaml:"mqtt"`
	HTTPAddr    string     `yaml:"http"`
	DataDir     string     `yaml:"data"`
	Automations string     `yaml:"automations,omitempty"`
	Demo        bool       `yaml:"demo,omitempty"`
	BaseTopic   string     `yaml:"base_topic"`
	LogLevel    slog.Level `yaml:"log_level"`
	Location    Location   `yaml:"location,omitempty"`
	// DevicesFile names devices, places them in rooms and maps other topic
	// layouts (docs/devices.md).
	DevicesFile string `yaml:"devices,omitempty"`
	// MaxDevices bounds the devices the hub keeps (devices.DefaultMaxDevices):
	// past it, a message from a new device id is logged but makes no device.
	MaxDevices int `yaml:"max_devices"`
	// Adapters are the device conventions read besides the native one; all
	// of them when not set, none with an empty list.
	Adapters []AdapterConfig `yaml:"adapters,omitempty"`
	// Broker makes the hub a client of an external broker instead of
	// running its own (docs/scaling.md).
	Broker *broker.RemoteConfig `yaml:"broker,omitempty"`
	// Bridges forward topics between the embedded broker and remote ones.
	Bridges []broker.BridgeConfig `yaml:"bridges,omitempty"`
	// UsersFile holds the broker's users and their ACLs (docs/security.md);
	// <data>/users.yaml when empty. With no users, only clients on this
	// machine may connect, unless AllowAnonymous.
	UsersFile      string `yaml:"users_file,omitempty"`
	AllowAnonymous bool   `yaml:"allow_anonymous,omitempty"`
	// TLS and WebSocket are further MQTT listeners, off unless set.
	TLS       broker.TLSConfig       `yaml:"tls,omitempty"`
	WebSocket broker.WebSocketConfig `yaml:"websocket,omitempty"`
	// Limits bound what one client or address may take of the broker.
	Limits broker.Limits `yaml:"limits,omitempty"`
	// House, Alarm and Presence configure the hub's own devices: the house
	// mode, the alarm panel and people (docs/alarm.md).
	House    devices.HouseConfig  `yaml:"house,omitempty"`
	Alarm    *devices.AlarmConfig `yaml:"alarm,omitempty"`
	Presence devices.Presence     `yaml:"presence,omitempty"`
	// Notify configures the notification channels (notify.go).
	Notify NotifyConfig `yaml:"notify,omitempty"`
	// DiskTrouble bounds what the hub holds in memory while the disk
	// refuses the log (disk.go).
	DiskTrouble DiskTroubleConfig `yaml:"disk_trouble,omitempty"`
	// Retention bounds how much of the log is kept (retention.go).
	Retention RetentionConfig `yaml:"retention"`
	// Roles are the parts of the hub this process runs: broker, recorder,
	// automations, web; all of them when empty.
	Roles []string `yaml:"roles,omitempty"`
	// Pprof is where Go's runtime profiles are served (net/http/pprof);
	// off when empty. For measuring the hub, never for the open network.
	Pprof string `yaml:"pprof,omitempty"`
	// File is the config file read, if any.
	File string `yaml:"-"`

	// clock times the automations' delays and the alarm's; the machine's
	// when nil. Tests of timed stories (the demo's alarm) set a fake one.
	clock automations.Clock
}

// The parts of the hub that --role picks.
const (
	roleBroker      = "broker"
	roleRecorder    = "recorder"
	roleAutomations = "automations"
	roleWeb         = "web"
)

var allRoles = []string{roleBroker, roleRecorder, roleAutomations, roleWeb}

// runs reports whether this process runs a role.
func (c Config) runs(role string) bool {
	return len(c.Roles) == 0 || slices.Contains(c.Roles, role)
}

// AdapterConfig turns on one device adapter.
type AdapterConfig struct {
	// Name is zigbee2mqtt, tasmota or homeassistant.
	Name string `yaml:"name"`
	// BaseTopic is Zigbee2MQTT's base topic or Home Assistant's discovery
	// prefix; the adapter's own default when empty.
	BaseTopic string `yaml:"base_topic,omitempty"`
}

// Location is where the house is, for sunrise and sunset.
type Location struct {
	Latitude  float64 `yaml:"latitude"`
	Longitude float64 `yaml:"longitude"`
}

// defaultConfig is the configuration before the file and the flags. The
// publish rate per client is set here rather than in the broker so that
// `limits: {publish_rate_per_client: 0}` in the file turns it off.
func defaultConfig() Config {
	return Config{MQTTAddr: ":1883", HTTPAddr: ":8080", DataDir: "./data", BaseTopic: "home", LogLevel: slog.LevelInfo,
		Retention: defaultRetention(), MaxDevices: devices.DefaultMaxDevices,
		Limits: broker.Limits{PublishRate: broker.DefaultPublishRate, PublishBurst: broker.DefaultPublishBurst}}
}

// parseFlags reads the command line and, when --config names one, the
// config file under it.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "config `file` (YAML); flags override it")
	fs.StringVar(&c.MQTTAddr, "mqtt", c.MQTTAddr, "MQTT listen `address` of the embedded broker")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen `address` of the web page and API")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "`folder` for the event log and state")
	fs.StringVar(&c.Automations, "automations", "", "automations YAML `file or folder`")
	fs.StringVar(&c.DevicesFile, "devices", "", "devices YAML `file`: names, rooms, hand-mapped topics")
	fs.StringVar(&c.UsersFile, "users", "", "the broker's users `file` (<data>/users.yaml when empty)")
	fs.BoolVar(&c.AllowAnonymous, "allow-anonymous", false, "let clients without a user connect from the network (logged as a warning)")
	fs.BoolVar(&c.Demo, "demo", false, "start a simulated house and its example automations")
	fs.StringVar(&c.BaseTopic, "base-topic", c.BaseTopic, "MQTT `topic` under which devices live")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	var remote broker.RemoteConfig
	fs.StringVar(&remote.URL, "broker", "", "external broker `URL` (mqtt://host:1883, mqtts://host:8883) instead of the embedded one")
	fs.StringVar(&remote.CAFile, "broker-ca", "", "CA certificate `file` for mqtts://")
	fs.StringVar(&remote.CertFile, "broker-cert", "", "client certificate `file` for mqtts://")
	fs.StringVar(&remote.KeyFile, "broker-key", "", "client key `file` for mqtts://")
	fs.StringVar(&remote.Username, "broker-user", "", "`user` name at the external broker")
	fs.StringVar(&remote.PasswordFile, "broker-password-file", "", "`file` holding the password at the external broker")
	fs.StringVar(&remote.ClientID, "broker-client-id", "", "MQTT client `id` at the external broker (hearth-<host> when empty)")
	fs.StringVar(&remote.SharedGroup, "broker-share", "", "subscribe through a shared subscription `group` ($share/GROUP/...)")
	fs.TextVar(&c.Retention.Events, "retention-events", c.Retention.Events, "how long every event is kept: an `age` such as 30d, 2w or 36h (0: until the size needs room)")
	fs.TextVar(&c.Retention.History, "retention-history", c.Retention.History, "how long the hourly history of numbers is kept: an `age` such as 1y or 90d (0: forever)")
	fs.TextVar(&c.Retention.MaxSize, "retention-max-size", c.Retention.MaxSize, "the most the log takes on disk: a `size` such as 2GB or 500MB (0: no bound)")
	roles := fs.String("role", "", "comma-separated `roles` this process runs: broker, recorder, automations, web (all when empty)")
	fs.StringVar(&c.Pprof, "pprof", "", "serve Go's runtime profiles (net/http/pprof) on `address` (127.0.0.1:6060); off when empty")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: hub [flags]                                 run the hub
       hub config [flags]                        print the configuration it would run with
       hub user add|remove|passwd|list [NAME]    the broker's users (--web: the page's)
       hub automations test FILE [--since 24h]   try automations against the log
       hub notify test CHANNEL                   send a test notification
       hub sim [--broker ADDR] [--devices N]     run a simulated house against a broker
       hub version                               print the version
Each command's flags: hub COMMAND --help.

Hearth smart-home hub.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *showVersion {
		return c, errVersion
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
	}
	if *roles != "" {
		c.Roles = strings.Split(*roles, ",")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *file != "" {
		fromFile, err := loadConfigFile(*file)
		if err != nil {
			return c, err
		}
		c = mergeFlags(fromFile, c, set)
		c.File = *file
	}
	if err := brokerFlags(&c, remote, set); err != nil {
		return c, err
	}
	if c.UsersFile == "" {
		c.UsersFile = filepath.Join(c.DataDir, "users.yaml")
	}
	return c, c.validate()
}

// mergeFlags takes the file's values except where a flag was given.
func mergeFlags(file, flags Config, set map[string]bool) Config {
	out := file
	pick := map[string]func(){
		"mqtt":               func() { out.MQTTAddr = flags.MQTTAddr },
		"http":               func() { out.HTTPAddr = flags.HTTPAddr },
		"data":               func() { out.DataDir = flags.DataDir },
		"automations":        func() { out.Automations = flags.Automations },
		"devices":            func() { out.DevicesFile = flags.DevicesFile },
		"users":              func() { out.UsersFile = flags.UsersFile },
		"allow-anonymous":    func() { out.AllowAnonymous = flags.AllowAnonymous },
		"demo":               func() { out.Demo = flags.Demo },
		"base-topic":         func() { out.BaseTopic = flags.BaseTopic },
		"log-level":          func() { out.LogLevel = flags.LogLevel },
		"role":               func() { out.Roles = flags.Roles },
		"retention-events":   func() { out.Retention.Events = flags.Retention.Events },
		"retention-history":  func() { out.Retention.History = flags.Retention.History },
		"retention-max-size": func() { out.Retention.MaxSize = flags.Retention.MaxSize },
		"pprof":              func() { out.Pprof = flags.Pprof },
	}
	for name, apply := range pick {
		if set[name] {
			apply()
		}
	}
	return out
}

// brokerFlags applies --broker and its companions: each sets its field of
// the external broker, the config file's section or a new one, so that
// --broker-user overrides the file's username and keeps its URL. A
// companion with no broker to apply to is a mistake, not a flag ignored.
func brokerFlags(c *Config, flags broker.RemoteConfig, set map[string]bool) error {
	companions := []struct {
		name string
		to   func(*broker.RemoteConfig)
	}{
		{"broker-ca", func(b *broker.RemoteConfig) { b.CAFile = flags.CAFile }},
		{"broker-cert", func(b *broker.RemoteConfig) { b.CertFile = flags.CertFile }},
		{"broker-key", func(b *broker.RemoteConfig) { b.KeyFile = flags.KeyFile }},
		{"broker-user", func(b *broker.RemoteConfig) { b.Username = flags.Username }},
		{"broker-password-file", func(b *broker.RemoteConfig) { b.PasswordFile = flags.PasswordFile }},
		{"broker-client-id", func(b *broker.RemoteConfig) { b.ClientID = flags.ClientID }},
		{"broker-share", func(b *broker.RemoteConfig) { b.SharedGroup = flags.SharedGroup }},
	}
	var b broker.RemoteConfig // the file's section, which the flags change
	if c.Broker != nil {
		b = *c.Broker
	}
	if set["broker"] {
		b.URL = flags.URL
	}
	for _, f := range companions {
		if !set[f.name] {
			continue
		}
		if b.URL == "" {
			return fmt.Errorf("--%s is for an external broker: give --broker URL, or broker: in the config file", f.name)
		}
		f.to(&b)
	}
	if b.URL != "" {
		c.Broker = &b
	}
	return nil
}

// loadConfigFile reads a config file strictly: unknown keys and wrong
// types are errors that name the line and column.
func loadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c := defaultConfig()
	if emptyYAML(data) {
		return c, nil // all comments, as the installed one starts: the defaults
	}
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return Config{}, fmt.Errorf("config %s", positioned(path, data, err))
	}
	if problem := oddShape(data, reflect.TypeFor[Config]()); problem != "" {
		return Config{}, fmt.Errorf("config %s:%s", path, problem)
	}
	return c, nil
}

// brokerConfig is the embedded broker's configuration.
func (c Config) brokerConfig(log *slog.Logger) broker.Config {
	return broker.Config{
		Addr: c.MQTTAddr, Logger: log,
		UsersFile: c.UsersFile, AllowAnonymous: c.AllowAnonymous,
		TLS: c.TLS, WebSocket: c.WebSocket, Limits: c.Limits,
	}
}

// badAddr says what is wrong with a listen address, "" when nothing.
func badAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "want host:port or :port"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		return "the port is a number from 0 to 65535"
	}
	return ""
}

func (c Config) validate() error {
	for _, a := range []struct{ name, addr, example string }{
		{"mqtt", c.MQTTAddr, ":1883"}, {"http", c.HTTPAddr, ":8080"}, {"pprof", c.Pprof, "127.0.0.1:6060"},
	} {
		if a.addr == "" && a.name == "pprof" {
			continue // off
		}
		if why := badAddr(a.addr); why != "" {
			return fmt.Errorf("%s %q: %s (%s)", a.name, a.addr, why, a.example)
		}
	}
	// What the brokers would refuse at start, said now: `hub config`
	// checks a file before the service restarts with it.
	if c.Broker != nil {
		if err := c.Broker.Check(); err != nil {
			return err
		}
	} else if err := c.brokerConfig(nil).Check(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return errors.New("data: want a folder")
	}
	if err := c.Retention.validate(); err != nil {
		return err
	}
	if err := c.DiskTrouble.validate(); err != nil {
		return err
	}
	if c.BaseTopic == "" || strings.ContainsAny(c.BaseTopic, "+#") || strings.HasPrefix(c.BaseTopic, "/") || strings.HasSuffix(c.BaseTopic, "/") {
		return fmt.Errorf("base topic %q: want a topic without wildcards or leading/trailing slash", c.BaseTopic)
	}
	if c.MaxDevices < 1 {
		return fmt.Errorf("max_devices %d: want at least 1 (the default is %d)", c.MaxDevices, devices.DefaultMaxDevices)
	}
	for _, a := range c.Adapters {
		switch a.Name {
		case "zigbee2mqtt", "tasmota", "homeassistant", "owntracks":
		default:
			return fmt.Errorf("adapters: %q is not an adapter: want zigbee2mqtt, tasmota, homeassistant or owntracks", a.Name)
		}
	}
	for _, r := range c.Roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("role %q: want broker, recorder, automations or web", r)
		}
	}
	if c.Broker != nil && c.Broker.URL == "" {
		return errors.New("broker: want a url such as mqtt://host:1883")
	}
	if c.Broker == nil && !c.runs(roleBroker) {
		return errors.New("without the broker role, --broker must name the broker to use")
	}
	if c.Broker != nil && len(c.Bridges) > 0 {
		return errors.New("bridges: only the embedded broker bridges; with --broker, bridge in the external broker")
	}
	if l := c.Location; l.Latitude < -90 || l.Latitude > 90 || l.Longitude < -180 || l.Longitude > 180 {
		return fmt.Errorf("location %v, %v: latitude must be within ±90 and longitude within ±180", l.Latitude, l.Longitude)
	}
	return nil
}

// printConfig writes the effective configuration as a config file would hold it.
func printConfig(w io.Writer, c Config) error {
	out, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	if c.File != "" {
		fmt.Fprintf(w, "# from %s and the command line\n", c.File)
	}
	_, err = w.Write(out)
	return err
}
