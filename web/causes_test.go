package web

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth"
)

// diskTrouble is the bus while the disk refuses the log: nothing becomes
// durable.
type diskTrouble struct{ *hearth.Bus }

func (diskTrouble) WaitDurable(context.Context, uint64) error {
	return errors.New("log: append events: database or disk is full (13)")
}

// chainOf fetches the causes of seq and returns the chain's kinds, vias and seqs.
func chainOf(t *testing.T, s *stack, seq uint64) causesOut {
	t.Helper()
	var body causesOut
	if code := get(t, s.http.URL+"/api/events/"+strconv.FormatUint(seq, 10)+"/causes", &body); code != 200 {
		t.Fatalf("causes of %d: status %d", seq, code)
	}
	return body
}

// describeChain renders a chain as "via:kind:topic" steps.
func describeChain(c causesOut) string {
	var parts []string
	for _, l := range c.Chain {
		parts = append(parts, l.Via+":"+string(l.Event.Kind)+":"+l.Event.Topic)
	}
	return strings.Join(parts, " ← ")
}

func TestCausesAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)

	// Motion is seen: a message, then the sensor's state event.
	motion := s.publish(t, "home/hall_motion", `{"occupancy":true}`)
	motionState := motion.Seq + 1
	// An automation reacts to the state event with a command; the light
	// answers with its new state.
	if _, err := s.cmd.Command(t.Context(), hearth.Command{
		Device: "hall_light", Topic: "home/hall_light/set", Payload: []byte(`{"state":"ON"}`),
		Cause: hearth.Cause{Seq: motionState, Run: "hall_light_on_motion#1", Source: "automation"},
	}); err != nil {
		t.Fatal(err)
	}
	s.durable(t)
	light, _ := s.reg.Device("hall_light")
	lightState := light.Seq + 1 // the state event follows the message that changed it

	t.Run("a light's change walks back to the motion that caused it", func(t *testing.T) {
		c := chainOf(t, s, lightState)
		want := "event:state:home/hall_light ← cause:message:home/hall_light ← inferred:command:home/hall_light/set ← cause:state:home/hall_motion ← cause:message:home/hall_motion"
		if got := describeChain(c); got != want {
			t.Fatalf("chain\n got %s\nwant %s", got, want)
		}
		if c.Chain[2].Event.Cause.Run != "hall_light_on_motion#1" || c.Missing != 0 {
			t.Fatalf("command link %+v", c.Chain[2])
		}
	})
	t.Run("a command from the page is the root of its chain", func(t *testing.T) {
		call(t, "POST", s.http.URL+"/api/devices/kitchen_light/set", `{"state":"OFF"}`, nil)
		s.durable(t)
		d, _ := s.reg.Device("kitchen_light")
		c := chainOf(t, s, d.Seq+1)
		if got := describeChain(c); got != "event:state:home/kitchen_light ← cause:message:home/kitchen_light ← inferred:command:home/kitchen_light/set" {
			t.Fatalf("chain %s", got)
		}
		if src := c.Chain[2].Event.Cause.Source; src != "web" {
			t.Fatalf("root cause source %q", src)
		}
	})
	t.Run("a message long after a command is not blamed on it", func(t *testing.T) {
		s.clock.set(time.Now().Add(time.Minute))
		defer s.clock.set(time.Time{})
		m := s.publish(t, "home/kitchen_light", `{"state":"ON"}`)
		s.durable(t)
		if got := describeChain(chainOf(t, s, m.Seq)); got != "event:message:home/kitchen_light" {
			t.Fatalf("chain %s", got)
		}
	})
	t.Run("a sensor's message has no cause", func(t *testing.T) {
		if got := describeChain(chainOf(t, s, motion.Seq)); got != "event:message:home/hall_motion" {
			t.Fatalf("chain %s", got)
		}
	})
	t.Run("an event the stream delivered is answered before the log has committed it", func(t *testing.T) {
		// A QoS 0 message waits up to a second for its commit; the page asks
		// for the causes of a change the moment the stream shows it.
		m := s.publish(t, "home/hall_light", `{"state":"OFF"}`)
		if s.bus.Durable() >= m.Seq+1 {
			t.Skip("the log committed the change at once: nothing to wait for")
		}
		if got := describeChain(chainOf(t, s, m.Seq+1)); got != "event:state:home/hall_light ← cause:message:home/hall_light" {
			t.Fatalf("chain %s", got)
		}
	})
	t.Run("an event the log cannot take now is a 503 to try again", func(t *testing.T) {
		m := s.publish(t, "home/hall_light", `{"state":"ON"}`)
		h := New(Options{Devices: s.reg, Log: s.store, Stream: diskTrouble{s.bus}, Logger: testLogger(t)})
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		rec := recorder(h.Handler(), "GET", "/api/events/"+strconv.FormatUint(m.Seq+1, 10)+"/causes", "")
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "database or disk is full") {
			t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	})
	for _, c := range []struct {
		name, seq string
		status    int
	}{
		{"an unknown event is a 404", "99999", 404},
		{"seq 0 is a 400", "0", 400},
		{"a seq that is no number is a 400", "abc", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := get(t, s.http.URL+"/api/events/"+c.seq+"/causes", &e); code != c.status || e.Error == "" {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
}
