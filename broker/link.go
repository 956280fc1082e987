package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Protocol levels paho can speak. paho.mqtt.golang speaks MQTT 3.1.1 only;
// 0x84 is 3.1.1 with the bridge bit that Mosquitto and EMQX read as "this
// client is a bridge": they do not send a bridge back what it published
// (no local) and keep the retain flag of what they forward to it.
const (
	protocolMQTT311 = 4
	protocolBridge  = 0x84
)

// remoteWriteTimeout bounds one write to the remote broker, and how long
// paho waits to queue a publish or a subscribe.
const remoteWriteTimeout = 5 * time.Second

// link is the hub's MQTT connection to a remote broker, shared by remote mode
// and the bridge. It keeps one persistent session (clean session off, fixed
// client id) so that QoS 1 messages queued by the broker while the hub was
// away arrive when it is back, and acknowledges messages only when told to
// (paho's auto-ack is off: the inbox acks once the log holds the event).
//
// It reconnects itself rather than through paho's auto-reconnect, whose loop
// sleeps where nothing can stop it: every attempt here is cut short when the
// link closes, and its one goroutine is owned by close.
type link struct {
	ep     *endpoint
	log    *slog.Logger
	client paho.Client
	// setup runs after every accepted CONNECT, before the link counts as
	// up; it subscribes. first is true until one setup succeeded.
	setup func(ctx context.Context, first, sessionPresent bool) error

	ctx    context.Context // the link's life; cancelled by close
	cancel context.CancelFunc
	cur    atomic.Pointer[trackedConn] // the connection of the latest attempt
	lost   chan struct{}               // paho reports a lost connection
	done   chan struct{}               // closed when run returns

	mu        sync.Mutex
	up        bool
	downSince time.Time     // when it last went down (or started), while not up
	upCh      chan struct{} // closed while up
	connected bool          // setup succeeded once
	running   bool          // run was started
	closed    bool          // close was called
}

// newLink prepares a link; nothing is dialled until start.
func newLink(ep *endpoint, protocol uint, log *slog.Logger, handler paho.MessageHandler,
	setup func(ctx context.Context, first, sessionPresent bool) error) *link {
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{
		ep: ep, log: log, setup: setup,
		ctx: ctx, cancel: cancel,
		lost:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		upCh:      make(chan struct{}),
		downSince: time.Now(),
	}
	opts := paho.NewClientOptions().
		AddBroker(ep.url).
		SetClientID(ep.ClientID).
		SetUsername(ep.Username).
		SetPassword(ep.password).
		SetProtocolVersion(protocol).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(ep.KeepAlive).
		SetPingTimeout(min(ep.KeepAlive, 10*time.Second)).
		SetConnectTimeout(ep.ConnectTimeout).
		SetWriteTimeout(remoteWriteTimeout).
		SetDefaultPublishHandler(handler).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Debug("connection lost", "error", err)
			select { // paho's goroutine: never block it
			case l.lost <- struct{}{}:
			default:
			}
		}).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			c, err := ep.dial(l.ctx)
			if err != nil {
				return nil, err
			}
			l.cur.Store(c)
			return c, nil
		})
	l.client = paho.NewClient(opts)
	return l
}

// start connects for the first time, retrying with back-off until ctx
// ends; a refusal that retrying cannot mend (bad credentials, an untrusted
// certificate) ends it at once. Once connected, the link reconnects by
// itself until close.
func (l *link) start(ctx context.Context) error {
	stop := context.AfterFunc(ctx, l.cancel)
	defer stop()
	gaveUp := func(err error) error {
		cause := context.Cause(ctx)
		if cause == nil {
			cause = ErrClosed
		}
		return fmt.Errorf("%w (last attempt: %v)", cause, err)
	}
	delay := l.ep.ReconnectMin
	for {
		err := l.connect()
		if err == nil {
			break
		}
		if l.ctx.Err() != nil {
			return gaveUp(err)
		}
		if permanent(err) {
			return err
		}
		l.log.Warn("cannot reach the broker yet; retrying", "error", err, "retry_in", delay)
		if !sleep(l.ctx, delay) {
			return gaveUp(err)
		}
		delay = min(2*delay, l.ep.ReconnectMax)
	}
	if !stop() { // ctx ended just as the connection came up
		return gaveUp(errors.New("connected too late"))
	}
	l.mu.Lock()
	if l.closed { // close ran while this connected: it did not see run to wait for
		l.mu.Unlock()
		l.client.Disconnect(0)
		return gaveUp(errors.New("closed while connecting"))
	}
	l.running = true
	l.mu.Unlock()
	go l.run()
	return nil
}

// connect makes one attempt: CONNECT, then setup. It returns once paho's
// attempt has ended, which close makes quick by cancelling the dial and
// closing a half-open connection.
func (l *link) connect() error {
	select { // a loss reported before this attempt is about an older connection
	case <-l.lost:
	default:
	}
	abort := context.AfterFunc(l.ctx, func() {
		if c := l.cur.Load(); c != nil {
			c.abort()
		}
	})
	defer abort()

	tok := l.client.Connect()
	<-tok.Done()
	if err := tok.Error(); err != nil {
		return err
	}
	ct, _ := tok.(*paho.ConnectToken)
	l.mu.Lock()
	first := !l.connected
	l.mu.Unlock()
	if err := l.setup(l.ctx, first, ct != nil && ct.SessionPresent()); err != nil {
		if c := l.cur.Load(); c != nil {
			c.abort() // paho notices, cleans up and reports the loss
		}
		return fmt.Errorf("after connecting: %w", err)
	}
	l.mu.Lock()
	l.connected = true
	l.setUpLocked(true)
	l.mu.Unlock()
	return nil
}

// run reconnects after every loss until close.
func (l *link) run() {
	defer close(l.done)
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.lost:
		}
		if l.client.IsConnectionOpen() && l.cur.Load().alive() {
			continue // a late report about a connection already replaced
		}
		l.mu.Lock()
		l.setUpLocked(false)
		l.mu.Unlock()
		l.log.Warn("connection to the broker lost; reconnecting")
		for delay := l.ep.ReconnectMin; ; delay = min(2*delay, l.ep.ReconnectMax) {
			if !sleep(l.ctx, delay) {
				return
			}
			err := l.connect()
			if err == nil {
				l.log.Info("reconnected to the broker")
				break
			}
			if l.ctx.Err() != nil {
				return
			}
			l.log.Warn("reconnect failed", "error", err, "retry_in", min(2*delay, l.ep.ReconnectMax))
		}
	}
}

// setUpLocked records whether the link is up; l.mu is held.
func (l *link) setUpLocked(up bool) {
	if up == l.up {
		return
	}
	l.up = up
	if up {
		close(l.upCh)
	} else {
		l.upCh = make(chan struct{})
		l.downSince = time.Now()
	}
}

// isUp reports whether the link is connected and subscribed.
func (l *link) isUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upLocked()
}

func (l *link) upLocked() bool { return l.up && l.client.IsConnectionOpen() }

// downErr says since when the link has not been up; nil while it is.
func (l *link) downErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.upLocked():
		return nil
	case l.up: // paho lost it a moment ago; run has not heard yet
		return fmt.Errorf("not connected to the broker %s: the connection just dropped", l.ep.url)
	}
	return fmt.Errorf("not connected to the broker %s since %s", l.ep.url, l.downSince.Format(time.DateTime))
}

// waitUp waits until the link is up or ctx ends.
func (l *link) waitUp(ctx context.Context) error {
	for {
		l.mu.Lock()
		up, ch := l.up, l.upCh
		l.mu.Unlock()
		if up {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// current returns the connection messages are arriving on now. paho
// dispatches a connection's messages only after the previous connection's
// dispatcher has stopped and only once this one was dialled, so a message
// handler reading it gets the connection that delivered its message.
func (l *link) current() *trackedConn { return l.cur.Load() }

// close stops reconnecting, waits for run and disconnects. paho flushes
// acknowledgements queued before the DISCONNECT.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	running := l.running
	l.mu.Unlock()
	l.cancel()
	if running {
		<-l.done
	}
	l.client.Disconnect(250)
	l.mu.Lock()
	l.setUpLocked(false)
	l.mu.Unlock()
}

// permanent reports whether a failed connection attempt will fail again
// the same way: the broker refused the hub's credentials, id or protocol,
// or the broker's certificate cannot be trusted.
func permanent(err error) bool {
	for _, refused := range []error{
		packets.ErrorRefusedBadProtocolVersion, packets.ErrorRefusedIDRejected,
		packets.ErrorRefusedBadUsernameOrPassword, packets.ErrorRefusedNotAuthorised,
	} {
		if errors.Is(err, refused) {
			return true
		}
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	// The broker's TLS alert (a client certificate missing or refused)
	// arrives as a "remote error"; with TLS 1.3 on the first read, after
	// the handshake seemed to succeed.
	remoteTLS := errors.As(err, &op) && op.Op == "remote error"
	return remoteTLS || errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid)
}

// refusedProtocol reports whether the broker refused the protocol level.
func refusedProtocol(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadProtocolVersion)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
