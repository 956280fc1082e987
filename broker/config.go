package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Defaults for a small machine (a Raspberry Pi Zero 2 W up to a Pi 5).
const (
	DefaultAddr                         = ":1883"
	DefaultMaxPacketSize                = 256 << 10
	DefaultConnectTimeout               = 10 * time.Second
	DefaultWriteTimeout                 = time.Second
	DefaultMaxClients                   = 1000
	DefaultMaxKeepalive                 = 600 * time.Second
	DefaultMaximumClientWritesPending   = 512
	DefaultMaxInflight                  = 1024
	DefaultReceiveMaximum               = 256
	DefaultMaximumSessionExpiryInterval = 24 * time.Hour
	DefaultDurableTimeout               = 5 * time.Second
)

// maxRemainingLength is the largest remaining length MQTT can express
// (a four byte variable byte integer); the whole packet adds at most 5 bytes.
const maxRemainingLength = 268_435_455

// Config configures the broker. Zero values take the defaults above.
//
// The broker also always sets mochi's NoInheritedPropertiesOnAck (strict v5
// clients reject user properties echoed into PUBACK) and refuses inbound
// topic aliases (mochi accepts up to 65,535 per client without advertising
// any, an unbounded map per connection).
type Config struct {
	// Addr is the TCP address to listen on, such as ":1883" (the default)
	// or "127.0.0.1:0".
	Addr string
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger

	// MaxPacketSize is the largest MQTT packet accepted from a client, in
	// bytes, fixed header included. It is advertised in the v5 CONNACK.
	MaxPacketSize int
	// ConnectTimeout is how long a new socket has to deliver a complete
	// CONNECT before it is closed.
	ConnectTimeout time.Duration
	// WriteTimeout is how long a client may take nothing of what it is
	// sent before it is cut off. (How far behind it may fall is
	// Limits.SendBuffer.)
	WriteTimeout time.Duration
	// MaxKeepalive caps the keepalive a client may ask for. An MQTT 5 client
	// asking for more (or for none) is told this value in its CONNACK; an
	// MQTT 3 client, which cannot be told, is refused ("identifier rejected"),
	// as Mosquitto's max_keepalive does.
	MaxKeepalive time.Duration
	// MaximumClientWritesPending bounds the packets queued for one client
	// (8 bytes a slot, allocated when it connects). Live messages beyond it
	// are dropped for that client; a subscriber's retained messages are
	// paced to it instead (pacer.go), so a burst of thousands arrives whole.
	MaximumClientWritesPending int
	// MaxInflight bounds the unacknowledged QoS 1/2 messages held per client.
	MaxInflight int
	// ReceiveMaximum is how many QoS 1/2 messages a client may send before
	// they are acknowledged (advertised in the v5 CONNACK).
	ReceiveMaximum int
	// MaximumSessionExpiryInterval caps how long a disconnected client's
	// session is kept.
	MaximumSessionExpiryInterval time.Duration
	// DurableTimeout is how long a QoS 1/2 publish waits for the log before
	// the broker gives up and does not acknowledge it.
	DurableTimeout time.Duration

	// UsersFile names the users file: users, their password hashes and what
	// each may do (users.go, docs/security.md). It is read at start (a file
	// with mistakes stops the broker), and again at the next CONNECT after
	// it changed, or on ReloadUsers. A file that does not exist means no
	// users yet. Empty: no users file.
	UsersFile string
	// AllowAnonymous lets clients without a user name connect from any
	// address; it is logged as a warning at every start. Without it, such a
	// client is let in only while there are no users, and only from this
	// machine (loopback), not over WebSocket; or over TLS with a client
	// certificate signed by TLS.ClientCAFile.
	AllowAnonymous bool
	// TLS is the MQTT over TLS listener, off while TLS.Addr is empty.
	TLS TLSConfig
	// WebSocket is the MQTT over WebSocket listener for browser clients,
	// off while WebSocket.Addr is empty.
	WebSocket WebSocketConfig
	// Limits bound what one client or one address may take.
	Limits Limits
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.MaxPacketSize, DefaultMaxPacketSize)
	setDefault(&c.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxKeepalive, DefaultMaxKeepalive)
	setDefault(&c.MaximumClientWritesPending, DefaultMaximumClientWritesPending)
	setDefault(&c.MaxInflight, DefaultMaxInflight)
	setDefault(&c.ReceiveMaximum, DefaultReceiveMaximum)
	setDefault(&c.MaximumSessionExpiryInterval, DefaultMaximumSessionExpiryInterval)
	setDefault(&c.DurableTimeout, DefaultDurableTimeout)
	c.Limits = c.Limits.withDefaults()
	return c
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Check reports every value of c out of range, and a TLS certificate or
// key that does not load, as New and Start would refuse them: `hub config`
// checks a configuration without starting anything.
func (c Config) Check() error {
	if err := c.withDefaults().validate(); err != nil {
		return fmt.Errorf("broker config: %w", err)
	}
	if c.TLS.Addr != "" {
		if _, err := c.TLS.serverConfig(); err != nil {
			return fmt.Errorf("broker config: %w", err)
		}
	}
	return nil
}

// validate reports every value out of range, after defaults were applied.
func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.MaxPacketSize >= 64 && c.MaxPacketSize <= maxRemainingLength+5,
		"MaxPacketSize %d: want 64 to %d bytes", c.MaxPacketSize, maxRemainingLength+5)
	check(c.ConnectTimeout > 0, "ConnectTimeout %v: want > 0", c.ConnectTimeout)
	check(c.WriteTimeout > 0, "WriteTimeout %v: want > 0", c.WriteTimeout)
	check(c.MaxKeepalive >= time.Second && c.MaxKeepalive <= math.MaxUint16*time.Second,
		"MaxKeepalive %v: want 1s to %ds", c.MaxKeepalive, math.MaxUint16)
	check(c.MaximumClientWritesPending > 0 && c.MaximumClientWritesPending <= math.MaxInt32,
		"MaximumClientWritesPending %d: want > 0", c.MaximumClientWritesPending)
	check(c.MaxInflight > 0 && c.MaxInflight <= math.MaxUint16,
		"MaxInflight %d: want 1 to %d", c.MaxInflight, math.MaxUint16)
	check(c.ReceiveMaximum > 0 && c.ReceiveMaximum <= math.MaxUint16,
		"ReceiveMaximum %d: want 1 to %d", c.ReceiveMaximum, math.MaxUint16)
	check(c.MaximumSessionExpiryInterval >= 0 && c.MaximumSessionExpiryInterval <= math.MaxUint32*time.Second,
		"MaximumSessionExpiryInterval %v: out of range", c.MaximumSessionExpiryInterval)
	check(c.DurableTimeout > 0, "DurableTimeout %v: want > 0", c.DurableTimeout)
	errs = append(errs, c.Limits.validate()...)
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.WebSocket.validate()...)
	return errors.Join(errs...)
}

// keepaliveCap is MaxKeepalive in whole seconds, as MQTT carries it.
func (c Config) keepaliveCap() uint16 { return uint16(c.MaxKeepalive / time.Second) }

// capabilities maps the limits onto mochi's.
func (c Config) capabilities() *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(c.Limits.Clients)
	caps.MaximumPacketSize = uint32(c.MaxPacketSize) // also enforced by the guard, before mochi reads
	caps.MaximumClientWritesPending = int32(c.MaximumClientWritesPending)
	caps.MaximumInflight = uint16(c.MaxInflight)
	caps.ReceiveMaximum = uint16(c.ReceiveMaximum)
	caps.MaximumSessionExpiryInterval = uint32(c.MaximumSessionExpiryInterval / time.Second)
	caps.TopicAliasMaximum = 0
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	return caps
}
