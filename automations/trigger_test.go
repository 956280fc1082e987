package automations

import (
	"context"
	"testing"
	"time"
)

func TestAForWindowFiresAfterTheWindowAndNotIfTheStateFlipsBack(t *testing.T) {
	l := liveStart(t, `
- id: door_left_open
  triggers:
    - device: door
      when: contact == false
      for: 5m
  actions:
    - publish: notify
      payload: "door open {{ trigger.device }}"
`, nil)
	l.state("door", `{"contact":true}`)
	l.state("door", `{"contact":false}`) // 20:00 arms the window
	l.advance(4 * time.Minute)
	l.state("door", `{"contact":true}`) // 20:04 flips back: forgotten
	l.advance(10 * time.Minute)
	want(t, "commands after the door closed within the window", l.commands(), nil)

	l.state("door", `{"contact":false}`) // 20:14 arms again
	l.state("door", `{"contact":false,"battery":80}`)
	l.advance(5 * time.Minute) // 20:19 fires
	l.advance(time.Hour)       // holding on does not fire again
	want(t, "commands", l.commands(), []string{"20:19:00 notify door open door door_left_open#1"})
	want(t, "stored timers while the window that fired holds", l.timerIDs(), []string{"door_left_open/for/0"})
	l.state("door", `{"contact":true}`)
	want(t, "stored timers once it stopped holding", l.timerIDs(), nil)
}

func TestAThresholdFiresOnceOnCrossingThroughTheBus(t *testing.T) {
	l := liveStart(t, `
- id: warm
  mode: parallel
  triggers: [{device: thermo, when: "temperature > 25"}]
  actions: [{publish: warm, payload: "{{ trigger.state.temperature }}"}]
`, nil)
	for _, v := range []string{"20", "26", "27", "30", "24", "26.5"} {
		l.state("thermo", `{"temperature":`+v+`}`)
	}
	want(t, "commands", l.commands(), []string{"20:00:00 warm 26 warm#1", "20:00:00 warm 26.5 warm#2"})
}

func TestTimeTriggersFireOnTheClock(t *testing.T) {
	l := liveStart(t, `
- id: morning
  triggers: [{at: "07:30"}]
  actions: [{publish: at, payload: "{{ trigger.kind }} {{ now.Format('15:04') }}"}]
- id: quarterly
  mode: parallel
  triggers: [{cron: "*/15 21 * * *"}]
  actions: [{publish: cron, payload: "{{ now.Format('15:04') }}"}]
- id: dusk
  triggers: [{sun: sunset, offset: "-30m"}]
  actions: [{publish: sun, payload: "{{ now.Format('15:04') }}"}]
`, func(o *Options) { o.Latitude, o.Longitude = 51.4769, 0 })
	l.advance(12 * time.Hour) // 20:00 to 08:00 the next day
	l.advance(10 * time.Hour) // to 18:00: sunset at Greenwich in late November is near 15:55
	got := l.commands()
	wantCmds := []string{
		"21:00:00 cron 21:00 quarterly#1", "21:15:00 cron 21:15 quarterly#2", "21:30:00 cron 21:30 quarterly#3", "21:45:00 cron 21:45 quarterly#4",
		"07:30:00 at at 07:30 morning#1",
	}
	if len(got) != len(wantCmds)+1 {
		t.Fatalf("got %q", got)
	}
	want(t, "cron and at", got[:len(wantCmds)], wantCmds)
	_, set, _ := sunTimes(time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC), 51.4769, 0)
	at := set.Add(-30 * time.Minute)
	if sun := got[len(wantCmds)]; sun != at.Format("15:04:05")+" sun "+at.Format("15:04")+" dusk#1" {
		t.Errorf("sun trigger: %q, want it 30 minutes before sunset (%s)", sun, set.Format("15:04:05"))
	}
}

func TestAStartedTriggerFiresWhenTheEngineResumes(t *testing.T) {
	l := liveStart(t, "- {id: boot, triggers: [{event: started}], actions: [{publish: hello, payload: '{{ trigger.payload }}'}]}\n", nil)
	if err := l.e.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.settle()
	if err := l.e.Resume(context.Background()); err != nil { // a second call does nothing
		t.Fatal(err)
	}
	l.settle()
	want(t, "commands", l.commands(), []string{"20:00:00 hello started boot#1"})
}

func TestAnMQTTTriggerSeesTheCommandsOfOtherAutomations(t *testing.T) {
	l := liveStart(t, `
- id: button
  triggers: [{mqtt: home/+/button, when: 'payload.action == "single"'}]
  actions: [{set: lamp, state: {state: TOGGLE}}]
- id: watch
  triggers: [{mqtt: home/+/set, id: setter}]
  actions: [{publish: audit, payload: "{{ trigger.topic }} by {{ trigger.id }}"}]
`, nil)
	l.message("home/hall/button", `{"action":"single"}`)
	want(t, "commands", l.commands(), []string{
		`20:00:00 home/lamp/set {"state":"TOGGLE"} button#1`,
		"20:00:00 audit home/lamp/set by setter watch#1",
	})
}
