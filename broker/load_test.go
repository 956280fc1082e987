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
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// TestLoad puts the broker under everything at once: thousands of connected
// clients, a subscriber to every topic that never reads, a publisher
// flooding (held to the hub's default publish rate), and a client
// reconnecting in a loop, while a motion sensor and its light keep talking
// through the hub's path (hook → bus → a consumer → Command → the light).
// The pair must get every message through, also while a subscriber that
// stopped reading is sent each of them, the flood must reach the bus no
// faster than its rate allows, memory must stay bounded, and once the bad
// clients are gone the goroutines must come back to where they were
// (nothing stuck behind a lock).
//
// Latency is logged, not asserted: it is a figure for docs/reliability.md.
func TestLoad(t *testing.T) {
	clients, minTrips := 2000, 200 // minTrips: sensor → light round trips
	if testing.Short() {
		clients, minTrips = 200, 50
	}
	clients = fileLimitFor(t, clients)
	const (
		minStalls     = 3   // stalled subscribers cut off
		minReconnects = 300 // connections of the reconnecting client
		// minFlood is the flooder's messages on the bus: its burst, then
		// two seconds held to its rate.
		minFlood = DefaultPublishBurst + 2*DefaultPublishRate
	)

	// The write timeout is a minute, longer than the test waits for any
	// message: a subscriber that stops reading must cost only itself (its
	// send queue fills, and past its bound it is cut off), never hold up a
	// publisher until its write gives up. The publish rate is the hub's
	// default.
	h := startLoadHub(t, Config{WriteTimeout: time.Minute,
		Limits: Limits{Clients: clients + 50, PublishRate: DefaultPublishRate}})
	const sensorTopic, lightTopic = "home/load_sensor", "home/load_light/set"
	relayCommands(t, h, sensorTopic, lightTopic)
	sensor := pahoClient(t, h.addr, "load_sensor", nil)
	light := pahoClient(t, h.addr, "load_light", nil)
	got := make(chan string, 1024)
	if tok := light.Subscribe(lightTopic, 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("light subscribe: %v", tok.Error())
	}
	roundTrip(t, sensor, sensorTopic, got, "warm-up") // the whole path works before the load

	baseGoroutines := runtime.NumGoroutine()
	baseHeap := liveHeap(true)

	// Thousands of clients connect and stay connected, idle.
	began := time.Now()
	idle := connectIdle(t, h.addr, clients)
	connectTime := time.Since(began)
	idleHeap := liveHeap(true)
	t.Logf("%d idle clients connected in %v; live heap %.1f MB → %.1f MB (%.1f KB a client)",
		clients, connectTime.Round(time.Millisecond), mb(baseHeap), mb(idleHeap), float64(idleHeap-baseHeap)/float64(clients)/1024)

	// The pair alone, beside the idle clients.
	quiet := roundTrips(t, sensor, sensorTopic, got, minTrips, "quiet")
	t.Logf("quiet: %d sensor → light round trips; latency %s", len(quiet), percentiles(quiet))

	// The pair beside a subscriber to every topic that has stopped reading:
	// its socket is full and bytes wait in its send queue, and every message
	// of the pair is sent to it too. Each message used to wait for that
	// client's write (for the write timeout, a minute here) before it could
	// go on; the round trips fail if they wait longer than the test does.
	stuck, stuckQueue := stuckSubscriber(t, h, sensor)
	beside := roundTrips(t, sensor, sensorTopic, got, minTrips, "beside")
	if cl, ok := h.server.Clients.Get("stuck"); !ok || cl.Closed() {
		t.Fatal("the stuck subscriber was cut off: the round trips did not run beside it")
	}
	queued, _, _ := stuckQueue.state()
	t.Logf("beside a subscriber that stopped reading (%d bytes waiting for it): %d round trips; latency %s",
		queued, len(beside), percentiles(beside))
	_ = stuck.conn.Close()

	floodBegan := time.Now()
	flood := countOnBus(t, h.bus, "flooder", DefaultPublishRate, DefaultPublishBurst, floodBegan)
	floodOnBus := func() int { n, _, _ := flood.get(); return n }
	bad := startBadClients(t, h, minStalls)
	peak := sampleHeap(t, idleHeap)

	// The sensor and its light keep working: every message gets through.
	// The sensor starts a round trip every 20 ms at most: a busy sensor,
	// well below the publish rate, so that what it measures is the flood's
	// cost to it, not its own limit.
	loadBegan := time.Now()
	var lat, afterBurst []time.Duration // afterBurst: once the flooder is held to its rate
	deadline := time.Now().Add(10 * wait)
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for len(lat) < minTrips || bad.stalls.Load() < minStalls || bad.reconnects.Load() < minReconnects || floodOnBus() < minFlood {
		bad.check(t)
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v: %d round trips, %s", 10*wait, len(lat), bad)
		}
		<-pace.C
		throttled := floodOnBus() > DefaultPublishBurst
		lat = append(lat, roundTrip(t, sensor, sensorTopic, got, strconv.Itoa(len(lat))))
		if throttled {
			afterBurst = append(afterBurst, lat[len(lat)-1])
		}
	}
	loadTime := time.Since(loadBegan)
	peakHeap := peak()
	bad.stop()
	bad.check(t)
	t.Logf("under load for %v: %d sensor → light round trips, none lost; latency %s",
		loadTime.Round(time.Millisecond), len(lat), percentiles(lat))
	if len(afterBurst) > 0 {
		t.Logf("of which %d once the flooder had used its burst and was held to its rate: latency %s", len(afterBurst), percentiles(afterBurst))
	}
	floodTime := time.Since(floodBegan)
	t.Logf("bad clients: %s; %d flood messages on the bus in %v (%.0f/s), held for %v",
		bad, floodOnBus(), floodTime.Round(time.Millisecond), float64(floodOnBus())/floodTime.Seconds(),
		h.Stats().PublishRate.Waited.Round(time.Millisecond))
	if _, _, over := flood.get(); over != "" {
		t.Errorf("the flooder was not held to the publish rate: %s", over)
	}
	flood.stop()
	if n := countLines(h.logs.String(), "faster than its limit", "client=load_sensor"); n != 0 {
		t.Errorf("the sensor was held to the publish rate: its latency is not the flood's doing")
	}
	if n := countLines(h.logs.String(), "slow consumer", "client=stalled"); n < minStalls {
		t.Errorf("%d lines say the stalled subscriber was cut off as a slow consumer, want at least %d", n, minStalls)
	}

	// Memory: what the load added is bounded (the stalled subscribers'
	// queues, the messages in flight), far below what the flood sent.
	t.Logf("peak live heap %.1f MB, %.1f MB above the idle clients'", mb(peakHeap), mb(peakHeap-idleHeap))
	if peakHeap > idleHeap+128<<20 {
		t.Errorf("live heap reached %.1f MB under load, %.1f MB above the idle clients' %.1f MB (allowed 128 MB)",
			mb(peakHeap), mb(peakHeap-idleHeap), mb(idleHeap))
	}

	// Once everyone has left, nothing is stuck: the goroutines come back to
	// their count before the load, and so does the heap.
	for _, c := range idle {
		_ = c.Close()
	}
	began = time.Now()
	eventually(t, "goroutines back to their count before the load", func() bool {
		return runtime.NumGoroutine() <= baseGoroutines
	})
	t.Logf("goroutines back to %d within %v of the last client leaving", baseGoroutines, time.Since(began).Round(time.Millisecond))
	end := liveHeap(true)
	t.Logf("live heap at the start %.1f MB, at the end %.1f MB", mb(baseHeap), mb(end))
	if end > baseHeap+16<<20 {
		t.Errorf("live heap %.1f MB after every client left, %.1f MB at the start (allowed 16 MB more)", mb(end), mb(baseHeap))
	}
	roundTrip(t, sensor, sensorTopic, got, "after") // and the pair still works
}

// roundTrips runs n round trips and returns their latencies, sorted.
func roundTrips(t *testing.T, sensor paho.Client, topic string, got <-chan string, n int, name string) []time.Duration {
	t.Helper()
	lat := make([]time.Duration, n)
	for i := range lat {
		lat[i] = roundTrip(t, sensor, topic, got, fmt.Sprintf("%s-%d", name, i))
	}
	slices.Sort(lat)
	return lat
}

// percentiles describes sorted latencies.
func percentiles(lat []time.Duration) string {
	slices.Sort(lat)
	return fmt.Sprintf("p50 %v, p99 %v, max %v", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// stuckSubscriber connects a subscriber to every topic at QoS 1 that stops
// reading, and has filler publish to it until its socket is full and bytes
// wait in its send queue (well below the queue's bound). It returns the
// subscriber and its send queue.
func stuckSubscriber(t *testing.T, h *hub, filler paho.Client) (*raw, *sendQueue) {
	t.Helper()
	stuck := dialSmallBuffer(t, h.addr)
	stuck.connect(4, "stuck", 60)
	stuck.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: "#", Qos: 1}},
	})
	if ack, err := stuck.read(); err != nil || ack.FixedHeader.Type != packets.Suback {
		t.Fatalf("stuck subscriber: subscribe: %+v, %v", ack.FixedHeader, err)
	}
	cl, ok := h.server.Clients.Get("stuck")
	if !ok {
		t.Fatal("stuck subscriber: not connected")
	}
	q := sendQueueOf(cl.Net.Conn)
	// QoS 1, one at a time: each is in the subscriber's queue (or its
	// socket) before the next, so the filling stops just past the socket.
	payload := bytes.Repeat([]byte("f"), 16<<10)
	for i := 0; ; i++ {
		if queued, _, failed := q.state(); failed {
			t.Fatal("stuck subscriber: cut off while its socket was being filled")
		} else if queued > 0 {
			return stuck, q
		}
		if i == 512 { // 8 MB, half its inflight quota
			t.Fatal("stuck subscriber: its socket took 8 MB without filling up")
		}
		publish(t, filler, "fill/stuck", 1, payload)
	}
}

// badClients are the clients that misbehave during TestLoad.
type badClients struct {
	stalls, reconnects, flooded atomic.Int64
	errs                        chan error
	cancel                      context.CancelFunc
	wg                          sync.WaitGroup
}

// startBadClients starts, on h, stalls subscribers that never read (one
// after the other), a flooding publisher and a reconnecting client; the
// last two run until stop.
func startBadClients(t *testing.T, h *hub, stalls int64) *badClients {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &badClients{errs: make(chan error, 3), cancel: cancel}
	run := func(name string, f func() error) {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				b.errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	run("stalled subscriber", func() error { return stallLoop(ctx, h, &b.stalls, stalls) })
	run("flooder", func() error { return flood(ctx, h.addr, &b.flooded) })
	run("reconnecting client", func() error { return reconnectLoop(ctx, h.addr, &b.reconnects) })
	t.Cleanup(b.stop)
	return b
}

// stop ends the bad clients and waits for them.
func (b *badClients) stop() {
	b.cancel()
	b.wg.Wait()
}

// check fails the test if a bad client could not do its part.
func (b *badClients) check(t *testing.T) {
	t.Helper()
	select {
	case err := <-b.errs:
		t.Fatal(err)
	default:
	}
}

func (b *badClients) String() string {
	return fmt.Sprintf("%d stalled subscribers cut off, %d reconnects, %d flood messages",
		b.stalls.Load(), b.reconnects.Load(), b.flooded.Load())
}

// sampleHeap samples the live heap (what survived the last collection:
// what the broker holds on to) until the returned function is called,
// which returns the highest seen, at least from.
func sampleHeap(t *testing.T, from int64) (peak func() int64) {
	done := make(chan struct{})
	result := make(chan int64, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		highest := from
		for {
			select {
			case <-done:
				result <- highest
				return
			case <-tick.C:
				highest = max(highest, liveHeap(false))
			}
		}
	}()
	var once sync.Once
	stop := func() int64 {
		once.Do(func() { close(done) })
		return <-result
	}
	t.Cleanup(func() { once.Do(func() { close(done); <-result }) })
	return stop
}

// startLoadHub is startHub logging at the hub's default level: at debug
// level the test's own log buffer, taking a line for every connection, would
// be what slows the broker down and fills the heap.
func startLoadHub(t *testing.T, cfg Config) *hub {
	t.Helper()
	logs, _ := newTestLog(t)
	bus := hearth.NewBus(hearth.BusOptions{Durable: true, Size: 4096})
	t.Cleanup(bus.Close)
	markDurable(t, bus)
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	b, err := New(cfg, bus)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &hub{Broker: b, bus: bus, logs: logs, addr: b.Addr().String()}
}

// relayCommands stands in for the automations: every message on sensor
// becomes a command to light with the same payload, sent the way the hub
// sends it (from a goroutine of its own, through Command).
func relayCommands(t *testing.T, h *hub, sensor, light string) {
	t.Helper()
	sub := h.bus.Subscribe("relay", hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	todo := make(chan []byte, 256)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(todo)
		buf := make([]hearth.Event, 256)
		for {
			evs, err := sub.Read(ctx, buf)
			if err != nil {
				return
			}
			for _, e := range evs {
				if e.Kind == hearth.KindMessage && e.Topic == sensor {
					select {
					case todo <- e.Payload:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for p := range todo {
			_, _ = h.Command(ctx, hearth.Command{Topic: light, Payload: p, QoS: 1})
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		sub.Close()
	})
}

// roundTrip publishes id from the sensor (QoS 1, acknowledged once logged)
// and waits for the light to receive it as a command; it returns the time
// from publish to receipt.
func roundTrip(t *testing.T, sensor paho.Client, topic string, got <-chan string, id string) time.Duration {
	t.Helper()
	start := time.Now()
	publish(t, sensor, topic, 1, []byte(id))
	timeout := time.After(wait)
	for {
		select {
		case p := <-got:
			if p == id {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("round trip %s: the light got no command within %v", id, wait)
		}
	}
}

// fileLimitFor raises the open-files limit for n clients (both ends of each
// socket are in this process), or lowers n to what the limit allows.
func fileLimitFor(t *testing.T, n int) int {
	t.Helper()
	need := uint64(2*n + 256)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < need && lim.Max > lim.Cur {
		lim.Cur = min(need, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("setrlimit: %v", err)
		}
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < need {
		fit := int(lim.Cur-256) / 2
		t.Logf("open files limited to %d: %d clients instead of %d", lim.Cur, fit, n)
		return fit
	}
	return n
}

// connectIdle connects n clients on bare sockets; they stay connected and
// silent (keepalive at the broker's cap) until closed.
func connectIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = encode(t, 4, connectPacket(4, fmt.Sprintf("idle-%d", i), 600))
	}
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialConnect(addr, pkts[i])
				if err != nil {
					errs <- fmt.Errorf("idle client %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return conns
}

// dialConnect dials addr, sends the encoded CONNECT and waits for a CONNACK
// that accepts it.
func dialConnect(addr string, connect []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	ack := make([]byte, 4)
	if _, err := c.Write(connect); err == nil {
		_, err = io.ReadFull(c, ack)
	}
	if err == nil && !bytes.Equal(ack, []byte{0x20, 0x02, 0x00, 0x00}) {
		err = fmt.Errorf("CONNACK % x, want accepted", ack)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// stallLoop connects, rounds times, a subscriber to every topic at QoS 1
// with a tiny receive buffer that never reads what it is sent, and waits
// each time until the broker cuts it off (the flood fills its send queue).
func stallLoop(ctx context.Context, h *hub, stalls *atomic.Int64, rounds int64) error {
	var connect, subscribe bytes.Buffer
	pk := connectPacket(4, "stalled", 60)
	pk.ProtocolVersion = 4
	if err := pk.ConnectEncode(&connect); err != nil {
		return err
	}
	sub := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: "#", Qos: 1}},
	}
	if err := sub.SubscribeEncode(&subscribe); err != nil {
		return err
	}
	for ctx.Err() == nil && stalls.Load() < rounds {
		d := net.Dialer{Timeout: wait, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}}
		c, err := d.DialContext(ctx, "tcp", h.addr)
		if err != nil {
			return err
		}
		r := &raw{conn: c, br: bufio.NewReaderSize(c, 16), version: 4}
		err = stallOnce(ctx, h, r, connect.Bytes(), subscribe.Bytes())
		_ = c.Close()
		if err != nil {
			return err
		}
		stalls.Add(1)
	}
	return nil
}

// stallOnce subscribes on r and stops reading until the broker drops it.
func stallOnce(ctx context.Context, h *hub, r *raw, connect, subscribe []byte) error {
	if _, err := r.conn.Write(connect); err != nil {
		return err
	}
	if ack, err := r.read(); err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		return fmt.Errorf("connect: %v (packet %d, reason %d)", err, ack.FixedHeader.Type, ack.ReasonCode)
	}
	if _, err := r.conn.Write(subscribe); err != nil {
		return err
	}
	for { // messages may come before the SUBACK
		pk, err := r.read()
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if pk.FixedHeader.Type == packets.Suback {
			break
		}
	}
	// From here on nothing is read: the socket buffers fill. The broker's
	// end of the socket is kept small, as a slow link's would stay: on
	// loopback it grows to megabytes, seconds of the flood held to its
	// publish rate before the send queue even starts to fill.
	if cl, ok := h.server.Clients.Get("stalled"); ok {
		if tc, ok := sendQueueOf(cl.Net.Conn).Conn.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(4096)
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cl, ok := h.server.Clients.Get("stalled"); !ok || cl.Closed() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// flood publishes QoS 0 messages as fast as the broker takes them.
func flood(ctx context.Context, addr string, sent *atomic.Int64) error {
	var connect bytes.Buffer
	pk := connectPacket(4, "flooder", 60)
	pk.ProtocolVersion = 4
	if err := pk.ConnectEncode(&connect); err != nil {
		return err
	}
	c, err := dialConnect(addr, connect.Bytes())
	if err != nil {
		return err
	}
	// The flooder resets its connection when it stops: closed gracefully,
	// the messages still in the sockets' buffers (megabytes) would reach
	// the broker first, at the flooder's publish rate, seconds of them.
	_ = c.(*net.TCPConn).SetLinger(0)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() }) // ends a blocked Write
	defer stop()
	const batch = 64
	var buf bytes.Buffer
	payload := bytes.Repeat([]byte("x"), 512)
	for i := range batch {
		p := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: fmt.Sprintf("flood/%d", i), Payload: payload, ProtocolVersion: 4}
		if err := p.PublishEncode(&buf); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		if _, err := c.Write(buf.Bytes()); err != nil {
			return err
		}
		sent.Add(batch)
	}
	return nil
}

// reconnectLoop connects one client id again and again: it subscribes,
// then leaves, alternately with a DISCONNECT and by dropping the socket.
func reconnectLoop(ctx context.Context, addr string, n *atomic.Int64) error {
	var connect, subscribe, disconnect bytes.Buffer
	pk := connectPacket(4, "reconnector", 60)
	pk.ProtocolVersion = 4
	sub := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: "home/#", Qos: 1}},
	}
	dis := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 4}
	if err := errors.Join(pk.ConnectEncode(&connect), sub.SubscribeEncode(&subscribe), dis.DisconnectEncode(&disconnect)); err != nil {
		return err
	}
	for i := 0; ctx.Err() == nil; i++ {
		c, err := dialConnect(addr, connect.Bytes())
		if err != nil {
			return fmt.Errorf("connect %d: %w", i, err)
		}
		r := &raw{conn: c, br: bufio.NewReader(c), version: 4}
		_ = c.SetDeadline(time.Now().Add(wait))
		_, err = c.Write(subscribe.Bytes())
		for err == nil {
			var pk packets.Packet
			if pk, err = r.read(); err == nil && pk.FixedHeader.Type == packets.Suback {
				break
			}
		}
		if err == nil && i%2 == 0 {
			_, err = c.Write(disconnect.Bytes())
		}
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("reconnect %d: %w", i, err)
		}
		n.Add(1)
	}
	return nil
}

// liveHeap returns the heap live after the last garbage collection, after
// running one first when gc is set.
func liveHeap(gc bool) int64 {
	if gc {
		runtime.GC()
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
