package main

import (
	"testing"
	"time"
)

// message is a command as a light receives it.
type message struct{ topic, payload string }

func (m message) Duplicate() bool   { return false }
func (m message) Qos() byte         { return 0 }
func (m message) Retained() bool    { return false }
func (m message) Topic() string     { return m.topic }
func (m message) MessageID() uint16 { return 0 }
func (m message) Payload() []byte   { return []byte(m.payload) }
func (m message) Ack()              {}

// matcher is a load with one pair and no connections: the test plays both
// the sensor (queueing sent events) and the light (delivering commands).
func matcher() (*load, *pair) {
	p := &pair{idx: 0, sensorTopic: sensorTopic(0), commandTopic: lightTopic(0)}
	l := &load{pairs: []*pair{p}, byTopic: map[string]*pair{p.commandTopic: p}}
	return l, p
}

// sendEvent queues the next event of p as publish does, without a broker.
func sendEvent(l *load, p *pair) {
	p.mu.Lock()
	p.on = !p.on
	p.pending = append(p.pending, sent{at: time.Now(), on: p.on, record: true, gen: l.gen.Load()})
	p.mu.Unlock()
}

func TestCommandsPairWithTheirEvents(t *testing.T) {
	on := message{lightTopic(0), `{"brightness":200,"state":"ON"}`}
	off := message{lightTopic(0), `{"state":"OFF"}`}
	tests := []struct {
		name       string
		events     int
		commands   []message
		received   int64
		unexpected int64
	}{
		{name: "every event answered in order is received", events: 4, commands: []message{on, off, on, off}, received: 4},
		{name: "a lost ON is skipped by the OFF after it", events: 4, commands: []message{off, on, off}, received: 3},
		{name: "a command nobody asked for is unexpected", events: 1, commands: []message{on, off}, received: 1, unexpected: 1},
		{name: "a command on an unknown topic is unexpected", events: 1, commands: []message{{"home/light_9/set", `{"state":"ON"}`}}, unexpected: 1},
		{name: "mosquitto-echo's own payloads pair too", events: 2, commands: []message{{lightTopic(0), `{"occupancy":true}`}, {lightTopic(0), `{"occupancy":false}`}}, received: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, p := matcher()
			l.reset(16)
			for i := 0; i < tt.events; i++ {
				sendEvent(l, p)
			}
			for _, c := range tt.commands {
				l.onCommand(nil, c)
			}
			if got := l.received.Load(); got != tt.received {
				t.Errorf("received %d, want %d", got, tt.received)
			}
			if got := l.unexpected.Load(); got != tt.unexpected {
				t.Errorf("unexpected %d, want %d", got, tt.unexpected)
			}
		})
	}
}

func TestALostEventDoesNotSpoilTheNextRun(t *testing.T) {
	on := message{lightTopic(0), `{"state":"ON"}`}
	off := message{lightTopic(0), `{"state":"OFF"}`}
	l, p := matcher()

	// A first run sends ON and OFF; the ON's command is lost, the OFF's
	// comes: one lost.
	l.reset(16)
	sendEvent(l, p)
	sendEvent(l, p)
	l.onCommand(nil, off)
	if got := l.received.Load(); got != 1 {
		t.Fatalf("first run received %d, want 1", got)
	}

	// Between runs the target is quiet and the queues are emptied; the next
	// run's ON must pair with its own event, not the lost one.
	l.clearPending()
	l.reset(16)
	sendEvent(l, p)
	before := time.Now()
	l.onCommand(nil, on)
	lat, _ := l.results(t.Context())
	if len(lat) != 1 {
		t.Fatalf("second run recorded %d latencies, want 1", len(lat))
	}
	if lat[0] > time.Since(before)+time.Millisecond {
		t.Errorf("latency %v is older than the run's own event", lat[0])
	}
}

func TestStragglersOfAnEarlierRunAreNotRecorded(t *testing.T) {
	on := message{lightTopic(0), `{"state":"ON"}`}
	l, p := matcher()
	l.reset(16)
	sendEvent(l, p) // its command is late
	l.reset(16)     // the next run starts
	l.onCommand(nil, on)
	if got := l.received.Load(); got != 0 {
		t.Errorf("the next run recorded %d commands, want 0: the straggler belongs to the run before", got)
	}
}
