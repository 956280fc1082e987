package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for a connection to a remote broker.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultRemoteConnect  = 10 * time.Second
	DefaultReconnectMin   = time.Second
	DefaultReconnectMax   = 30 * time.Second
	DefaultDrainTimeout   = 2 * time.Second
	DefaultPublishTimeout = 10 * time.Second
)

// Endpoint says how the hub reaches a remote MQTT broker as a client: the
// external broker of remote mode, or the far side of a bridge.
//
// The password is never logged: Endpoint's LogValue leaves it out, and it is
// not part of any error message.
type Endpoint struct {
	// URL is mqtt://host[:port] (TCP, port 1883 when omitted) or
	// mqtts://host[:port] (TLS, port 8883 when omitted). Credentials go in
	// the fields below, never in the URL, which is logged.
	URL string `yaml:"url"`
	// CAFile names a PEM file of the certificates that sign the broker's;
	// the system's roots are used when it is empty. mqtts only.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile name a PEM client certificate and its key, for a
	// broker that asks for one. mqtts only.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// Username and Password authenticate the hub. PasswordFile names a file
	// whose first line is the password, instead of Password; a config file
	// can only name the file, so that printing the config shows no secret.
	Username     string `yaml:"username,omitempty"`
	Password     string `yaml:"-"`
	PasswordFile string `yaml:"password_file,omitempty"`
	// ClientID names the hub's session on the broker. It must stay the same
	// across restarts, so that the broker keeps what arrives while the hub
	// is away, and differ between hubs and roles sharing a broker.
	ClientID string `yaml:"client_id,omitempty"`
	// KeepAlive is the MQTT keepalive (30 s when zero).
	KeepAlive time.Duration `yaml:"keepalive,omitempty"`
	// ConnectTimeout bounds one connection attempt, TLS and CONNACK
	// included (10 s when zero).
	ConnectTimeout time.Duration `yaml:"connect_timeout,omitempty"`
	// ReconnectMin and ReconnectMax bound the back-off between attempts
	// after the connection is lost: it starts at ReconnectMin (1 s) and
	// doubles up to ReconnectMax (30 s).
	ReconnectMin time.Duration `yaml:"reconnect_min,omitempty"`
	ReconnectMax time.Duration `yaml:"reconnect_max,omitempty"`
}

// LogValue logs the endpoint without its password.
func (e Endpoint) LogValue() slog.Value {
	shown := e.URL
	if u, err := url.Parse(e.URL); err == nil {
		shown = u.Redacted()
	} else {
		shown = "(not a URL)"
	}
	attrs := []slog.Attr{slog.String("url", shown), slog.String("client_id", e.ClientID)}
	if e.Username != "" {
		attrs = append(attrs, slog.String("username", e.Username))
	}
	if e.Password != "" || e.PasswordFile != "" {
		attrs = append(attrs, slog.Bool("password", true))
	}
	if e.CAFile != "" {
		attrs = append(attrs, slog.String("ca_file", e.CAFile))
	}
	if e.CertFile != "" {
		attrs = append(attrs, slog.String("cert_file", e.CertFile))
	}
	return slog.GroupValue(attrs...)
}

// endpoint is an Endpoint checked and loaded: files read, defaults set.
type endpoint struct {
	Endpoint
	addr     string      // host:port to dial
	url      string      // the URL handed to paho (its scheme is ours to read)
	tls      *tls.Config // nil for plain TCP
	password string
}

// resolve checks e, reads its files and fills in the defaults; clientID is
// used when e names none.
func (e Endpoint) resolve(clientID string) (*endpoint, error) {
	if e.ClientID == "" {
		e.ClientID = clientID
	}
	setDefault(&e.KeepAlive, DefaultKeepAlive)
	setDefault(&e.ConnectTimeout, DefaultRemoteConnect)
	setDefault(&e.ReconnectMin, DefaultReconnectMin)
	setDefault(&e.ReconnectMax, DefaultReconnectMax)

	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold a password
		}
		return nil, fmt.Errorf("url: %w (want mqtt://host:port or mqtts://host:port)", err)
	}
	shown := u.Redacted()
	secure := false
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl", "tls":
		secure, port = true, "8883"
	default:
		errs = append(errs, fmt.Errorf("url %q: want mqtt://host:port or mqtts://host:port", shown))
	}
	check(u.User == nil, "url: credentials belong in username and password_file, not in the URL")
	check(u.Hostname() != "", "url %q: no host", shown)
	check(u.Path == "" || u.Path == "/", "url %q: unexpected path", shown)
	if u.Port() != "" {
		port = u.Port()
	}
	check(e.ClientID != "", "client_id: want one (it names the hub's session on the broker)")
	check(len(e.ClientID) <= 65535, "client_id: too long")
	check(e.Password == "" || e.PasswordFile == "", "password and password_file: set one, not both")
	check((e.Password == "" && e.PasswordFile == "") || e.Username != "", "password without a username (MQTT 3.1.1 sends a password only with a username)")
	check(!secure || (e.CertFile == "") == (e.KeyFile == ""), "cert_file and key_file: set both or neither")
	check(secure || (e.CAFile == "" && e.CertFile == "" && e.KeyFile == ""), "ca_file, cert_file and key_file need an mqtts:// URL")
	check(e.KeepAlive >= time.Second && e.KeepAlive <= 65535*time.Second, "keepalive %v: want 1s to 18h12m15s", e.KeepAlive)
	check(e.ConnectTimeout > 0, "connect_timeout %v: want > 0", e.ConnectTimeout)
	check(e.ReconnectMin > 0 && e.ReconnectMax >= e.ReconnectMin, "reconnect_min %v, reconnect_max %v: want 0 < min <= max", e.ReconnectMin, e.ReconnectMax)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	r := &endpoint{Endpoint: e, addr: net.JoinHostPort(u.Hostname(), port)}
	r.url = (&url.URL{Scheme: u.Scheme, Host: r.addr}).String()
	if r.password, err = e.ThePassword(); err != nil {
		return nil, err
	}
	if secure {
		if r.tls, err = e.tlsConfig(u.Hostname()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ThePassword returns Password, or the first line of PasswordFile; "" when
// neither is set.
func (e Endpoint) ThePassword() (string, error) {
	if e.PasswordFile == "" {
		return e.Password, nil
	}
	b, err := os.ReadFile(e.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSuffix(line, "\r"); line == "" {
		return "", fmt.Errorf("password_file %s: empty", e.PasswordFile)
	}
	return line, nil
}

// ClientTLS is the TLS configuration a client of the broker uses (its CA,
// its certificate), nil for an mqtt:// URL: the demo's devices ride on the
// external broker as the hub does.
func (e Endpoint) ClientTLS() (*tls.Config, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	switch u.Scheme {
	case "mqtts", "ssl", "tls":
		return e.tlsConfig(u.Hostname())
	}
	return nil, nil
}

// tlsConfig builds the client TLS configuration for serverName.
func (e Endpoint) tlsConfig(serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", e.CAFile)
		}
		cfg.RootCAs = pool
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dial opens a connection to the broker, TLS included, giving up when ctx
// ends. paho calls it (as its custom connection function) for every attempt.
func (e *endpoint) dial(ctx context.Context) (*trackedConn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.ConnectTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, err
	}
	tcp := nc
	if e.tls != nil {
		tc := tls.Client(nc, e.tls.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", e.addr, err)
		}
		nc = tc
	}
	return newTrackedConn(nc, tcp), nil
}

// trackedConn is one connection to a remote broker. It remembers whether the
// connection can still carry an acknowledgement: once a read or a write has
// failed, or it was closed, nothing more reaches the broker through it.
//
// It also reads through a buffer: paho reads a packet a few bytes at a time
// (the first byte, the length, the body), a system call each without one.
type trackedConn struct {
	net.Conn
	in      *bufio.Reader
	ack     ackNow // nil when the kernel cannot be asked to ack at once
	dead    atomic.Bool
	aborted atomic.Bool
}

// newTrackedConn tracks nc, whose TCP connection is tcp (nc itself, or the
// one under its TLS).
func newTrackedConn(nc, tcp net.Conn) *trackedConn {
	c := &trackedConn{Conn: nc, ack: quickAcker(tcp)}
	c.in = bufio.NewReaderSize(socketReader{c}, 4096)
	return c
}

// socketReader reads c's connection itself, for c's buffer.
type socketReader struct{ c *trackedConn }

// Read reads the connection and acknowledges what it took at once (see
// quickAcker for why).
func (r socketReader) Read(p []byte) (int, error) {
	n, err := r.c.Conn.Read(p)
	if n > 0 && r.c.ack != nil {
		r.c.ack()
	}
	return n, err
}

// errAborted is what reads return after abort.
var errAborted = errors.New("connection dropped by the hub")

// Read reads and marks the connection dead on any error.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.in.Read(p)
	if err != nil {
		c.dead.Store(true)
		if c.aborted.Load() {
			err = errAborted
		}
	}
	return n, err
}

// abort drops the connection so that paho reports it lost. Close alone does
// not: paho takes "use of closed network connection" for its own close and
// would sit on a dead connection until the keepalive gives up.
func (c *trackedConn) abort() {
	c.aborted.Store(true)
	_ = c.Close()
}

// Write writes and marks the connection dead on any error.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.dead.Store(true)
	}
	return n, err
}

// Close marks the connection dead and closes it.
func (c *trackedConn) Close() error {
	c.dead.Store(true)
	return c.Conn.Close()
}

// alive reports whether an acknowledgement written now can still reach the
// broker as far as the hub can tell.
func (c *trackedConn) alive() bool { return c != nil && !c.dead.Load() }
