package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"
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
	// File is the config file read, if any.
	File string `yaml:"-"`
}

// Location is where the house is, for sunrise and sunset.
type Location struct {
	Latitude  float64 `yaml:"latitude"`
	Longitude float64 `yaml:"longitude"`
}

func defaultConfig() Config {
	return Config{MQTTAddr: ":1883", HTTPAddr: ":8080", DataDir: "./data", BaseTopic: "home", LogLevel: slog.LevelInfo}
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
	fs.BoolVar(&c.Demo, "demo", false, "start a simulated house and its example automations")
	fs.StringVar(&c.BaseTopic, "base-topic", c.BaseTopic, "MQTT `topic` under which devices live")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hub [flags]\n       hub config [flags]    print the effective configuration\n\nHearth smart-home hub.\n\nFlags:\n")
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
	if *file != "" {
		fromFile, err := loadConfigFile(*file)
		if err != nil {
			return c, err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		c = mergeFlags(fromFile, c, set)
		c.File = *file
	}
	return c, c.validate()
}

// mergeFlags takes the file's values except where a flag was given.
func mergeFlags(file, flags Config, set map[string]bool) Config {
	out := file
	pick := map[string]func(){
		"mqtt":        func() { out.MQTTAddr = flags.MQTTAddr },
		"http":        func() { out.HTTPAddr = flags.HTTPAddr },
		"data":        func() { out.DataDir = flags.DataDir },
		"automations": func() { out.Automations = flags.Automations },
		"demo":        func() { out.Demo = flags.Demo },
		"base-topic":  func() { out.BaseTopic = flags.BaseTopic },
		"log-level":   func() { out.LogLevel = flags.LogLevel },
	}
	for name, apply := range pick {
		if set[name] {
			apply()
		}
	}
	return out
}

// loadConfigFile reads a config file strictly: unknown keys and wrong
// types are errors that name the line and column.
func loadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c := defaultConfig()
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return Config{}, fmt.Errorf("config %s", positioned(path, err))
	}
	return c, nil
}

// positioned writes a YAML error as file:line:col: message.
func positioned(path string, err error) string {
	var pe interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &pe) && pe.GetToken() != nil {
		p := pe.GetToken().Position
		return fmt.Sprintf("%s:%d:%d: %s", path, p.Line, p.Column, pe.GetMessage())
	}
	return fmt.Sprintf("%s: %v", path, err)
}

func (c Config) validate() error {
	for name, addr := range map[string]string{"mqtt": c.MQTTAddr, "http": c.HTTPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: want host:port or :port", name, addr)
		}
	}
	if c.DataDir == "" {
		return errors.New("data: want a folder")
	}
	if c.BaseTopic == "" || strings.ContainsAny(c.BaseTopic, "+#") || strings.HasPrefix(c.BaseTopic, "/") || strings.HasSuffix(c.BaseTopic, "/") {
		return fmt.Errorf("base topic %q: want a topic without wildcards or leading/trailing slash", c.BaseTopic)
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
