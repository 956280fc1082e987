package web

import (
	"encoding/json"
	"fmt"
	"testing"

	"hearth"
)

// notify publishes a notification event as the notifier logs it, with
// the outcome of its first channel after it, and returns its event.
func (s *stack) notify(t testing.TB, n hearth.Notification) hearth.Event {
	t.Helper()
	b, _ := json.Marshal(n)
	e, err := s.bus.Publish(hearth.Event{Kind: hearth.KindNotification, Topic: notifyTopic, Payload: b, Cause: hearth.Cause{Run: n.Run}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(hearth.NotificationOutcome{Channel: n.Channels[0], Outcome: hearth.OutcomeDelivered, Attempt: 1})
	if _, err := s.bus.Publish(hearth.Event{Kind: hearth.KindNotification, Topic: notifyTopic + "/" + n.Channels[0], Payload: out, Cause: hearth.Cause{Seq: e.Seq}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// notificationsOut is the answer of GET /api/notifications as read.
type notificationsOut struct {
	Channels      []string
	Notifications []struct {
		Seq                                       uint64
		Title, Message, Automation, Run, Priority string
		Channels                                  []string
	}
	More bool
}

func TestNotificationsAPI(t *testing.T) {
	s := newStack(t, stackOptions{pageChannels: []string{"page", "wall"}})
	var page []uint64 // the seqs of those the page shows, oldest first
	for i := range 5 {
		e := s.notify(t, hearth.Notification{Title: "Alarm", Message: fmt.Sprintf("went off %d", i), Priority: hearth.PriorityUrgent,
			Channels: []string{"page", "phone"}, Automation: "alarm_goes_off", Run: fmt.Sprintf("alarm_goes_off#%d", i+1)})
		page = append(page, e.Seq)
		s.notify(t, hearth.Notification{Message: "only for the phone", Priority: hearth.PriorityNormal, Channels: []string{"phone"}})
	}
	wall := s.notify(t, hearth.Notification{Message: "on the hall's screen", Priority: hearth.PriorityLow, Channels: []string{"wall"}})
	page = append(page, wall.Seq)
	s.durable(t)
	api := s.http.URL + "/api/notifications"

	t.Run("the page's notifications come newest first, with what the page shows", func(t *testing.T) {
		var out notificationsOut
		if code := get(t, api, &out); code != 200 || len(out.Notifications) != 6 || out.More {
			t.Fatalf("%d %+v", code, out)
		}
		if fmt.Sprint(out.Channels) != "[page wall]" {
			t.Fatalf("channels %v", out.Channels)
		}
		for i, n := range out.Notifications {
			if n.Seq != page[len(page)-1-i] {
				t.Fatalf("notification %d is %d, want %d", i, n.Seq, page[len(page)-1-i])
			}
		}
		n := out.Notifications[1]
		if n.Title != "Alarm" || n.Message != "went off 4" || n.Priority != "urgent" || n.Automation != "alarm_goes_off" || n.Run != "alarm_goes_off#5" {
			t.Fatalf("%+v", n)
		}
		if out.Notifications[0].Priority != "low" || out.Notifications[0].Message != "on the hall's screen" {
			t.Fatalf("%+v", out.Notifications[0])
		}
	})

	t.Run("limit and before page back through them", func(t *testing.T) {
		var first, next notificationsOut
		if code := get(t, api+"?limit=4", &first); code != 200 || len(first.Notifications) != 4 || !first.More {
			t.Fatalf("%d %+v", code, first)
		}
		last := first.Notifications[3].Seq
		if code := get(t, fmt.Sprintf("%s?limit=4&before=%d", api, last), &next); code != 200 || len(next.Notifications) != 2 || next.More || next.Notifications[0].Seq != page[1] {
			t.Fatalf("%d %+v", code, next)
		}
	})

	t.Run("one just sent is listed at once, though the log commits it a moment later", func(t *testing.T) {
		e := s.notify(t, hearth.Notification{Title: "Just now", Message: "hello", Priority: hearth.PriorityNormal, Channels: []string{"page"}})
		var out notificationsOut
		if code := get(t, api+"?limit=1", &out); code != 200 || len(out.Notifications) != 1 || out.Notifications[0].Seq != e.Seq {
			t.Fatalf("%d %+v, want %d", code, out, e.Seq)
		}
	})

	for _, q := range []string{"limit=0", "limit=x", "before=0", "before=-1"} {
		t.Run("a bad "+q+" is a 400", func(t *testing.T) {
			var out errorBody
			if code := get(t, api+"?"+q, &out); code != 400 || out.Error == "" {
				t.Fatalf("%d %+v", code, out)
			}
		})
	}
}

func TestNotificationsAPIDefaultsToThePageChannel(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.notify(t, hearth.Notification{Message: "hello", Priority: hearth.PriorityNormal, Channels: []string{"page"}})
	s.notify(t, hearth.Notification{Message: "elsewhere", Priority: hearth.PriorityNormal, Channels: []string{"wall"}})
	s.durable(t)
	var out notificationsOut
	if code := get(t, s.http.URL+"/api/notifications", &out); code != 200 || len(out.Notifications) != 1 || out.Notifications[0].Message != "hello" || fmt.Sprint(out.Channels) != "[page]" {
		t.Fatalf("%d %+v", code, out)
	}
}
