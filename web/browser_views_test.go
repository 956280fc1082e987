package web

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth"
	"hearth/web/webtest"
)

// cannedWhatIf answers every what-if with a run that sent nothing, near
// misses and the warnings of a likely typo.
type cannedWhatIf struct{}

func (cannedWhatIf) WhatIf(ctx context.Context, yaml []byte, from, until time.Time) (WhatIfAnswer, error) {
	miss := func(seq uint64, occupancy bool) hearth.NearMiss {
		return hearth.NearMiss{Time: until.Add(-time.Minute), Seq: seq, Trigger: "device hall_motion when occupancy == tru",
			Reason: "when", Text: "occupancy == tru", Values: map[string]any{"occupancy": occupancy}}
	}
	return WhatIfAnswer{
		Run: whatIfRun{From: from, To: until, Events: 12, Traces: []any{}, NearMisses: map[string][]hearth.NearMiss{
			"hall_light_on_motion": {miss(12, true), miss(9, false)},
			"porch":                {miss(7, true)},
		}},
		Warnings: []hearth.AutomationProblem{{File: "what-if.yaml", Line: 4, Column: 13, Automation: "hall_light_on_motion",
			Message: `when "occupancy == tru" reads "tru", which hall_motion has not reported: did you mean true?`}},
	}, nil
}

// TestBrowserWhatIfBox tests automations against the log from the
// automations page.
func TestBrowserWhatIfBox(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{automations: newFakeAutomations(), whatIf: cannedWhatIf{}})
	s.house(t)
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(s.http.URL + "/#/automations")
	tab.WaitJS(`!!document.querySelector('.whatif textarea')`)
	webtest.Eval[bool](tab, `(() => {
		document.querySelector('.whatif details').open = true;
		document.querySelector('.whatif textarea').value = '- id: hall_light_on_motion\n  triggers: [{device: hall_motion, when: occupancy == tru}]\n  actions: [{set: hall_light, state: {state: "ON"}}]\n';
		return true; })()`)
	tab.Click(`.whatif button[type=submit]`)
	tab.WaitJS(`!!document.querySelector('.whatif-summary')`)
	webtest.Eval[bool](tab, `(() => { document.querySelector('.whatif-misses').open = true; document.querySelector('.whatif-out').scrollIntoView(); return true; })()`)
	tab.Screenshot("whatif-warnings-desktop")

	misses := webtest.Eval[string](tab, `document.querySelector('.whatif-misses').textContent`)
	if strings.Contains(misses, "[object") {
		t.Errorf("the near misses read %q", misses)
	}
	if n := webtest.Eval[int](tab, `document.querySelectorAll('.whatif-misses ol.misses > li.miss').length`); n != 3 {
		t.Errorf("%d near misses listed, want 3", n)
	}
	heads := webtest.Eval[[]string](tab, `[...document.querySelectorAll('.whatif-misses h4')].map((h) => h.textContent)`)
	if !slices.Equal(heads, []string{"Hall light on motion", "Porch"}) {
		t.Errorf("near misses under %q", heads)
	}
	warn := webtest.Eval[string](tab, `document.querySelector('.whatif-out .notice-warn')?.textContent || ''`)
	if !strings.Contains(warn, "did you mean true?") || !strings.Contains(warn, "what-if.yaml:4:13") {
		t.Errorf("the warnings read %q", warn)
	}
	if status := webtest.Eval[string](tab, `document.querySelector('.whatif .form-status').textContent`); !strings.Contains(status, "1 warning") {
		t.Errorf("the status says %q, and nothing of the warning", status)
	}
	tab.NoErrors()
}

// TestBrowserFocusOnACardName: the keyboard's focus ring on a card's name
// shows whole, though a long name is cut short with an ellipsis.
func TestBrowserFocusOnACardName(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	s.house(t)
	if err := s.store.SetDeviceMeta(t.Context(), "hall_light", hearth.DeviceMeta{Name: "The ceiling light of the hall, over the stairs by the front door"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []webtest.View{webtest.Desktop, webtest.Phone} {
		tab := b.NewTab(t, v)
		tab.Navigate(s.http.URL + "/")
		for _, id := range []string{"hall_light", "living_temp"} {
			name := `[data-device="` + id + `"] .card-name`
			tab.Focus(name)
			// Every box around the link that clips its content must hold the
			// link's box grown by its outline and the outline's offset.
			clipped := webtest.Eval[string](tab, `(() => {
				const a = document.querySelector('`+name+`');
				if (!a.matches(':focus-visible')) return 'no focus ring';
				const cs = getComputedStyle(a);
				const grow = parseFloat(cs.outlineWidth) + parseFloat(cs.outlineOffset);
				if (cs.outlineStyle === 'none' || !(parseFloat(cs.outlineWidth) > 0)) return 'no outline';
				const r = a.getBoundingClientRect();
				for (let el = a.parentElement; el && el !== document.body; el = el.parentElement) {
					const s = getComputedStyle(el);
					if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
					const b = el.getBoundingClientRect();
					const box = {left: b.left + parseFloat(s.borderLeftWidth), right: b.right - parseFloat(s.borderRightWidth),
						top: b.top + parseFloat(s.borderTopWidth), bottom: b.bottom - parseFloat(s.borderBottomWidth)};
					const out = [box.left - (r.left - grow), (r.right + grow) - box.right, box.top - (r.top - grow), (r.bottom + grow) - box.bottom];
					if (Math.max(...out) > 0.5) return el.tagName.toLowerCase() + ' clips it by ' + Math.max(...out).toFixed(1) + ' px';
				}
				return '';
			})()`)
			if clipped != "" {
				t.Errorf("%s, %s: the focus ring on the name: %s", v.Name, id, clipped)
			}
		}
		tab.Focus(`[data-device="hall_light"] .card-name`)
		tab.Screenshot("card-focus-" + v.Name)
		// The long name is cut short within its card, with an ellipsis.
		cut := webtest.Eval[string](tab, `(() => {
			const a = document.querySelector('[data-device="hall_light"] .card-name');
			const card = a.closest('.card').getBoundingClientRect();
			const clip = [a, a.parentElement].find((el) => getComputedStyle(el).textOverflow === 'ellipsis');
			if (!clip) return 'no ellipsis';
			if (clip.scrollWidth <= clip.clientWidth) return 'the name is not cut short';
			if (clip.getBoundingClientRect().right > card.right) return 'the name runs out of its card';
			return '';
		})()`)
		if cut != "" {
			t.Errorf("%s: %s", v.Name, cut)
		}
		tab.NoErrors()
	}
}

// TestBrowserKindFilter: the events page filters by every kind the API
// takes.
func TestBrowserKindFilter(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	s.house(t)
	note, err := s.bus.Publish(hearth.Event{Kind: hearth.KindNotification, Topic: "$hearth/notify", Payload: []byte(`{"title":"Alarm","message":"Front door opened","channels":["page"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	s.durable(t)
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(s.http.URL + "/#/events")
	tab.WaitJS(`document.querySelectorAll('.log .ev').length > 3`)
	kinds := webtest.Eval[[]string](tab, `[...document.querySelectorAll('#f-kind option')].map((o) => o.value).filter(Boolean)`)
	for _, k := range []hearth.Kind{hearth.KindMessage, hearth.KindState, hearth.KindAvailability, hearth.KindCommand, hearth.KindRun, hearth.KindNotification, hearth.KindGap} {
		if !slices.Contains(kinds, string(k)) {
			t.Errorf("the kind filter offers %q, not %q", kinds, k)
		}
	}
	for _, k := range kinds {
		if !hearth.Kind(k).Valid() {
			t.Errorf("the kind filter offers %q, which the API refuses", k)
		}
	}
	webtest.Eval[bool](tab, `(() => { const k = document.getElementById('f-kind'); k.value = 'notification'; k.dispatchEvent(new Event('change')); return true; })()`)
	tab.WaitJS(`[...document.querySelectorAll('.log .ev')].map((li) => li.dataset.seq).join() === '` + strconv.FormatUint(note.Seq, 10) + `'`)
	tab.NoErrors()
}

// TestBrowserAlarmEvents: the alarm's events read as sentences on the
// device page, its causes and the event page.
func TestBrowserAlarmEvents(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	s.house(t)
	until := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second).Format(time.RFC3339)
	state := func(st, by, until, ref string) string {
		return `{"state":"` + st + `","target":"armed_away","changed_by":"` + by + `","user":null,"code_ok":true,"attempts":0,` +
			`"locked_until":null,"until":` + until + `,"sensor":"hall_motion","sensor_name":"Hall motion","ref":` + ref + `}`
	}
	s.publish(t, "home/alarm", state("armed_away", "web", "null", `"VZ4FQK2XH7M3NJ6TQD2WAPLC5E"`))
	// The alarm publishes each new state of its own as a command event on
	// its state topic, through the broker, which the device then reports.
	own, err := s.bus.Publish(hearth.Event{Kind: hearth.KindCommand, Topic: "home/alarm", Device: "alarm",
		Payload: []byte(state("triggered", "sensor hall_motion", `"`+until+`"`, "null")), Cause: hearth.Cause{Source: "alarm"}})
	if err != nil {
		t.Fatal(err)
	}
	s.publish(t, "home/alarm", state("triggered", "sensor hall_motion", `"`+until+`"`, "null"))
	s.durable(t)

	tab := b.NewTab(t, webtest.Desktop)
	// gibberish says what in a text the page should not show of the alarm.
	gibberish := func(where, text string) {
		t.Helper()
		for _, bad := range []string{"ower", "—", "ode ok", "ef ", "ref", "null", "undefined", until[:10] + "T"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s has %q: %q", where, bad, text)
			}
		}
	}
	tab.Navigate(s.http.URL + "/#/device/alarm")
	tab.WaitJS(`document.querySelectorAll('.chain .why').length >= 2 && document.querySelectorAll('.log .ev').length >= 3`)
	clock := webtest.Eval[string](tab, `import('/js/dom.js').then((m) => m.clock('`+until+`'))`)

	states := webtest.Eval[string](tab, `[...document.querySelectorAll('dl.state > *')].map((el) => el.textContent).join(' | ')`)
	gibberish("the state list", states)
	if !strings.Contains(states, "State | Triggered") || !strings.Contains(states, clock) {
		t.Errorf("the state list reads %q, want State Triggered and the time %s", states, clock)
	}
	why := webtest.Eval[string](tab, `document.querySelector('.chain .why-text').textContent`)
	gibberish("the latest change", why)
	if !strings.Contains(why, "Triggered") || !strings.Contains(why, clock) || !strings.Contains(why, "Hall motion") {
		t.Errorf("the latest change reads %q", why)
	}
	// A message is shown as it was sent; the state changes and commands are
	// said in words.
	recent := webtest.Eval[string](tab, `[...document.querySelectorAll('.log .ev-state .ev-text, .log .ev-command .ev-text')].map((el) => el.textContent).join(' | ')`)
	gibberish("the recent events", recent)

	tab.Navigate(s.http.URL + "/?event#/event/" + strconv.FormatUint(own.Seq, 10))
	tab.WaitJS(`!!document.querySelector('dl.pairs dd')`)
	what := webtest.Eval[string](tab, `document.querySelector('dl.pairs dd').textContent`)
	gibberish("the event page", what)
	if strings.HasPrefix(what, "Asked") || !strings.Contains(what, "Triggered") || !strings.Contains(what, clock) {
		t.Errorf("the alarm's own publication reads %q", what)
	}
	keypad := webtest.Eval[string](tab, `import('/js/eventview.js').then((m) => m.describe({kind: 'command', topic: 'home/alarm/set',
		device: 'alarm', payload: {action: 'arm_away', code: '***', ref: 'VZ4FQK2XH7M3NJ6TQD2WAPLC5E'}, cause: {source: 'web'}}))`)
	if keypad != "Asked Alarm to arm away (from the page)" {
		t.Errorf("arming from the page reads %q", keypad)
	}
	t.Logf("the alarm's events read: %q; %q; %q", why, what, recent)
	tab.NoErrors()
}
