package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"

	"hearth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is how long a test waits for something that should happen at once;
// it only bounds a broken test, it is not a timing assertion.
const wait = 20 * time.Second

// testLog collects a test's logs and prints them if the test fails.
type testLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.buf.Write(p)
	}
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLog(t *testing.T) (*testLog, *slog.Logger) {
	t.Helper()
	l := &testLog{}
	t.Cleanup(func() { // registered first: runs after everything else
		l.mu.Lock()
		defer l.mu.Unlock()
		l.done = true
		if t.Failed() {
			t.Logf("logs:\n%s", l.buf.String())
		}
	})
	return l, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// hub is a broker on a loopback port with a real bus behind it.
type hub struct {
	*Broker
	bus  *hearth.Bus
	logs *testLog
	addr string
}

// startHub starts a broker on 127.0.0.1:0 over a durable bus. When store is
// true a goroutine plays the log: it reads every event and marks it durable.
func startHub(t *testing.T, cfg Config, store bool) *hub {
	t.Helper()
	return startHubWith(t, cfg, store, nil)
}

// startHubWith is startHub with a hook to adjust the broker before it
// starts listening.
func startHubWith(t *testing.T, cfg Config, store bool, setup func(*Broker)) *hub {
	t.Helper()
	logs, log := newTestLog(t)
	bus := hearth.NewBus(hearth.BusOptions{Durable: true, Size: 4096})
	t.Cleanup(bus.Close)
	if store {
		markDurable(t, bus)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = log
	b, err := New(cfg, bus)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(b)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &hub{Broker: b, bus: bus, logs: logs, addr: b.Addr().String()}
}

// markDurable runs a stand-in for the store: it marks each event durable as
// soon as it reads it.
func markDurable(t *testing.T, bus *hearth.Bus) {
	t.Helper()
	onBus(t, bus, "store", func(evs []hearth.Event) {
		bus.MarkDurable(evs[len(evs)-1].Seq)
	})
}

// onBus hands f every batch of events a must-not-miss subscriber named
// name reads, on a goroutine of its own, until the returned stop is called
// or the test ends.
func onBus(t *testing.T, bus *hearth.Bus, name string, f func(evs []hearth.Event)) (stop func()) {
	t.Helper()
	sub := bus.Subscribe(name, hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]hearth.Event, 256)
		for {
			evs, err := sub.Read(ctx, buf)
			if err != nil {
				return
			}
			if len(evs) > 0 {
				f(evs)
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			sub.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// reader reads the bus in a test.
type reader struct {
	t   *testing.T
	sub *hearth.Subscription
}

func newReader(t *testing.T, bus *hearth.Bus) *reader {
	t.Helper()
	sub := bus.Subscribe("test", hearth.MustNotMiss)
	t.Cleanup(sub.Close)
	return &reader{t: t, sub: sub}
}

// next returns the next event.
func (r *reader) next() hearth.Event {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	evs, err := r.sub.Read(ctx, make([]hearth.Event, 1))
	if err != nil {
		r.t.Fatalf("read bus: %v", err)
	}
	return evs[0]
}

// pahoClient connects an MQTT 3.1.1 client (paho) to addr.
func pahoClient(t *testing.T, addr, id string, mod func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCleanSession(true).
		SetConnectTimeout(wait)
	if mod != nil {
		mod(opts)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho %s: connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// publish publishes through paho and waits for the broker's acknowledgement.
func publish(t *testing.T, c paho.Client, topic string, qos byte, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s: no acknowledgement within %v", topic, wait)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// raw is a hand-driven MQTT client on a bare TCP socket, for what paho will
// not send: MQTT 5, malformed packets, silence.
type raw struct {
	t       *testing.T
	conn    net.Conn
	br      *bufio.Reader
	version byte
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{t: t, conn: c, br: bufio.NewReader(c), version: 4}
}

// write sends bytes as they are.
func (r *raw) write(b []byte) {
	r.t.Helper()
	_ = r.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// send encodes pk with mochi's encoder at the client's protocol version.
func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	r.write(encode(r.t, r.version, pk))
}

func encode(t testing.TB, version byte, pk packets.Packet) []byte {
	t.Helper()
	pk.ProtocolVersion = version
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		pk.FixedHeader.Qos = 1
		err = pk.UnsubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		err = fmt.Errorf("no encoder for type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func connectPacket(version byte, id string, keepalive uint16) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: keepalive, ClientIdentifier: id,
		},
		ProtocolVersion: version,
	}
}

// connect sends CONNECT at version and returns the CONNACK.
func (r *raw) connect(version byte, id string, keepalive uint16) packets.Packet {
	r.t.Helper()
	r.version = version
	r.send(connectPacket(version, id, keepalive))
	ack, err := r.read()
	if err != nil {
		r.t.Fatalf("connect %s: %v", id, err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		r.t.Fatalf("connect %s: got packet type %d, want CONNACK", id, ack.FixedHeader.Type)
	}
	return ack
}

// read reads and decodes one packet from the broker.
func (r *raw) read() (packets.Packet, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(wait))
	var pk packets.Packet
	b, err := r.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r.br)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = r.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

// expectClosed reads until the broker closes the connection and returns the
// packet types it sent before that.
func (r *raw) expectClosed() []byte {
	r.t.Helper()
	var got []byte
	for {
		pk, err := r.read()
		if err != nil {
			if errors.Is(err, io.EOF) || isReset(err) {
				return got
			}
			r.t.Fatalf("want the broker to close the connection; read: %v (after packets %v)", err, got)
		}
		got = append(got, pk.FixedHeader.Type)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// eventually polls cond until it holds, failing the test after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
