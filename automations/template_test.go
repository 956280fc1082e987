package automations

import (
	"testing"
	"time"
)

func TestATemplateWritesDurationsAndTimesAsPeopleReadThem(t *testing.T) {
	l := liveStart(t, `
- id: door
  triggers: [{device: door, when: "contact == false", for: 3m10s}]
  actions:
    - publish: notify
      payload: "open for {{ since(trigger.device) }} at {{ now }}; alarm {{ at('07:30') }}, then {{ now + duration('30h') }}"
`, func(o *Options) { o.Location = time.FixedZone("CET", 3600) })
	l.state("door", `{"contact":false}`)
	l.advance(time.Hour)
	want(t, "commands", l.commands(), []string{
		"20:03:10 notify open for 3m 10s at 21:03:10; alarm 07:30:00, then 2025-11-27 03:03:10 door#1",
	})
}

func TestADurationIsWrittenInWholeSecondsAndAtMostTwoUnits(t *testing.T) {
	for d, text := range map[time.Duration]string{
		0:                                  "0s",
		400 * time.Millisecond:             "0s",
		24889638327 * time.Nanosecond:      "25s",
		3*time.Minute + 10*time.Second:     "3m 10s",
		3 * time.Minute:                    "3m",
		2*time.Hour + 5*time.Minute + 59e9: "2h 5m",
		2*time.Hour + 30*time.Second:       "2h",
		50*time.Hour + 10*time.Minute:      "2d 2h",
		-90 * time.Second:                  "-1m 30s",
		neverChanged:                       "106751d 23h",
	} {
		if got := durationText(d); got != text {
			t.Errorf("durationText(%v) = %q, want %q", d, got, text)
		}
	}
}
