package web

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"hearth"
	"hearth/web/webtest"

	"github.com/chromedp/chromedp"
)

// browserHouse fills a stack with a small house: a week of a thermometer's
// and a light sensor's history, the devices' current state, and rooms.
func browserHouse(t *testing.T, s *stack) {
	t.Helper()
	now := time.Now()
	start := now.Add(-7 * 24 * time.Hour)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * 15 * time.Minute)
		if at.After(now.Add(-time.Minute)) {
			break
		}
		s.clock.set(at)
		h := float64(at.Hour()) + float64(at.Minute())/60
		temp := 20.5 + 1.6*math.Sin((h-9)/24*2*math.Pi) + 0.3*math.Sin(float64(i)/7)
		lux := math.Max(0, 420*math.Sin((h-6)/12*math.Pi))
		s.publish(t, "home/living_temp", fmt.Sprintf(`{"temperature":%.1f,"humidity":%.1f,"battery":86,"linkquality":132}`, temp, 46+4*math.Sin(float64(i)/11)))
		s.publish(t, "home/hall_lux", fmt.Sprintf(`{"illuminance":%.0f,"battery":77,"linkquality":96}`, lux))
	}
	s.clock.set(time.Time{})
	s.house(t)
	s.publish(t, "home/kitchen_motion", `{"occupancy":true,"battery":64,"linkquality":88}`)
	s.publish(t, "home/garden_light", `{"state":"OFF","brightness":180}`)
	s.publish(t, "home/garden_light/availability", `offline`)
	s.durable(t)
	for id, m := range map[string]hearth.DeviceMeta{
		"hall_light":     {Name: "Hall ceiling", Room: "Hall"},
		"hall_motion":    {Room: "Hall"},
		"hall_lux":       {Name: "Hall light level", Room: "Hall"},
		"front_door":     {Room: "Hall"},
		"kitchen_light":  {Name: "Kitchen spots", Room: "Kitchen"},
		"kitchen_motion": {Room: "Kitchen"},
		"living_temp":    {Name: "Living room climate", Room: "Living room"},
		"garden_light":   {Name: "Garden lantern", Room: "Garden"},
	} {
		if err := s.store.SetDeviceMeta(t.Context(), id, m); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds, for what happens in another process
// (the browser); it fails the test after webtest.Timeout.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(webtest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBrowser drives the page in headless Chromium against the real bus,
// store and device read model.
func TestBrowser(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{automations: newFakeAutomations()})
	browserHouse(t, s)
	home := s.http.URL + "/"
	devices := len(s.reg.Devices())

	t.Run("home lists the devices, grouped by room", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		tab.WaitJS(fmt.Sprintf(`document.querySelectorAll('.card').length === %d`, devices))
		rooms := webtest.Eval[[]string](tab, `[...document.querySelectorAll('.room > h2')].map(h => h.textContent)`)
		if !slices.Equal(rooms, []string{"Garden", "Hall", "Kitchen", "Living room"}) {
			t.Fatalf("rooms %v", rooms)
		}
		name := webtest.Eval[string](tab, `document.querySelector('[data-device="hall_light"] .card-name').textContent`)
		if name != "Hall ceiling" {
			t.Fatalf("hall light is called %q", name)
		}
		offline := webtest.Eval[bool](tab, `document.querySelector('[data-device="garden_light"]').classList.contains('offline')`)
		if !offline {
			t.Fatal("the offline lantern is not shown offline")
		}
		first := webtest.Eval[float64](tab, `performance.getEntriesByName('hearth:first-render')[0].startTime`)
		t.Logf("time to first render (navigation start to device cards drawn): %.0f ms", first)
		tab.NoErrors()
	})

	t.Run("the page writes an id in words as the alarm does", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		// The same cases as devices' TestHumanizeWritesAnIdAsThePageDoes.
		got := webtest.Eval[[]string](tab, `import('/js/format.js').then((m) =>
			['hall_motion', 'front-door.1', 'étage_motion', '__'].map(m.humanize))`)
		if want := []string{"Hall motion", "Front door 1", "Étage motion", "__"}; !slices.Equal(got, want) {
			t.Errorf("humanize gives %q, want %q", got, want)
		}
	})

	t.Run("a light sensor reporting illuminance_lux too shows the level once", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		s.publish(t, "home/hall_lux", `{"illuminance":40,"illuminance_lux":40}`)
		card := `document.querySelector('[data-device="hall_lux"]')`
		tab.WaitJS(card + `?.querySelector('.big .value')?.textContent === '40'`)
		facts := webtest.Eval[[]string](tab, `[...`+card+`.querySelectorAll('.facts li')].map(li => li.textContent)`)
		if slices.ContainsFunc(facts, func(f string) bool { return strings.Contains(f, "40") }) {
			t.Errorf("the card says the light level again among its facts: %q", facts)
		}
	})

	t.Run("a run that took less than a millisecond says so, not 0 ms", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		got := webtest.Eval[[]string](tab, `import('/js/trace.js').then((m) => [
			m.runLength({started: '2026-11-26T02:00:00.000100Z', ended: '2026-11-26T02:00:00.000400Z'}),
			m.runLength({started: '2026-11-26T02:00:00.000Z', ended: '2026-11-26T02:00:00.250Z'})])`)
		if !slices.Equal(got, []string{"under 1 ms", "250 ms"}) {
			t.Errorf("run lengths %q, want under 1 ms and 250 ms", got)
		}
	})

	t.Run("the home page and its assets weigh under 100 KB", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		tab.WaitJS(`document.querySelectorAll('.spark path').length > 0`)
		// Every file the page loaded, without the API's JSON answers.
		sizes := webtest.Eval[map[string]float64](tab, `Object.fromEntries(
			[performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
			.filter(e => !new URL(e.name).pathname.startsWith('/api/'))
			.map(e => [new URL(e.name).pathname, e.decodedBodySize]))`)
		total := 0.0
		var files []string
		for p, n := range sizes {
			total += n
			files = append(files, fmt.Sprintf("%s %.0f", p, n))
		}
		slices.Sort(files)
		t.Logf("page weight: %.0f bytes in %d files (%s)", total, len(sizes), strings.Join(files, ", "))
		if total == 0 || total > 100<<10 {
			t.Fatalf("the home page and its assets weigh %.0f bytes, want at most %d", total, 100<<10)
		}
		tab.NoErrors()
	})

	t.Run("clicking a light's switch sends the command and the card shows the new state", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Phone)
		tab.Navigate(home)
		sw := `[data-device="hall_light"] .switch`
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s')?.getAttribute('aria-checked') === 'false'`, sw))
		before := len(s.cmd.commands())
		tab.Click(sw)
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s').getAttribute('aria-checked') === 'true' && document.querySelector('[data-device="hall_light"]').classList.contains('on')`, sw))
		cmds := s.cmd.commands()
		if len(cmds) != before+1 {
			t.Fatalf("%d commands sent, want 1", len(cmds)-before)
		}
		if c := cmds[len(cmds)-1]; c.Topic != "home/hall_light/set" || string(c.Payload) != `{"state":"ON"}` || c.Cause.Source != "web" {
			t.Fatalf("command %+v %s", c, c.Payload)
		}
		t.Run("and the keyboard works the switch too", func(t *testing.T) {
			tab.Focus(sw)
			tab.Key(" ")
			tab.WaitJS(fmt.Sprintf(`document.querySelector('%s').getAttribute('aria-checked') === 'false'`, sw))
		})
		t.Run("and the brightness slider sets the brightness", func(t *testing.T) {
			tab.SetRange(`[data-device="kitchen_light"] input[type=range]`, 64)
			// The command crosses from the browser to the hub: poll the
			// read model until the light has answered.
			eventually(t, func() bool {
				d, _ := s.reg.Device("kitchen_light")
				return d.State["brightness"] == 64.0 && d.State["state"] == "ON"
			})
			tab.WaitJS(`document.querySelector('[data-device="kitchen_light"] output').value === '25%' && !document.querySelector('[data-device="kitchen_light"] .pending')`)
		})
		tab.NoErrors()
	})

	t.Run("a state event published on the bus updates its card live", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		value := `document.querySelector('[data-device="living_temp"] .big .value')?.textContent`
		tab.WaitJS(value)
		var delays []float64
		for i := range 20 {
			temp := 25 + float64(i)/10
			msg := s.publish(t, "home/living_temp", fmt.Sprintf(`{"temperature":%.1f}`, temp))
			tab.WaitJS(fmt.Sprintf(`Number(%s) === %g`, value, temp))
			// The page marks each event it shows; the state event follows
			// its message.
			at := webtest.Eval[float64](tab, fmt.Sprintf(`(() => {
				const m = performance.getEntriesByName('hearth:applied').find(m => m.detail.seq === %d);
				return m ? performance.timeOrigin + m.startTime : 0; })()`, msg.Seq+1))
			if at == 0 {
				t.Fatalf("no mark for event %d", msg.Seq+1)
			}
			delays = append(delays, at-float64(msg.Time.UnixNano())/1e6)
		}
		slices.Sort(delays)
		t.Logf("bus event to card updated: median %.1f ms, max %.1f ms over %d events", delays[len(delays)/2], delays[len(delays)-1], len(delays))
		tab.NoErrors()
	})

	t.Run("the device page draws its history chart", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home + "#/device/living_temp")
		tab.WaitJS(`document.querySelectorAll('.chart-svg path.line').length >= 2`)
		points := webtest.Eval[int](tab, `document.querySelector('.chart-svg path.line').getAttribute('d').split('L').length`)
		if points < 50 {
			t.Fatalf("the temperature chart has %d points, want a day's worth", points)
		}
		tab.WaitJS(`document.querySelectorAll('.chain .why').length >= 2`)
		tab.Click(`[data-range="week"]`)
		tab.WaitJS(`document.querySelector('[data-range="week"]').getAttribute('aria-checked') === 'true' && document.querySelector('.chart-svg path.line').getAttribute('d').split('L').length > 250`)
		tab.NoErrors()
	})

	t.Run("the events page shows the log live and pauses", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home + "#/events")
		tab.WaitJS(`document.querySelectorAll('.log .ev').length > 10`)
		e := s.publish(t, "home/front_door", `{"contact":false}`)
		tab.WaitJS(fmt.Sprintf(`document.querySelector('.log .ev')?.dataset.seq === '%d'`, e.Seq+1))
		tab.Click(`.head-actions .button`)
		s.publish(t, "home/front_door", `{"contact":true}`)
		tab.WaitJS(`document.querySelector('.live-status').textContent.includes('2 new')`)
		tab.Click(`.head-actions .button`)
		tab.WaitJS(fmt.Sprintf(`document.querySelector('.log .ev').dataset.seq === '%d'`, e.Seq+3))
		tab.NoErrors()
	})

	t.Run("screenshots of every page on a phone and a desktop, light and dark", func(t *testing.T) {
		s.publish(t, "home/kitchen_light", `{"state":"ON","brightness":200}`)
		s.durable(t)
		for _, v := range []webtest.View{webtest.Phone, webtest.PhoneDark, webtest.Desktop, webtest.DesktopDark} {
			tab := b.NewTab(t, v)
			for _, p := range []struct{ name, hash, ready string }{
				{"home", "#/", `document.querySelectorAll('.spark path').length >= 4`},
				{"device", "#/device/living_temp", `document.querySelectorAll('.chart-svg path.line').length >= 2 && document.querySelectorAll('.chain .why').length > 0`},
				{"light", "#/device/hall_light", `document.querySelectorAll('.chart-svg').length > 0 && document.querySelectorAll('.chain .why').length > 0`},
				{"events", "#/events", `document.querySelectorAll('.log .ev').length > 10`},
				{"automations", "#/automations", `document.querySelector('.automations:not([aria-busy])')`},
			} {
				// A query makes each a full load (a new hash alone is not).
				tab.Navigate(home + "?" + p.name + p.hash)
				tab.WaitJS(p.ready)
				tab.Screenshot(p.name + "-" + v.Name)
				if p.name == "home" || p.name == "device" {
					tab.FullScreenshot(p.name + "-" + v.Name + "-full")
				}
			}
			tab.NoErrors()
		}
		t.Logf("screenshots: %s", webtest.ScreenshotDir(t))
	})
}

// TestBrowserWithoutAutomations shows what the page says while the hub has
// no automation engine wired to it.
func TestBrowserWithoutAutomations(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{noStore: true})
	s.publish(t, "home/hall_light", `{"state":"ON"}`)
	tab := b.NewTab(t, webtest.Phone)
	tab.Navigate(s.http.URL + "/#/automations")
	tab.WaitJS(`document.querySelector('.automations .empty-state')?.textContent.includes('not connected')`)
	tab.Screenshot("automations-unwired-phone")
	// Their 503s are the point: no engine, and no log to list notifications from.
	tab.NoErrors("/api/automations", "/api/notifications")
}

// TestBrowserSparklineOfANewSensor: a sensor heard from for half an hour
// (a new hub, the demo) gets a sparkline drawn from its first value across
// the card, not squeezed into the last sliver of a day.
func TestBrowserSparklineOfANewSensor(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	now := time.Now()
	for i, temp := range []float64{18.5, 19.5, 21, 20.5} {
		s.clock.set(now.Add(time.Duration(i-4) * 10 * time.Minute))
		s.publish(t, "home/cellar_temp", fmt.Sprintf(`{"temperature":%.1f}`, temp))
	}
	s.clock.set(time.Time{})
	s.durable(t)
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(s.http.URL + "/")
	tab.WaitJS(`!!document.querySelector('[data-device="cellar_temp"] .spark-line')`)
	if w := webtest.Eval[float64](tab, `document.querySelector('[data-device="cellar_temp"] .spark-line').getBBox().width`); w < 50 {
		t.Errorf("the sparkline is %.1f of its 100 units wide, want it across the card", w)
	}
	tab.NoErrors()
}

// TestBrowserLogin logs in and out with the keyboard on a hub that has a
// user.
func TestBrowserLogin(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{accounts: true})
	s.house(t)
	s.durable(t)
	if err := s.store.AddWebUser(t.Context(), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(s.http.URL + "/")

	t.Run("the page asks for a login, with the name field focused", func(t *testing.T) {
		tab.WaitJS(`document.activeElement && document.activeElement.id === 'auth-name'`)
		label := webtest.Eval[string](tab, `document.querySelector('label[for="auth-password"]').textContent`)
		if label != "Password" {
			t.Fatalf("password label %q", label)
		}
	})
	t.Run("a wrong password is said in an alert", func(t *testing.T) {
		tab.Key("ann\tnot the password\r")
		tab.WaitJS(`document.querySelector('[role="alert"]').textContent === 'wrong name or password'`)
	})
	t.Run("the right password shows the house and a logout button", func(t *testing.T) {
		tab.Key("correct horse\r")
		tab.WaitJS(`document.querySelectorAll('.card').length > 0 && !!document.querySelector('.logout')`)
	})
	t.Run("logging out shows the login form again", func(t *testing.T) {
		tab.Click(".logout")
		// The page reloads: poll across the navigation.
		eventually(t, func() bool {
			ok, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](`!!document.getElementById('auth-name') && !document.querySelector('.logout')`))
			return err == nil && ok
		})
		tab.NoErrors("401")
	})
}
