package devices

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"hearth"
)

// Clock is where the hub's own devices read the time and arm their delays
// (the alarm's exit and entry delays); tests replace it with a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call armed with Clock.AfterFunc.
type Timer interface {
	// Stop cancels the call; it reports false if the call already ran or was stopped.
	Stop() bool
}

// SystemClock returns the Clock of the machine.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// HubOptions are what the hub's own devices (House, Alarm) need.
type HubOptions struct {
	// Registry is the device read model: the devices are registered in
	// it, and their state is restored from it.
	Registry *Registry
	// Commander publishes their state (retained, on <base>/<id>) and logs
	// it; the broker's.
	Commander hearth.Commander
	// Clock arms the alarm's delays; SystemClock when nil.
	Clock Clock
	// Logger logs what happened; none when nil.
	Logger *slog.Logger
	// Names give the names people gave devices on the page, which the
	// alarm's state says beside a sensor's id; nil for the registry's
	// (the devices file's, discovery's).
	Names DeviceNames
}

// DeviceNames tell what people call devices.
type DeviceNames interface {
	// DeviceName returns device id's name as the page shows it, "" when
	// it has none.
	DeviceName(id string) string
}

func (o HubOptions) check(what string) error {
	if o.Registry == nil || o.Commander == nil {
		return errors.New(what + ": a registry and a commander are needed")
	}
	return nil
}

func (o HubOptions) clock() Clock {
	if o.Clock == nil {
		return SystemClock()
	}
	return o.Clock
}

func (o HubOptions) logger(component string) *slog.Logger {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With("component", component)
}

// outboxMax bounds the state publications waiting to be sent. Each one is
// the device's whole state, so when the broker cannot take them (an
// external broker unreachable) dropping the oldest loses no information
// the newest does not carry, though the log then misses a step.
const outboxMax = 256

// publishRetry is how long the publisher waits before trying again a
// publication the broker refused before logging it.
const publishRetry = time.Second

// outbox hands state publications from the bus consumer (which must never
// wait on the bus it drains: a publish there could wait for the consumer
// itself when the ring is full) to a publisher goroutine, in order.
type outbox struct {
	cmd  hearth.Commander
	log  *slog.Logger
	mu   sync.Mutex
	q    []hearth.Command
	wake chan struct{}

	// Of the flushing goroutine alone: since when a publication has been
	// refused (the broker not reachable yet), and whether that was said.
	stuck  time.Time
	warned bool
}

// stuckWarn is how long publications may wait for the broker before it is
// said as a warning: a hub riding on an external broker starts its own
// devices a moment before it is connected, which is nothing to warn of.
const stuckWarn = 30 * time.Second

func newOutbox(cmd hearth.Commander, log *slog.Logger) *outbox {
	return &outbox{cmd: cmd, log: log, wake: make(chan struct{}, 1)}
}

// push queues c and wakes the publisher; it never waits.
func (o *outbox) push(c hearth.Command) {
	o.mu.Lock()
	if len(o.q) >= outboxMax {
		o.log.Warn("state publications are not getting out; the oldest is dropped", "topic", o.q[0].Topic, "queued", len(o.q))
		o.q = o.q[1:]
	}
	o.q = append(o.q, c)
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// flush publishes what is queued, in order. It stops at a publication the
// broker refused before logging it (not connected) and reports false so
// that it is tried again; one that failed after it was logged is not sent
// again (the next state carries everything).
func (o *outbox) flush(ctx context.Context) bool {
	for ctx.Err() == nil {
		o.mu.Lock()
		if len(o.q) == 0 {
			o.mu.Unlock()
			return true
		}
		c := o.q[0]
		o.q = o.q[1:]
		o.mu.Unlock()
		ev, err := o.cmd.Command(ctx, c)
		switch {
		case err == nil:
			if o.warned {
				o.log.Info("state published again", "topic", c.Topic, "stuck_since", o.stuck.Format(time.DateTime))
			}
			o.stuck, o.warned = time.Time{}, false
		case ev.Seq == 0 && ctx.Err() == nil && !errors.Is(err, hearth.ErrClosed):
			if o.stuck.IsZero() {
				o.stuck = time.Now()
			}
			if !o.warned && time.Since(o.stuck) >= stuckWarn {
				o.warned = true
				o.log.Warn("state not published for a while; still trying", "topic", c.Topic, "since", o.stuck.Format(time.DateTime), "err", err)
			} else {
				o.log.Debug("state not published; trying again", "topic", c.Topic, "err", err)
			}
			o.mu.Lock()
			o.q = append([]hearth.Command{c}, o.q...)
			o.mu.Unlock()
			return false
		default:
			o.log.Warn("state not published", "topic", c.Topic, "seq", ev.Seq, "err", err)
		}
	}
	return true
}

// loop runs step each time the outbox is woken, until ctx is done; when
// step reports false it runs again after publishRetry.
func (o *outbox) loop(ctx context.Context, step func(context.Context) bool) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-retry:
		}
		retry = nil
		if !step(ctx) {
			retry = time.After(publishRetry)
		}
	}
}

// changedBy names who sent a command to a hub device, for its state and
// the log: an automation run, the page, an MQTT client.
func changedBy(e hearth.Event) string {
	switch {
	case e.Kind == hearth.KindMessage && e.Client != "":
		return "mqtt client " + e.Client
	case e.Kind == hearth.KindMessage:
		return "mqtt"
	case e.Cause.Run != "":
		return "automation " + e.Cause.Run
	case e.Cause.Source != "":
		return e.Cause.Source
	}
	return "hub"
}

// readLoop feeds handle the events of sub until the bus is closed or ctx
// is done (both nil), as the other consumers of the bus do.
func readLoop(ctx context.Context, sub *hearth.Subscription, log *slog.Logger, handle func(hearth.Event)) error {
	buf := make([]hearth.Event, 256)
	for {
		evs, err := sub.Read(ctx, buf)
		for _, e := range evs {
			handle(e)
		}
		switch {
		case err == nil:
		case errors.Is(err, hearth.ErrClosed), ctx.Err() != nil:
			return nil
		case errors.Is(err, hearth.ErrGap):
			log.Warn("events were skipped: subscribe with hearth.MustNotMiss", "subscription", sub.Name())
		default:
			return err
		}
	}
}
