package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of a channel, when its config leaves them out.
const (
	DefaultTries   = 3
	DefaultBackoff = time.Second // then ×4 per try: 1s, 4s, 16s...
	DefaultTimeout = 10 * time.Second
	DefaultQueue   = 64
)

// PageChannel is the name of the hub's own page channel, which exists
// unless the config names a channel so.
const PageChannel = "page"

// ChannelConfig is one channel as the config file writes it: a name, one of
// webhook, email or page, and how hard to try. Secrets are never logged:
// LogValue leaves them out, a config file names the files that hold them
// (url_file, password_file), and printing the config hides the rest.
type ChannelConfig struct {
	// Name is how automations name the channel (channels: [phone]).
	Name string `yaml:"name"`
	// Default sends notifications that name no channel through this one
	// too. The page channel is a default one unless configured otherwise.
	Default bool `yaml:"default,omitempty"`
	// Webhook, Email and Page say what the channel is; set exactly one.
	Webhook *WebhookConfig `yaml:"webhook,omitempty"`
	Email   *EmailConfig   `yaml:"email,omitempty"`
	Page    *PageConfig    `yaml:"page,omitempty"`
	// Tries is how many times a notification is tried (3 when zero); a
	// failure that cannot pass (an HTTP 4xx, a refused password) is not
	// tried again.
	Tries int `yaml:"tries,omitempty"`
	// Backoff is the wait before the second try (1s when zero); each next
	// wait is four times longer.
	Backoff time.Duration `yaml:"backoff,omitempty"`
	// Timeout bounds one try (10s when zero).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Queue is how many notifications may wait for the channel (64 when
	// zero); past that a notification fails in this channel at once.
	Queue int `yaml:"queue,omitempty"`
}

// WebhookConfig is an HTTP POST to a URL: JSON by default, or the shape
// Slack-style or ntfy-style endpoints read.
type WebhookConfig struct {
	// URL is where to POST. Many webhook URLs are secrets (Slack's, Home
	// Assistant's webhook ids): only its scheme and host are ever logged,
	// and URLFile can hold it instead.
	URL string `yaml:"url,omitempty"`
	// URLFile names a file whose first line is the URL, instead of URL.
	URLFile string `yaml:"url_file,omitempty"`
	// Format is json (default: {title, message, priority, automation, run,
	// time, seq}), slack ({"text": ...}) or ntfy (the message as the body,
	// Title and Priority headers).
	Format string `yaml:"format,omitempty"`
	// Headers are sent with every request (Authorization: Bearer ...);
	// their values are treated as secrets.
	Headers Headers `yaml:"headers,omitempty"`
	// CAFile names a PEM file of the certificates that sign the server's,
	// for a local server with its own certificate authority.
	CAFile string `yaml:"ca_file,omitempty"`
}

// Headers are HTTP headers whose values may be secrets: printed, they show
// only their names.
type Headers map[string]string

// MarshalYAML writes the headers with their values hidden, so that `hub
// config` never prints a token.
func (h Headers) MarshalYAML() (any, error) {
	out := make(map[string]string, len(h))
	for k := range h {
		out[k] = "(hidden)"
	}
	return out, nil
}

// MarshalYAML writes the webhook with the path and query of its URL hidden.
func (w WebhookConfig) MarshalYAML() (any, error) {
	type plain WebhookConfig // without this method
	p := plain(w)
	p.URL = redactURL(w.URL)
	return p, nil
}

// EmailConfig sends mail through an SMTP server.
type EmailConfig struct {
	// Host and Port are the SMTP server; Port is 587 for starttls, 465 for
	// tls and 25 for none when zero.
	Host string `yaml:"host"`
	Port int    `yaml:"port,omitempty"`
	// TLS is starttls (the default: plain TCP upgraded by STARTTLS, which
	// the server must offer), tls (TLS from the start, "SMTPS") or none
	// (plain, for a relay on the same machine or network).
	TLS string `yaml:"tls,omitempty"`
	// From is the sender's address; To the recipients'.
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// Username and the password authenticate the hub (PLAIN, LOGIN or
	// CRAM-MD5, whichever the server offers first in that order). The
	// password is never sent without TLS except to localhost.
	// PasswordFile names a file whose first line is the password; a config
	// file can only name the file.
	Username     string `yaml:"username,omitempty"`
	Password     string `yaml:"-"`
	PasswordFile string `yaml:"password_file,omitempty"`
	// CAFile names a PEM file of the certificates that sign the server's;
	// the system's roots when empty.
	CAFile string `yaml:"ca_file,omitempty"`
}

// PageConfig is the hub's page: a notification reaches it by being in the
// log, so there is nothing to configure.
type PageConfig struct{}

// Kind names what the channel is: webhook, email or page ("" when the
// config sets none).
func (c ChannelConfig) Kind() string {
	switch {
	case c.Webhook != nil:
		return "webhook"
	case c.Email != nil:
		return "email"
	case c.Page != nil:
		return "page"
	}
	return ""
}

// LogValue logs the channel without its secrets: a webhook's URL shows its
// scheme and host only, header values and passwords not at all.
func (c ChannelConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", c.Name), slog.String("kind", c.Kind())}
	switch {
	case c.Webhook != nil:
		attrs = append(attrs, slog.String("url", redactURL(c.Webhook.URL)))
		if c.Webhook.URLFile != "" {
			attrs = append(attrs, slog.String("url_file", c.Webhook.URLFile))
		}
		if len(c.Webhook.Headers) > 0 {
			names := make([]string, 0, len(c.Webhook.Headers))
			for k := range c.Webhook.Headers {
				names = append(names, k)
			}
			slices.Sort(names)
			attrs = append(attrs, slog.Any("headers", names))
		}
	case c.Email != nil:
		attrs = append(attrs, slog.String("host", c.Email.Host), slog.Int("port", c.Email.Port),
			slog.String("tls", c.Email.TLS), slog.String("from", c.Email.From), slog.Int("to", len(c.Email.To)))
		if c.Email.Username != "" {
			attrs = append(attrs, slog.String("username", c.Email.Username))
		}
		if c.Email.Password != "" || c.Email.PasswordFile != "" {
			attrs = append(attrs, slog.Bool("password", true))
		}
	}
	return slog.GroupValue(attrs...)
}

// redactURL keeps a URL's scheme and host: "https://hooks.example.com/…".
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(hidden)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		out += "/…"
	}
	return out
}

// validName accepts names that read well in topics and lists.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// withDefaults checks c and fills in its defaults; every problem is
// returned, named by the channel.
func (c ChannelConfig) withDefaults() (ChannelConfig, error) {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(validName(c.Name), "name %q: want letters, digits, _ and - (at most 64)", c.Name)
	kinds := 0
	for _, set := range []bool{c.Webhook != nil, c.Email != nil, c.Page != nil} {
		if set {
			kinds++
		}
	}
	check(kinds == 1, "set exactly one of webhook, email or page")
	check(c.Tries >= 0 && c.Tries <= 10, "tries %d: want 1 to 10", c.Tries)
	check(c.Backoff >= 0 && c.Backoff <= time.Hour, "backoff %v: want up to 1h", c.Backoff)
	check(c.Timeout >= 0 && c.Timeout <= 5*time.Minute, "timeout %v: want up to 5m", c.Timeout)
	check(c.Queue >= 0 && c.Queue <= 10000, "queue %d: want up to 10000", c.Queue)
	if c.Tries == 0 {
		c.Tries = DefaultTries
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.Webhook != nil {
		w := *c.Webhook
		errs = append(errs, w.check()...)
		c.Webhook = &w
	}
	if c.Email != nil {
		e := *c.Email
		errs = append(errs, e.check()...)
		c.Email = &e
	}
	if len(errs) > 0 {
		name := c.Name
		if name == "" {
			name = "(no name)"
		}
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return c, fmt.Errorf("channel %s: %s", name, strings.Join(msgs, "; "))
	}
	return c, nil
}

func (w *WebhookConfig) check() []error {
	var errs []error
	switch {
	case w.URL != "" && w.URLFile != "":
		errs = append(errs, errors.New("webhook: url and url_file: set one, not both"))
	case w.URLFile != "":
		line, err := firstLine(w.URLFile)
		if err != nil {
			return append(errs, fmt.Errorf("webhook url_file: %w", err))
		}
		w.URL = line
	case w.URL == "":
		errs = append(errs, errors.New("webhook: want a url (or url_file)"))
	}
	if w.URL != "" {
		// url.Parse's errors repeat the URL, which may be a secret.
		u, err := url.Parse(w.URL)
		switch {
		case err != nil:
			errs = append(errs, errors.New("webhook url: not a URL"))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("webhook url %s: want http:// or https://", redactURL(w.URL)))
		case u.Hostname() == "":
			errs = append(errs, errors.New("webhook url: no host"))
		}
	}
	switch w.Format {
	case "":
		w.Format = "json"
	case "json", "slack", "ntfy":
	default:
		errs = append(errs, fmt.Errorf("webhook format %q: want json, slack or ntfy", w.Format))
	}
	for k, v := range w.Headers {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf("webhook header %q: not a header name", k))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("webhook header %s: its value holds a line break", k))
		}
	}
	if w.CAFile != "" {
		if _, err := certPool(w.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("webhook %w", err))
		}
	}
	return errs
}

func (e *EmailConfig) check() []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("email "+format, args...))
		}
	}
	check(e.Host != "" && !strings.ContainsAny(e.Host, ":/ "), "host %q: want a host name or address, without a port", e.Host)
	port := 0
	switch e.TLS {
	case "", "starttls":
		e.TLS, port = "starttls", 587
	case "tls":
		port = 465
	case "none":
		port = 25
	default:
		check(false, "tls %q: want starttls, tls or none", e.TLS)
	}
	if e.Port == 0 {
		e.Port = port
	}
	check(e.Port > 0 && e.Port < 65536, "port %d: want 1 to 65535", e.Port)
	_, err := mail.ParseAddress(e.From)
	check(err == nil, "from %q: want an address such as hub@example.com", e.From)
	check(len(e.To) > 0, "to: want at least one address")
	for _, to := range e.To {
		_, err := mail.ParseAddress(to)
		check(err == nil, "to %q: want an address such as me@example.com", to)
	}
	check(e.Password == "" || e.PasswordFile == "", "password and password_file: set one, not both")
	if e.PasswordFile != "" {
		line, err := firstLine(e.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("email password_file: %w", err))
		}
		e.Password = line
	}
	check(e.Password == "" || e.Username != "", "a password without a username")
	check(e.Username == "" || e.Password != "" || e.PasswordFile != "", "username %q without a password (password_file)", e.Username)
	if e.CAFile != "" {
		if _, err := certPool(e.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("email %w", err))
		}
	}
	check(e.CAFile == "" || e.TLS != "none", "ca_file needs tls: starttls or tls")
	return errs
}

// addr is host:port of the SMTP server.
func (e *EmailConfig) addr() string {
	if strings.Contains(e.Host, ":") { // an IPv6 address
		return "[" + e.Host + "]:" + strconv.Itoa(e.Port)
	}
	return e.Host + ":" + strconv.Itoa(e.Port)
}

// firstLine reads the first line of a file holding a secret; the secret
// never appears in an error.
func firstLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return line, nil
}

// certPool reads a PEM file of CA certificates.
func certPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// tlsConfig is the client TLS configuration for a server, trusting caFile's
// certificates when given.
func tlsConfig(serverName, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := certPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// validHeaderName accepts an HTTP header name (an RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}
