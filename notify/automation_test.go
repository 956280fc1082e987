package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"hearth"
	"hearth/automations"
)

// busCommander logs a command on the bus, as the broker does.
type busCommander struct{ bus *hearth.Bus }

func (b busCommander) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	return b.bus.Publish(hearth.Event{Kind: hearth.KindCommand, Topic: c.Topic, Device: c.Device, Payload: c.Payload, Cause: c.Cause})
}

// startEngine runs automations from src on bus, with n as their notifier,
// until the end of the test.
func startEngine(t *testing.T, bus *hearth.Bus, n *Notifier, src string) {
	t.Helper()
	log, _ := debugLogger()
	e := automations.New(automations.Options{Commander: busCommander{bus}, Events: bus, Notifier: n, Channels: n.Channels(), Logger: log})
	set, err := e.LoadBytes("notify.yaml", []byte(src))
	if err != nil {
		e.Close()
		t.Fatalf("load: %v", err)
	}
	e.Replace(set)
	sub := bus.Subscribe("automations", hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Consume(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
		e.Close()
	})
}

// runTrace returns the trace of the first finished run of automation id.
func runTrace(evs []hearth.Event, id string) (hearth.Trace, bool) {
	for _, ev := range evs {
		if ev.Kind == hearth.KindRun && ev.Topic == "$hearth/automations/"+id {
			var tr hearth.Trace
			if json.Unmarshal(ev.Payload, &tr) == nil {
				return tr, true
			}
		}
	}
	return hearth.Trace{}, false
}

func notificationsOf(evs []hearth.Event) []hearth.Event {
	var out []hearth.Event
	for _, ev := range evs {
		if ev.Kind == hearth.KindNotification && ev.Topic == "$hearth/notify" {
			out = append(out, ev)
		}
	}
	return out
}

func TestTheNotifyActionThroughTheEngine(t *testing.T) {
	t.Run("a notify action reaches a webhook with its title and message rendered", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, nil)
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}, Events: bus})
		startEngine(t, bus, n, `
- id: hot
  triggers: [{device: living, when: temperature > 25}]
  actions:
    - notify:
        title: "Hot in {{ trigger.device }}"
        message: "It is {{ trigger.state.temperature }}°C"
        priority: high
        channels: [phone]
`)
		trig, err := bus.Publish(hearth.Event{Kind: hearth.KindState, Topic: "home/living", Device: "living", Payload: []byte(`{"temperature":27}`)})
		if err != nil {
			t.Fatal(err)
		}
		evs := log.waitFor(t, "the delivery", func(evs []hearth.Event) bool {
			ns := notificationsOf(evs)
			return len(ns) == 1 && final(ns[0].Seq, "phone")(evs)
		})
		note := notificationsOf(evs)[0]
		if note.Cause != (hearth.Cause{Seq: trig.Seq, Run: "hot#1", Source: "automation"}) {
			t.Errorf("the notification's cause %+v", note.Cause)
		}
		if got := outcomeText(outcomesOf(evs, note.Seq, "phone")); got != "delivered/1" {
			t.Errorf("outcomes %s", got)
		}
		reqs := h.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests", len(reqs))
		}
		var body webhookBody
		_ = json.Unmarshal(reqs[0].Body, &body)
		if body.Title != "Hot in living" || body.Message != "It is 27°C" || body.Priority != hearth.PriorityHigh || body.Automation != "hot" || body.Run != "hot#1" || body.Seq != note.Seq {
			t.Errorf("the webhook got %s", reqs[0].Body)
		}
		evs = log.waitFor(t, "the run's trace", func(evs []hearth.Event) bool { _, ok := runTrace(evs, "hot"); return ok })
		tr, _ := runTrace(evs, "hot")
		if !slices.ContainsFunc(tr.Steps, func(s hearth.TraceStep) bool {
			return s.Text == "notify phone: Hot in living: It is 27°C" && s.Result == "sent" && s.Seq == note.Seq
		}) {
			t.Errorf("trace steps %+v", tr.Steps)
		}
	})

	t.Run("a stuck channel holds neither the run's next actions nor the other channels", func(t *testing.T) {
		bus, log := newBus(t)
		release := make(chan struct{})
		stuck := newHook(t, func(int, *http.Request) (int, string) {
			<-release
			return http.StatusOK, ""
		})
		defer close(release)
		phone := newHook(t, nil)
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("stuck", stuck.srv.URL), webhookChannel("phone", phone.srv.URL)}, Events: bus})
		startEngine(t, bus, n, `
- id: door
  triggers: [{mqtt: home/door}]
  actions:
    - notify: {message: "door {{ trigger.payload.contact }}", channels: [stuck, phone]}
    - set: hall_light
      state: {state: "ON"}
    - notify: {message: "light on", channels: [phone]}
`)
		if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/door", Payload: []byte(`{"contact":false}`)}); err != nil {
			t.Fatal(err)
		}
		evs := log.waitFor(t, "the run to end and the phone's deliveries", func(evs []hearth.Event) bool {
			ns := notificationsOf(evs)
			_, ended := runTrace(evs, "door")
			return ended && len(ns) == 2 && final(ns[0].Seq, "phone")(evs) && final(ns[1].Seq, "phone")(evs)
		})
		ns := notificationsOf(evs)
		if len(outcomesOf(evs, ns[0].Seq, "stuck")) != 0 {
			t.Errorf("the stuck channel has an outcome")
		}
		if !slices.ContainsFunc(evs, func(ev hearth.Event) bool { return ev.Kind == hearth.KindCommand && ev.Topic == "home/hall_light/set" }) {
			t.Errorf("the light was not commanded")
		}
		if tr, _ := runTrace(evs, "door"); tr.Outcome != "done" {
			t.Errorf("the run: %+v", tr)
		}
		if got := len(phone.requests()); got != 2 {
			t.Errorf("the phone got %d requests", got)
		}
		release <- struct{}{}
		log.waitFor(t, "the stuck channel's delivery", final(ns[0].Seq, "stuck"))
	})
}
