package crashtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The topics of the run. Each load client speaks for a few devices of its
// own; the automation's delay ends with a message to the lamp. It is not a
// device's command topic (home/<id>/set): the hub translates those for the
// device's adapter and the translation drops the retained flag.
const (
	devicesPerClient = 4
	triggerTopic     = "crash/timer"
	lampTopic        = "crash/lamp"
)

func loadTopic(client, device int) string {
	return fmt.Sprintf("home/crash_c%d_d%d", client, device)
}

// automations is the hub's automations file: every message on the trigger
// topic starts a run that waits delay and then tells the lamp the
// trigger's cycle number. The message is retained, so that the watcher
// gets it even when the delay, overdue after a long restart, fires before
// the watcher is back.
func automations(delay time.Duration) string {
	return fmt.Sprintf(`- id: crash_timer
  description: a delay pending whenever the hub is killed
  mode: parallel
  triggers: [{mqtt: %s}]
  actions:
    - delay: %s
    - publish: %s
      payload: {cycle: "{{ trigger.payload.cycle }}"}
      qos: 1
      retain: true
`, triggerTopic, delay, lampTopic)
}

// cycleTag marks the trigger of a cycle's delay, so that its stored timer
// can be recognised.
func cycleTag(cycle int) string { return fmt.Sprintf("crash-cycle-%d", cycle) }

// errHubDown is what a client's dial gets while the hub is not running.
var errHubDown = errors.New("the hub is down")

// address is where the hub listens now: its port changes at every start,
// and the clients, which reconnect by themselves, dial whatever it is.
type address struct {
	mu   sync.Mutex
	addr string
}

func (a *address) set(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addr = s
}

func (a *address) dial(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
	a.mu.Lock()
	addr := a.addr
	a.mu.Unlock()
	if addr == "" {
		return nil, errHubDown
	}
	return net.DialTimeout("tcp", addr, 2*time.Second)
}

// online is open while a client is connected (and, for the watcher,
// subscribed).
type online struct {
	mu sync.Mutex
	up chan struct{} // closed while online
}

func newOnline() *online { return &online{up: make(chan struct{})} }

func (o *online) set(up bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.up:
		if !up {
			o.up = make(chan struct{})
		}
	default:
		if up {
			close(o.up)
		}
	}
}

// wait returns once the client is online, or ctx's error.
func (o *online) wait(ctx context.Context) error {
	o.mu.Lock()
	up := o.up
	o.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clientOptions are those of every client of the run: it dials the hub
// wherever it is and reconnects quickly after a restart.
func clientOptions(to *address, id string, on *online) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker("tcp://hub"). // the dialer ignores it
		SetCustomOpenConnectionFn(to.dial).
		SetClientID(id).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond).
		SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(c mqtt.Client, _ error) {
			// paho runs this on a goroutine of its own, which may run
			// after the next connection is up already.
			if !c.IsConnectionOpen() {
				on.set(false)
			}
		})
}

// publisher is one load client: a device that keeps a persistent session
// and publishes QoS 1 messages with unique ids as fast as the hub
// acknowledges them, a window at a time. After a crash it reconnects and
// paho sends again, with DUP set, every message whose PUBACK it did not get.
type publisher struct {
	index  int
	id     string
	client mqtt.Client
	ledger *ledger
	online *online
}

func newPublisher(to *address, index, window int) *publisher {
	p := &publisher{index: index, id: fmt.Sprintf("crash-c%d", index), ledger: newLedger(window), online: newOnline()}
	opts := clientOptions(to, p.id, p.online).
		SetCleanSession(false).
		SetStore(p.ledger).
		SetOnConnectHandler(func(c mqtt.Client) { p.online.set(c.IsConnectionOpen()) })
	p.client = mqtt.NewClient(opts)
	return p
}

// connect starts the client; it is online once the hub takes it.
func (p *publisher) connect(ctx context.Context) error {
	tok := p.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("connect %s: %w", p.id, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("connect %s: %w", p.id, ctx.Err())
	}
	return nil
}

// run publishes until ctx ends. It publishes only while online, so that a
// message counts as resent only when a reconnect really sent it again.
func (p *publisher) run(ctx context.Context) error {
	for n := 1; ; n++ {
		select {
		case p.ledger.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if p.online.wait(ctx) != nil {
			<-p.ledger.slots
			return nil
		}
		id := fmt.Sprintf("c%d-%d", p.index, n)
		payload := fmt.Sprintf(`{"id":%q,"n":%d,"level":%d}`, id, n, n%100)
		// The token is not waited for: the ledger sees the PUBACK.
		tok := p.client.Publish(loadTopic(p.index, n%devicesPerClient), 1, false, payload)
		if !p.ledger.known(id) {
			// Refused before it was stored (paho closed): nothing went out.
			<-p.ledger.slots
			tok.Wait()
			return fmt.Errorf("publish %s: %v", id, tok.Error())
		}
	}
}

func (p *publisher) disconnect() { p.client.Disconnect(250) }

// watcher is the lamp's side: it subscribes to the lamp's commands on
// every connection and remembers the cycle number of each it receives. It
// also publishes the triggers.
type watcher struct {
	client mqtt.Client
	online *online

	mu      sync.Mutex
	seen    map[int]bool
	changed chan struct{} // closed when seen grows, then replaced
}

func newWatcher(to *address) *watcher {
	w := &watcher{online: newOnline(), seen: map[int]bool{}, changed: make(chan struct{})}
	opts := clientOptions(to, "crash-watcher", w.online).
		SetCleanSession(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			// On every connection, restarts included. paho runs the
			// handler on a goroutine of its own, so it may wait.
			tok := c.Subscribe(lampTopic, 1, w.receive)
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				w.online.set(true)
			}
		})
	w.client = mqtt.NewClient(opts)
	return w
}

func (w *watcher) receive(_ mqtt.Client, m mqtt.Message) {
	var cmd struct {
		Cycle json.Number `json:"cycle"`
	}
	if json.Unmarshal(m.Payload(), &cmd) != nil {
		return
	}
	n, err := cmd.Cycle.Int64()
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen[int(n)] {
		w.seen[int(n)] = true
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

func (w *watcher) connect(ctx context.Context) error {
	tok := w.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("connect watcher: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("connect watcher: %w", ctx.Err())
	}
	return w.online.wait(ctx)
}

// trigger starts the automation's delay for cycle.
func (w *watcher) trigger(ctx context.Context, cycle int) error {
	if err := w.online.wait(ctx); err != nil {
		return fmt.Errorf("trigger cycle %d: watcher offline: %w", cycle, err)
	}
	tok := w.client.Publish(triggerTopic, 1, false, fmt.Sprintf(`{"cycle":%d,"tag":%q}`, cycle, cycleTag(cycle)))
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("trigger cycle %d: %w", cycle, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("trigger cycle %d: %w", cycle, ctx.Err())
	}
}

// waitCycle waits for the lamp's command of cycle.
func (w *watcher) waitCycle(ctx context.Context, cycle int) error {
	for {
		w.mu.Lock()
		seen, changed := w.seen[cycle], w.changed
		w.mu.Unlock()
		if seen {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *watcher) disconnect() { w.client.Disconnect(250) }
