// Package notify sends notifications to people through channels: the hub's
// page, webhooks and email.
//
// Every notification is an event in the log (hearth.KindNotification, topic
// $hearth/notify, caused by the automation run that sent it), and so is
// every outcome of its delivery through each channel (topic
// $hearth/notify/<channel>, cause.seq the notification's): delivered,
// retrying or failed and why. Channels deliver in goroutines of their own,
// one per channel with a bounded queue, so a channel that is down never
// holds the automation that notified, nor the other channels.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"hearth"
)

// Publisher logs events: the *hearth.Bus.
type Publisher interface {
	Publish(e hearth.Event) (hearth.Event, error)
}

// Options configure a Notifier.
type Options struct {
	// Channels are the configured channels; a page channel named "page" is
	// added when none is named so.
	Channels []ChannelConfig
	// Events receives the notifications and their outcomes (the bus).
	// Without it Notify fails; Test still works.
	Events Publisher
	// Now reads the time (a mail's Date, a retry's time); time.Now when nil.
	Now func() time.Time
	// Sleep waits between tries, returning early with ctx's error; a
	// timer on the machine's clock when nil. Tests make it return at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient posts to webhooks (those without a ca_file of their own);
	// a client of its own when nil.
	HTTPClient *http.Client
	// Logger receives the notifier's logs; nothing is logged when nil.
	Logger *slog.Logger
}

// sender delivers a notification once through one channel.
type sender interface {
	send(ctx context.Context, m message) error
	close()
}

// message is a notification with its event's number and time.
type message struct {
	hearth.Notification
	Seq  uint64
	Time time.Time
}

// channel is one configured channel and its queue.
type channel struct {
	cfg   ChannelConfig
	send  sender // nil for the page
	queue chan message
}

// Notifier sends notifications through the configured channels. Notify
// logs a notification and hands it to its channels' queues; a goroutine per
// channel delivers, with retries; Close stops them.
type Notifier struct {
	log      *slog.Logger
	events   Publisher
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	channels map[string]*channel
	names    []string // in config order, the page first when added
	defaults []string

	ctx    context.Context // cancelled by Close: ends tries and back-offs
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed against sends on the queues
	closed bool
	wg     sync.WaitGroup
}

// New checks the channels, reads their secret files and starts a goroutine
// per channel that sends (webhook, email). Every mistake in the channels is
// returned at once, named by its channel. Close stops the goroutines.
func New(o Options) (*Notifier, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	n := &Notifier{log: o.Logger.With("component", "notify"), events: o.Events, now: o.Now, sleep: o.Sleep, channels: map[string]*channel{}}
	cfgs := o.Channels
	if !slices.ContainsFunc(cfgs, func(c ChannelConfig) bool { return c.Name == PageChannel }) {
		cfgs = append([]ChannelConfig{{Name: PageChannel, Page: &PageConfig{}, Default: true}}, cfgs...)
	}
	var errs []error
	for _, c := range cfgs {
		c, err := c.withDefaults()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := n.channels[c.Name]; dup {
			errs = append(errs, fmt.Errorf("channel %s: the name is used twice", c.Name))
			continue
		}
		ch := &channel{cfg: c}
		switch {
		case c.Webhook != nil:
			ch.send, err = newWebhook(c, o.HTTPClient)
		case c.Email != nil:
			ch.send, err = newEmail(c, o.Now)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", c.Name, err))
			continue
		}
		n.channels[c.Name] = ch
		n.names = append(n.names, c.Name)
		if c.Default {
			n.defaults = append(n.defaults, c.Name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, ch := range n.channels {
			if ch.send != nil {
				ch.send.close()
			}
		}
		return nil, fmt.Errorf("notify: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, name := range n.names {
		ch := n.channels[name]
		if ch.send == nil {
			continue
		}
		ch.queue = make(chan message, ch.cfg.Queue)
		n.wg.Add(1)
		go n.work(ch)
	}
	return n, nil
}

// Channels returns the names of the channels, for automations to check
// theirs against when they load.
func (n *Notifier) Channels() []string { return slices.Clone(n.names) }

// Defaults returns the names of the channels a notification naming none
// goes to.
func (n *Notifier) Defaults() []string { return slices.Clone(n.defaults) }

// Notify logs the notification as an event (its Cause the automation run)
// and hands it to its channels; it returns the event without waiting for
// any delivery. The page channel's outcome is logged at once (the page
// reads the log); the others' follow as they deliver. An unknown channel,
// an empty message or a bad priority is an error and nothing is logged.
func (n *Notifier) Notify(ctx context.Context, in hearth.Notification) (hearth.Event, error) {
	if err := ctx.Err(); err != nil {
		return hearth.Event{}, err
	}
	if n.events == nil {
		return hearth.Event{}, errors.New("notify: no event log to record the notification")
	}
	if strings.TrimSpace(in.Message) == "" && strings.TrimSpace(in.Title) == "" {
		return hearth.Event{}, errors.New("notify: the notification has no title and no message")
	}
	if in.Priority == "" {
		in.Priority = hearth.PriorityNormal
	}
	if !in.Priority.Valid() {
		return hearth.Event{}, fmt.Errorf("notify: priority %q: want low, normal, high or urgent", in.Priority)
	}
	chans := in.Channels
	if len(chans) == 0 {
		chans = n.defaults
	}
	in.Channels = nil
	for _, name := range chans {
		if _, ok := n.channels[name]; !ok {
			return hearth.Event{}, fmt.Errorf("notify: no channel named %q (channels: %s)", name, strings.Join(n.names, ", "))
		}
		if !slices.Contains(in.Channels, name) {
			in.Channels = append(in.Channels, name)
		}
	}
	if in.Channels == nil {
		in.Channels = []string{} // the payload says "no channel" as an empty list
	}
	in.Run = in.Cause.Run
	b, err := json.Marshal(in)
	if err != nil {
		return hearth.Event{}, fmt.Errorf("notify: %w", err)
	}
	if n.isClosed() {
		return hearth.Event{}, ErrClosed
	}
	ev, err := n.events.Publish(hearth.Event{Kind: hearth.KindNotification, Topic: "$hearth/notify", Payload: b, Cause: in.Cause})
	if err != nil {
		return hearth.Event{}, fmt.Errorf("notify: log the notification: %w", err)
	}
	m := message{Notification: in, Seq: ev.Seq, Time: ev.Time}
	for _, name := range in.Channels {
		n.enqueue(n.channels[name], m)
	}
	return ev, nil
}

// enqueue hands m to ch's goroutine; the page has it already.
func (n *Notifier) enqueue(ch *channel, m message) {
	if ch.send == nil {
		n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeDelivered, Attempt: 1})
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.unsent(ch, m)
		return
	}
	select {
	case ch.queue <- m:
		n.mu.Unlock()
	default:
		n.mu.Unlock()
		n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeFailed,
			Error: fmt.Sprintf("%d notifications are already waiting for this channel", cap(ch.queue))})
	}
}

func (n *Notifier) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// work delivers ch's notifications one after another until Close; what
// is still queued then is logged as failed.
func (n *Notifier) work(ch *channel) {
	defer n.wg.Done()
	defer ch.send.close()
	for {
		select {
		case m := <-ch.queue:
			if n.ctx.Err() != nil {
				n.unsent(ch, m)
				continue
			}
			n.deliver(ch, m)
		case <-n.ctx.Done():
			for {
				select {
				case m := <-ch.queue:
					n.unsent(ch, m)
				default:
					return
				}
			}
		}
	}
}

// unsent logs m as failed in ch because the hub stopped first.
func (n *Notifier) unsent(ch *channel, m message) {
	n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeFailed, Error: "the hub stopped before it was sent"})
}

// deliver tries m through ch up to its tries, waiting Backoff, then four
// times longer each time, between them (or what the server asked, up to a
// minute). Each try's outcome is logged.
func (n *Notifier) deliver(ch *channel, m message) {
	wait := ch.cfg.Backoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(n.ctx, ch.cfg.Timeout)
		err := ch.send.send(ctx, m)
		cancel()
		if err == nil {
			n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeDelivered, Attempt: attempt})
			return
		}
		var de *Error
		if !errors.As(err, &de) {
			de = &Error{Stage: StageConnect, Detail: err.Error(), Temporary: true}
		}
		if n.ctx.Err() != nil {
			n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeFailed, Attempt: attempt, Error: "the hub stopped during the try"})
			return
		}
		if !de.Temporary || attempt >= ch.cfg.Tries {
			n.log.Warn("notification not delivered", "channel", ch.cfg.Name, "seq", m.Seq, "attempt", attempt, "err", de.Error())
			n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeFailed, Attempt: attempt, Error: de.Error()})
			return
		}
		d := max(wait, de.RetryAfter)
		n.log.Info("notification not delivered; trying again", "channel", ch.cfg.Name, "seq", m.Seq, "attempt", attempt, "in", d, "err", de.Error())
		n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeRetrying, Attempt: attempt, Error: de.Error(), RetryAt: n.now().Add(d)})
		if err := n.sleep(n.ctx, d); err != nil {
			n.outcome(ch, m, hearth.NotificationOutcome{Outcome: hearth.OutcomeFailed, Attempt: attempt, Error: "the hub stopped before the next try"})
			return
		}
		wait *= 4
	}
}

// outcome logs what became of m in ch, as an event caused by m's.
func (n *Notifier) outcome(ch *channel, m message, o hearth.NotificationOutcome) {
	if n.events == nil {
		return
	}
	o.Channel = ch.cfg.Name
	b, err := json.Marshal(o)
	if err != nil {
		return // a struct of strings, ints and a time always marshals
	}
	if o.Outcome == hearth.OutcomeDelivered {
		n.log.Debug("notification delivered", "channel", ch.cfg.Name, "seq", m.Seq, "attempt", o.Attempt)
	}
	ev := hearth.Event{Kind: hearth.KindNotification, Topic: "$hearth/notify/" + ch.cfg.Name, Payload: b,
		Cause: hearth.Cause{Seq: m.Seq, Run: m.Run, Source: "notify"}}
	if _, err := n.events.Publish(ev); err != nil {
		n.log.Warn("notification outcome not logged", "channel", ch.cfg.Name, "seq", m.Seq, "outcome", o.Outcome, "err", err)
	}
}

// Test sends a test message through a channel once, now, and returns what
// failed (an *Error naming the stage: dns, connect, tls, timeout, auth,
// http, smtp), or nil when the channel took it. Nothing is logged as an
// event. The page channel has nothing to send and always passes.
func (n *Notifier) Test(ctx context.Context, name string) error {
	ch, ok := n.channels[name]
	if !ok {
		return fmt.Errorf("no channel named %q (channels: %s)", name, strings.Join(n.names, ", "))
	}
	if ch.send == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ch.cfg.Timeout)
	defer cancel()
	m := message{Notification: hearth.Notification{
		Title:    "Hearth test",
		Message:  fmt.Sprintf("A test notification from Hearth through the channel %q. If you read this, it works.", name),
		Priority: hearth.PriorityNormal,
		Channels: []string{name},
	}, Time: n.now()}
	return ch.send.send(ctx, m)
}

// Close stops taking notifications, ends the tries and back-offs going on
// (logging them as failed, with what was still queued) and waits for the
// channels' goroutines.
func (n *Notifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// sleep waits d on the machine's clock, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
