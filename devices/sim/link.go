package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The availability payloads of the native convention.
const (
	online  = "online"
	offline = "offline"
)

// link is one simulated device's MQTT connection, made the way Zigbee2MQTT
// behaves: availability online (retained) on connect, a Will of offline.
type link struct {
	id    string
	base  string
	log   *slog.Logger
	login login // the broker login, if any

	client mqtt.Client
	// lost is signalled when the connection drops. The device's own
	// goroutine reconnects rather than paho, whose reconnect loop sleeps
	// where nobody can stop it.
	lost chan struct{}
}

// login is how the devices reach a broker that asks who they are.
type login struct {
	user, password string
	tls            *tls.Config
}

func newLink(id, base string, log *slog.Logger, lg login) *link {
	return &link{id: id, base: base, log: log.With("device", id), login: lg, lost: make(chan struct{}, 1)}
}

// topic returns <base>/<id> followed by sub ("", "/set", "/availability").
func (l *link) topic(sub string) string { return l.base + "/" + l.id + sub }

// connect opens the connection, waiting at most until ctx is done.
func (l *link) connect(ctx context.Context, brokerURL string) error {
	opts := mqtt.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID("sim-"+l.id).
		SetCleanSession(true).
		SetKeepAlive(30*time.Second).
		SetConnectTimeout(5*time.Second).
		SetAutoReconnect(false).
		SetUsername(l.login.user).
		SetPassword(l.login.password).
		SetTLSConfig(l.login.tls).
		SetWill(l.topic("/availability"), offline, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			l.log.Warn("connection lost", "error", err)
			select { // paho's goroutine: never block it
			case l.lost <- struct{}{}:
			default:
			}
		})
	l.client = mqtt.NewClient(opts)
	if err := wait(ctx, l.client.Connect()); err != nil {
		return fmt.Errorf("connect %s to %s: %w", l.id, brokerURL, err)
	}
	return nil
}

// reconnect connects again after a loss, waiting one second, then longer up
// to ten, between attempts, until it is connected and set up or ctx is done.
func (l *link) reconnect(ctx context.Context, setup func(context.Context) error) {
	delay := time.Second
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := wait(ctx, l.client.Connect()); err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = min(2*delay, 10*time.Second)
			l.log.Debug("reconnect failed", "error", err, "retry in", delay)
			continue
		}
		if err := setup(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("announce after reconnect", "error", err)
		}
		l.log.Info("reconnected")
		return
	}
}

// publish sends a QoS 1 message and waits for the broker's acknowledgement.
func (l *link) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if err := wait(ctx, l.client.Publish(topic, 1, retain, payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// publishState publishes the device's state as a JSON object on <base>/<id>.
func (l *link) publishState(ctx context.Context, state map[string]any, retain bool) error {
	b, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", l.id, err)
	}
	return l.publish(ctx, l.topic(""), b, retain)
}

// announce publishes availability online, retained.
func (l *link) announce(ctx context.Context) error {
	return l.publish(ctx, l.topic("/availability"), []byte(online), true)
}

// close says offline (a clean disconnect discards the Will, and a device
// switched off on purpose is still offline) and disconnects.
func (l *link) close() {
	if l.client == nil {
		return
	}
	if l.client.IsConnectionOpen() {
		t := l.client.Publish(l.topic("/availability"), 1, true, []byte(offline))
		t.WaitTimeout(time.Second)
	}
	l.client.Disconnect(250)
}

// wait waits for a paho token or for ctx.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
