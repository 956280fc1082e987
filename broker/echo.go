package broker

import (
	"sync"
	"time"
)

// Limits of the echo filter.
const (
	echoWindow = 10 * time.Second // how long a publish waits for its echo
	echoMax    = 10_000           // entries kept; beyond, echoes are logged as messages
)

// echoes recognises the hub's own publishes coming back from a remote
// broker. MQTT 3.1.1 has no "no local" subscription option, so a broker
// sends a subscriber what that same client published: the hub's commands in
// remote mode, and what a bridge forwards out when it also forwards the same
// topics in (unless the broker honours the bridge protocol).
//
// Each publish to a topic the hub also subscribes to is remembered by topic
// and payload for echoWindow; the first message that matches takes the entry
// and is not logged again. When both the hub and another client publish the
// same payload to the same topic, one message is taken as the echo and the
// other is logged: the count stays right. An echo that never comes (a shared
// subscription gave it to another hub) leaves an entry that, within the
// window, takes an identical message from someone else: that message is
// acknowledged but not logged.
type echoes struct {
	now func() time.Time

	mu        sync.Mutex
	m         map[string][]echo
	n         int
	lastSweep time.Time
}

type echo struct {
	seq     uint64 // the event that logged the publish; its echo is acked once that is durable
	expires time.Time
}

func newEchoes(now func() time.Time) *echoes {
	return &echoes{now: now, m: make(map[string][]echo)}
}

func echoKey(topic string, payload []byte) string {
	return topic + "\x00" + string(payload)
}

// add remembers a publish of payload to topic, logged as event seq.
func (e *echoes) add(topic string, payload []byte, seq uint64) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.sweepLocked(now)
	if e.n >= echoMax {
		return
	}
	k := echoKey(topic, payload)
	e.m[k] = append(e.m[k], echo{seq: seq, expires: now.Add(echoWindow)})
	e.n++
}

// take reports whether a message is the echo of a publish, and the
// sequence number that logged the publish.
func (e *echoes) take(topic string, payload []byte) (uint64, bool) {
	if e == nil {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return 0, false
	}
	now := e.now()
	k := echoKey(topic, payload)
	list := e.m[k]
	for len(list) > 0 && !now.Before(list[0].expires) {
		list = list[1:]
		e.n--
	}
	if len(list) == 0 {
		delete(e.m, k)
		return 0, false
	}
	seq := list[0].seq
	if len(list) == 1 {
		delete(e.m, k)
	} else {
		e.m[k] = list[1:]
	}
	e.n--
	return seq, true
}

// forget drops the entry added for event seq: its publish failed, so no
// echo will come.
func (e *echoes) forget(topic string, payload []byte, seq uint64) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := echoKey(topic, payload)
	list := e.m[k]
	for i, x := range list {
		if x.seq == seq {
			list = append(list[:i:i], list[i+1:]...)
			e.n--
			break
		}
	}
	if len(list) == 0 {
		delete(e.m, k)
	} else {
		e.m[k] = list
	}
}

// sweepLocked drops expired entries, at most twice per window.
func (e *echoes) sweepLocked(now time.Time) {
	if e.n == 0 || now.Sub(e.lastSweep) < echoWindow/2 {
		return
	}
	e.lastSweep = now
	for k, list := range e.m {
		i := 0
		for i < len(list) && !now.Before(list[i].expires) {
			i++
		}
		e.n -= i
		if i == len(list) {
			delete(e.m, k)
		} else if i > 0 {
			e.m[k] = list[i:]
		}
	}
}
