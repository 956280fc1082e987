package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"hearth/automations"
	"hearth/web/webtest"
)

// fakeNotification stands in for the browser's Notification API, which a
// headless browser cannot show: permission is asked once, on the click,
// and each notification shown is kept in window.shown.
const fakeNotification = `(() => {
	window.shown = [];
	window.asked = 0;
	window.Notification = class {
		static permission = 'default';
		static requestPermission() { window.asked++; this.permission = 'granted'; return Promise.resolve('granted'); }
		constructor(title, opts) { window.shown.push(title + ': ' + opts.body); }
	};
	return true; })()`

// TestBrowserPlaysTheAlarmStory drives the demo house's page in headless
// Chromium with a person logged in, on a fake clock: arming with the code
// on the page, a wrong code, the delays counting down, motion, the alarm
// going off, the notifications arriving live and the browser's own.
func TestBrowserPlaysTheAlarmStory(t *testing.T) {
	b := webtest.Start(t)
	clock := automations.NewFakeClock(time.Now())
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Demo = true
		c.clock = clock
		seedHistory(t, c.DataDir)
	})
	if err := app.store.AddWebUser(t.Context(), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	home := "http://" + app.HTTPAddr().String() + "/"
	alarm := func() map[string]any { d, _ := app.devices.Device("alarm"); return d.State }
	card := `document.querySelector('[data-device="alarm"]')`
	alarmIs := func(state string) string { return fmt.Sprintf(`%s?.dataset.alarm === '%s'`, card, state) }
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) { // each step needs the one before
			t.FailNow()
		}
	}

	tab := b.NewTab(t, webtest.Phone)
	// typeCode types a code into the emptied code field, and keys after it.
	typeCode := func(keys string) {
		t.Helper()
		webtest.Eval[bool](tab, `(() => { document.querySelector('#alarm-code').value = ''; return true; })()`)
		tab.Focus(`#alarm-code`)
		tab.Key(keys)
	}
	tab.Navigate(home)
	tab.WaitJS(`document.activeElement && document.activeElement.id === 'auth-name'`)
	tab.Key("ann\tcorrect horse\r")
	tab.WaitJS(alarmIs("disarmed"))

	step("the house mode and the alarm come first, with the mode to pick", func(t *testing.T) {
		first := webtest.Eval[string](tab, `document.querySelector('.room > h2').textContent + ': ' +
			[...document.querySelector('.room').querySelectorAll('.card')].map(c => c.dataset.device).join(' ')`)
		if first != "House: alarm house" {
			t.Fatalf("the first section is %q", first)
		}
		tab.WaitJS(`document.querySelector('[data-device="house"] [role=radio][aria-checked=true]')?.textContent === 'Home'`)
		noSideways(t, tab, "the home page with the alarm")
	})

	step("arming with the code on the page arms the alarm, the exit delay counting down", func(t *testing.T) {
		typeCode("1234")
		tab.Click(`[data-device="alarm"] button[value="arm_away"]`)
		tab.WaitJS(alarmIs("arming") + ` && /Arms away in \d+ s/.test(document.querySelector('.alarm-note').textContent)`)
		tab.WaitJS(`document.querySelector('.alarm-by').textContent === 'Armed by ann on the page' && document.querySelector('#alarm-code').value === ''`)
		if st := alarm(); st["state"] != "arming" || st["changed_by"] != "web user ann" {
			t.Fatalf("the alarm: %v", st)
		}
	})

	step("a wrong code shows an error and does not disarm", func(t *testing.T) {
		typeCode("9999\r") // Enter: the one button, Disarm
		tab.WaitJS(`document.querySelector('#alarm-error').textContent === 'Wrong code.'`)
		if st := alarm(); st["state"] != "arming" || st["attempts"] != 1.0 {
			t.Fatalf("the alarm after a wrong code: %v", st)
		}
		tab.WaitJS(alarmIs("arming"))
		tab.Screenshot("hub-alarm-wrong-code-phone")
	})

	step("after the exit delay the card says armed away", func(t *testing.T) {
		endDelay(t, clock, alarm())
		tab.WaitJS(alarmIs("armed_away") + ` && document.querySelector('[data-device="alarm"] .big .value').textContent === 'Armed away'`)
	})

	step("motion makes it pending, the entry delay counting down", func(t *testing.T) {
		if err := app.house.Walk("hall_motion"); err != nil {
			t.Fatal(err)
		}
		tab.WaitJS(alarmIs("pending") + ` && / goes off in \d+ s unless disarmed/.test(document.querySelector('.alarm-note').textContent)`)
		tab.Screenshot("hub-alarm-pending-phone")
	})

	step("triggered: the card says so and the notifications reach the page's list live", func(t *testing.T) {
		endDelay(t, clock, alarm())
		// The pending one and the alarm's; the simulated front door may
		// have notified too.
		tab.WaitJS(alarmIs("triggered") + ` && Number(document.querySelector('.bell .badge').textContent) >= 2`)
		tab.WaitJS(`document.querySelector('.toast').textContent !== ''`) // it shows for 8 s
		tab.Screenshot("hub-alarm-triggered-phone")
		tab.Click(`.bell`)
		got := webtest.Eval[map[string]string](tab, `Object.fromEntries([...document.querySelectorAll('.notes-list .note')].map(n =>
			[n.querySelector('.note-title').textContent, (n.querySelector('.note-prio')?.textContent || '') + ' / ' + n.className]))`)
		if got["Alarm"] != "Urgent / note prio-urgent unread" || got["Someone came in"] != "High / note prio-high unread" {
			t.Fatalf("the list reads %q", got)
		}
		tab.WaitJS(`document.querySelector('.bell .badge').hidden`)
		noSideways(t, tab, "the notifications")
		tab.Screenshot("hub-notifications-phone")
		desk := b.NewTab(t, webtest.Desktop)
		desk.Navigate(home)
		desk.WaitJS(`document.querySelectorAll('.notes-list .note').length >= 2`)
		desk.Click(`.bell`)
		desk.Screenshot("hub-notifications-desktop")
		desk.NoErrors()
	})

	step("the browser's own notifications show, once allowed on a click, those that arrive", func(t *testing.T) {
		webtest.Eval[bool](tab, fakeNotification)
		tab.Click(`.bell`) // closed, and open again: the list offers to notify the browser
		tab.Click(`.bell`)
		tab.Click(`.notes-allow`)
		tab.WaitJS(`window.asked === 1 && document.querySelector('.notes-allow').hidden`)
		walker := connect(t, app.MQTTAddr().String(), "test_walker")
		publish(t, walker, "home/front_door", 1, `{"contact":false}`)
		tab.WaitJS(`window.shown.includes('Front door: The front door was opened')`)
		tab.WaitJS(`document.querySelector('.notes-list .note-title').textContent === 'Front door'`)
	})

	step("disarming with the code on the page disarms it", func(t *testing.T) {
		tab.Click(`.bell`) // the list closes, uncovering the alarm's card
		tab.WaitJS(`document.querySelector('#notes').hidden`)
		typeCode("1234")
		tab.Click(`[data-device="alarm"] button[value="disarm"]`)
		tab.WaitJS(alarmIs("disarmed") + ` && !!document.querySelector('[data-device="alarm"] button[value="arm_home"]') &&
			document.querySelector('.alarm-by').textContent === 'Disarmed by ann on the page'`)
		if st := alarm(); st["changed_by"] != "web user ann" {
			t.Fatalf("the alarm: %v", st)
		}
	})

	step("after a reload the notifications are listed again, those seen not counted as new", func(t *testing.T) {
		tab.Navigate(home + "?again")
		tab.WaitJS(`['Alarm', 'Someone came in', 'Front door'].every(title =>
			[...document.querySelectorAll('.notes-list .note-title')].some(n => n.textContent === title))`)
		// Only a front door opened by the simulated house since may be new.
		unseen := webtest.Eval[[]string](tab, `(() => {
			const seen = Number(localStorage.getItem('hearth:notifications-seen'));
			const badge = document.querySelector('.bell .badge');
			return [...document.querySelectorAll('.notes-list .note')].filter(n => Number(n.dataset.seq) > seen)
				.map(n => n.querySelector('.note-title').textContent).concat(badge.hidden ? [] : ['badge ' + badge.textContent]); })()`)
		for _, u := range unseen {
			if u != "Front door" && !strings.HasPrefix(u, "badge ") {
				t.Fatalf("counted as new after a reload: %q", unseen)
			}
		}
		if len(unseen) > 0 && unseen[len(unseen)-1] != fmt.Sprintf("badge %d", len(unseen)-1) {
			t.Fatalf("the badge does not count the new ones: %q", unseen)
		}
	})
	step("the house mode switches from the page", func(t *testing.T) {
		tab.WaitJS(`document.querySelector('[data-device="house"] [aria-checked=true]')?.textContent === 'Away'`)
		tab.Click(`[data-device="house"] [data-value="home"]`)
		tab.WaitJS(`document.querySelector('[data-device="house"] [aria-checked=true]').textContent === 'Home' && document.querySelector('[data-device="house"] .big .value').textContent === 'Home'`)
		if d, _ := app.devices.Device("house"); d.State["mode"] != "home" {
			t.Fatalf("the house: %v", d.State)
		}
	})
	tab.NoErrors("/api/alarm", "/api/me") // the wrong code's 403 and the 401 before the login are the point
	t.Logf("screenshots: %s (hub-alarm-*.png, hub-notifications-*.png)", webtest.ScreenshotDir(t))
}
