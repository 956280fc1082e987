package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// errSkip is returned by a deliver function for a message that is to be
// acknowledged without being logged (it matches no rule).
var errSkip = errors.New("not for the hub")

// inbox takes the messages a remote broker sends the hub and keeps the
// embedded broker's promise for them: a QoS 1 message is acknowledged only
// once the log holds its event.
//
// paho calls handle on its dispatcher goroutine, one message at a time in
// the order they arrived. handle logs the message (deliver publishes it on
// the bus) and queues its acknowledgement; the acker goroutine waits until
// the event is durable and then acks, in arrival order (MQTT 4.6). Many
// messages share one group commit, as they do in the embedded broker.
//
// Redelivery. The session is persistent, so a message the broker sent but
// never saw acknowledged is sent again, with DUP set and the same packet id,
// on the next connection. The inbox remembers every message it logged until
// its PUBACK is written on a live connection; a redelivered copy of such a
// message is not logged again, and it is acknowledged once the first copy's
// event is durable. So a connection dropped, or a broker restarted, while
// messages wait for the log adds nothing to the log and replays nothing into
// the device state.
//
// The one at-least-once edge left: a PUBACK written on a connection that
// looks alive but dies before the broker reads it (or a hub that stops
// between logging and acknowledging). The broker then redelivers a message
// the log already holds, and the hub, which no longer remembers it (or is a
// new process), logs it twice. Folding it again gives the device the same
// state: the duplicate is a message the log took and the broker never heard
// about, never a lost one.
type inbox struct {
	log     *slog.Logger
	events  Events
	deliver func(m paho.Message) (uint64, error) // logs a message; returns its event's seq
	conn    func() *trackedConn                  // the connection messages arrive on now
	echoes  *echoes                              // nil when the broker sends no echoes

	redelivered atomic.Uint64 // copies recognised and not logged again

	ctx    context.Context // the acker's; cancelled when it must stop waiting
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu      sync.Mutex
	queue   []ackItem
	unacked map[uint16]*pending // by packet id: logged, not yet acked on a live connection
	closing bool                // no more messages are taken
	stopped bool                // the acker has stopped
	started bool
}

// pending is a QoS 1 message the hub logged and has not acknowledged on a
// live connection.
type pending struct {
	topic   string
	payload []byte
	seq     uint64
}

type ackItem struct {
	msg  paho.Message
	conn *trackedConn
	seq  uint64
	id   uint16
	p    *pending
}

func newInbox(log *slog.Logger, events Events, deliver func(paho.Message) (uint64, error), echoes *echoes) *inbox {
	ctx, cancel := context.WithCancel(context.Background())
	return &inbox{
		log: log, events: events, deliver: deliver, echoes: echoes,
		ctx: ctx, cancel: cancel,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		unacked: make(map[uint16]*pending),
	}
}

// start runs the acker.
func (in *inbox) start() {
	in.mu.Lock()
	in.started = true
	in.mu.Unlock()
	go in.run()
}

// handle is paho's message handler. A message that cannot be logged (the bus
// is closed) or that arrives while the inbox closes is left unacknowledged:
// the broker delivers it again to the hub's next session.
func (in *inbox) handle(_ paho.Client, m paho.Message) {
	conn := in.conn()
	in.mu.Lock()
	refuse := in.closing || in.stopped
	in.mu.Unlock()
	if refuse {
		return
	}
	topic, payload, qos := m.Topic(), m.Payload(), m.Qos()

	if qos > 0 && m.Duplicate() {
		in.mu.Lock()
		p := in.unacked[m.MessageID()]
		again := p != nil && p.topic == topic && bytes.Equal(p.payload, payload)
		if again {
			in.enqueueLocked(ackItem{msg: m, conn: conn, seq: p.seq, id: m.MessageID(), p: p})
		}
		in.mu.Unlock()
		if again {
			in.redelivered.Add(1)
			in.log.Debug("redelivered message already logged", "topic", topic, "seq", p.seq)
			return
		}
	}

	seq, echoed := in.echoes.take(topic, payload)
	if !echoed {
		var err error
		seq, err = in.deliver(m)
		switch {
		case errors.Is(err, errSkip):
			seq = 0
		case err != nil:
			in.log.Warn("message not logged; left unacknowledged", "topic", topic, "error", err)
			return
		}
	}
	if qos == 0 {
		return
	}
	p := &pending{topic: topic, payload: payload, seq: seq}
	in.mu.Lock()
	in.unacked[m.MessageID()] = p
	in.enqueueLocked(ackItem{msg: m, conn: conn, seq: seq, id: m.MessageID(), p: p})
	in.mu.Unlock()
}

func (in *inbox) enqueueLocked(it ackItem) {
	if in.stopped {
		return
	}
	in.queue = append(in.queue, it)
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// newSession forgets what waited for acknowledgement: the broker started a
// new session and will redeliver none of it.
func (in *inbox) newSession() {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.unacked)
}

// run acknowledges queued messages in order, each once its event is durable.
func (in *inbox) run() {
	defer close(in.done)
	for {
		it, ok := in.next()
		if !ok {
			return
		}
		err := in.events.WaitDurable(in.ctx, it.seq)
		if err != nil && in.ctx.Err() == nil && in.events.DurableErr() != nil {
			// The disk refuses the log for now. The broker keeps what is not
			// acknowledged, and holds back more once its window of messages
			// in flight is full: wait for the disk, however long it takes.
			in.log.Warn("the log cannot be written: messages from the broker stay unacknowledged until it can", "error", err)
			if err = in.events.AwaitDurable(in.ctx, it.seq); err == nil {
				in.log.Info("the log is written again: acknowledging the messages that waited")
			}
		}
		if err != nil {
			if in.ctx.Err() == nil {
				in.log.Error("the log failed; messages stay unacknowledged and the broker will send them again", "error", err)
			}
			in.mu.Lock()
			in.stopped = true
			in.queue = nil
			in.mu.Unlock()
			return
		}
		if !it.conn.alive() {
			// paho drops an ack for a connection that is gone; the broker
			// redelivers the message, and the pending entry recognises it.
			continue
		}
		it.msg.Ack()
		in.mu.Lock()
		if in.unacked[it.id] == it.p {
			delete(in.unacked, it.id)
		}
		in.mu.Unlock()
	}
}

// next returns the next message to acknowledge; false once closing with
// nothing left, or when the acker must stop.
func (in *inbox) next() (ackItem, bool) {
	for {
		in.mu.Lock()
		if len(in.queue) > 0 {
			it := in.queue[0]
			in.queue[0] = ackItem{}
			in.queue = in.queue[1:]
			in.mu.Unlock()
			return it, true
		}
		closing := in.closing
		in.mu.Unlock()
		if closing {
			return ackItem{}, false
		}
		select {
		case <-in.wake:
		case <-in.ctx.Done():
			return ackItem{}, false
		}
	}
}

// close stops taking messages, acknowledges what the log makes durable
// within drain, and stops the acker. Messages still waiting are left
// unacknowledged: the broker sends them again to the next session.
func (in *inbox) close(drain time.Duration) {
	in.mu.Lock()
	in.closing = true
	started := in.started
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
	if started {
		t := time.AfterFunc(drain, in.cancel)
		<-in.done
		t.Stop()
	}
	in.cancel()
}
