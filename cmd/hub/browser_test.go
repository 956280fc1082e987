package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/devices"
	"hearth/store"
	"hearth/web/webtest"
)

// seedHistory fills a data folder before the hub starts, as a hub that had
// run for two days would have it: the living room's temperature and the
// hall's light level every 15 minutes, and the rooms and names people gave
// the demo's devices on the page.
func seedHistory(t *testing.T, dataDir string) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dataDir, "hearth.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var at time.Time // the bus's clock: only this goroutine publishes
	bus := hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: true, Now: func() time.Time { return at }})
	bus.AddStage(devices.New("home", quiet))
	sub := bus.Subscribe("store", hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, sub, bus) }()

	now := time.Now()
	for i := 0; ; i++ {
		at = now.Add(-48 * time.Hour).Add(time.Duration(i) * 15 * time.Minute)
		if at.After(now.Add(-time.Minute)) {
			break
		}
		h := float64(at.Hour()) + float64(at.Minute())/60
		temp := 20.5 + 1.6*math.Sin((h-9)/24*2*math.Pi) + 0.3*math.Sin(float64(i)/7)
		lux := math.Max(0, 420*math.Sin((h-6)/12*math.Pi))
		for _, m := range []struct{ topic, payload string }{
			{"home/living_temp", fmt.Sprintf(`{"temperature":%.1f,"humidity":%.1f,"battery":86,"linkquality":132}`, temp, 46+4*math.Sin(float64(i)/11))},
			{"home/hall_lux", fmt.Sprintf(`{"illuminance":%.0f,"battery":77,"linkquality":96}`, lux)},
		} {
			if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: m.topic, Payload: []byte(m.payload), Client: strings.TrimPrefix(m.topic, "home/")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := bus.WaitDurable(wctx, bus.NextSeq()-1); err != nil {
		t.Fatalf("seed the log: %v", err)
	}
	bus.Close()
	if err := <-done; err != nil {
		t.Fatalf("seed the log: %v", err)
	}
	for id, m := range map[string]hearth.DeviceMeta{
		"hall_light":     {Name: "Hall ceiling", Room: "Hall"},
		"hall_motion":    {Room: "Hall"},
		"hall_lux":       {Name: "Hall light level", Room: "Hall"},
		"front_door":     {Room: "Hall"},
		"kitchen_light":  {Name: "Kitchen spots", Room: "Kitchen"},
		"kitchen_motion": {Room: "Kitchen"},
		"living_temp":    {Name: "Living room climate", Room: "Living room"},
	} {
		if err := st.SetDeviceMeta(ctx, id, m); err != nil {
			t.Fatal(err)
		}
	}
}

// noSideways fails the test if the page is wider than the screen (a phone
// would scroll it sideways), naming the widest elements that stick out.
func noSideways(t *testing.T, tab *webtest.Tab, page string) {
	t.Helper()
	wide := webtest.Eval[[]string](tab, `(() => {
		const w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth <= w && window.innerWidth <= w) return [];
		const out = [...document.querySelectorAll('main *')]
			.filter(el => el.getBoundingClientRect().right > w + 1)
			.map(el => el.tagName.toLowerCase() + '.' + el.getAttribute('class') + ' ' + Math.round(el.getBoundingClientRect().right));
		return out.length ? out.slice(0, 5) : ['(nothing in main) inner ' + window.innerWidth + ' client ' + w];
	})()`)
	if len(wide) > 0 {
		t.Errorf("%s is wider than the screen: %v", page, wide)
	}
}

// waitOnline waits until the hub sees n devices online.
func waitOnline(t *testing.T, httpAddr string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d devices online", n), func() bool {
		var devs []hearth.DeviceState
		getJSON(t, "http://"+httpAddr+"/api/devices", &devs)
		online := 0
		for _, d := range devs {
			if d.Availability == hearth.Online {
				online++
			}
		}
		return online == n
	})
}

// post sends a POST without a body and returns the status.
func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// latestRun is the number of an automation's newest run, 0 for none.
func latestRun(t *testing.T, httpAddr, id string) int {
	t.Helper()
	var traces []hearth.Trace
	getJSON(t, fmt.Sprintf("http://%s/api/automations/%s/traces?limit=1", httpAddr, id), &traces)
	if len(traces) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(traces[0].Run[strings.LastIndex(traces[0].Run, "#")+1:])
	return n
}

// TestBrowserOnTheDemoHouse drives the page in headless Chromium against
// the whole hub, started in-process with the simulated house talking real
// MQTT to its broker, and saves screenshots of every page.
func TestBrowserOnTheDemoHouse(t *testing.T) {
	b := webtest.Start(t)
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Demo = true
		// The demo's alarm story waits on this clock, and never goes on
		// here: lights flashing would change what the page shows.
		c.clock = automations.NewFakeClock(time.Now())
		seedHistory(t, c.DataDir)
	})
	httpAddr := app.HTTPAddr().String()
	home := "http://" + httpAddr + "/"
	waitOnline(t, httpAddr, 7)
	walker := connect(t, app.MQTTAddr().String(), "test_walker")
	hallLight, ok := app.house.Light("hall_light")
	if !ok {
		t.Fatal("the demo house has no hall light")
	}

	t.Run("the home page lists the devices by room", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		// The seven simulated devices, and the hub's own: the house mode and the alarm.
		tab.WaitJS(`document.querySelectorAll('.card').length === 9`)
		rooms := webtest.Eval[[]string](tab, `[...document.querySelectorAll('.room > h2')].map(h => h.textContent)`)
		if !slices.Equal(rooms, []string{"House", "Hall", "Kitchen", "Living room"}) {
			t.Fatalf("rooms %v", rooms)
		}
		first := webtest.Eval[float64](tab, `performance.getEntriesByName('hearth:first-render')[0].startTime`)
		t.Logf("time to first render (navigation start to device cards drawn, full hub): %.0f ms", first)
		tab.NoErrors()
	})

	t.Run("the home page and its assets weigh under 100 KB", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		tab.WaitJS(`document.querySelectorAll('.spark path').length > 0`)
		sizes := webtest.Eval[map[string]float64](tab, `Object.fromEntries(
			[performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
			.filter(e => !new URL(e.name).pathname.startsWith('/api/'))
			.map(e => [new URL(e.name).pathname, e.decodedBodySize]))`)
		total := 0.0
		for p, n := range sizes {
			total += n
			if strings.Contains(p, "automation") || strings.Contains(p, "views.css") {
				t.Errorf("the home page loaded %s: the automations view's files must load only with it", p)
			}
		}
		t.Logf("page weight (home page with its assets, uncompressed): %.0f bytes in %d files", total, len(sizes))
		if total == 0 || total > 100<<10 {
			t.Fatalf("the home page and its assets weigh %.0f bytes, want at most %d", total, 100<<10)
		}
		tab.NoErrors()
	})

	t.Run("clicking the hall light's switch turns the simulated light on", func(t *testing.T) {
		// The demo's motion automation would switch the light too.
		if code := post(t, "http://"+httpAddr+"/api/automations/hall_light_on_motion/disable"); code != 200 {
			t.Fatalf("disable: %d", code)
		}
		tab := b.NewTab(t, webtest.Phone)
		tab.Navigate(home)
		sw := `[data-device="hall_light"] .switch`
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s')`, sw))
		if hallLight.State().On {
			tab.Click(sw) // off first, as the motion may have left it on
			eventually(t, "the simulated light off", func() bool { return !hallLight.State().On })
			tab.WaitJS(fmt.Sprintf(`document.querySelector('%s').getAttribute('aria-checked') === 'false'`, sw))
		}
		tab.Click(sw)
		eventually(t, "the simulated light on", func() bool { return hallLight.State().On })
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s').getAttribute('aria-checked') === 'true' && document.querySelector('[data-device="hall_light"]').classList.contains('on')`, sw))
		// The log commits what nobody waits for within a second.
		eventually(t, "the page's command in the log", func() bool {
			cmds := events(t, httpAddr, "kind=command&device=hall_light&limit=1")
			return len(cmds) == 1 && cmds[0].Cause.Source == "web" && string(cmds[0].Payload) == `{"state":"ON"}`
		})
		tab.NoErrors()
	})

	t.Run("a motion message published by a paho client updates its card live", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home)
		tab.WaitJS(`document.querySelector('[data-device="hall_motion"] .facts')`)
		var delays []float64
		for i := range 20 {
			lux := 101 + i
			// Motion sensors often report the light level too; the
			// simulated one does not, so the value is this message's.
			webtest.Eval[bool](tab, fmt.Sprintf(`(() => {
				window.seenAt = 0;
				const card = document.querySelector('[data-device="hall_motion"]');
				const obs = new MutationObserver(() => {
					if (card.textContent.includes('%d lx')) { window.seenAt = performance.timeOrigin + performance.now(); obs.disconnect(); }
				});
				obs.observe(card, {subtree: true, childList: true, characterData: true});
				return true; })()`, lux))
			sent := time.Now()
			publish(t, walker, "home/hall_motion", 0, fmt.Sprintf(`{"occupancy":true,"illuminance":%d}`, lux))
			tab.WaitJS(`window.seenAt > 0`)
			seen := webtest.Eval[float64](tab, `window.seenAt`)
			delays = append(delays, seen-float64(sent.UnixNano())/1e6)
		}
		slices.Sort(delays)
		t.Logf("MQTT message (paho, QoS 0) to card updated, through the full hub: median %.1f ms, p90 %.1f ms, max %.1f ms over %d messages",
			delays[len(delays)/2], delays[len(delays)*9/10], delays[len(delays)-1], len(delays))
		tab.NoErrors()
	})

	t.Run("an automation run appears with its trace", func(t *testing.T) {
		tab := b.NewTab(t, webtest.Desktop)
		tab.Navigate(home + "#/automations/hall_light_on_motion")
		sw := `.auto-controls .switch`
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s')?.getAttribute('aria-checked') === 'false'`, sw))
		tab.Click(sw) // it was disabled for the switch test
		tab.WaitJS(fmt.Sprintf(`document.querySelector('%s').getAttribute('aria-checked') === 'true'`, sw))
		before := latestRun(t, httpAddr, "hall_light_on_motion")

		// Someone walks into the hall (the simulated sensor may say so too).
		publish(t, walker, "home/hall_motion", 1, `{"occupancy":false}`)
		publish(t, walker, "home/hall_motion", 1, `{"occupancy":true}`)
		eventually(t, "the simulated hall light on", func() bool { return hallLight.State().On })
		newRun := fmt.Sprintf(`[...document.querySelectorAll('.runs > .run')].find(r => Number(r.dataset.run.split('#')[1]) > %d)`, before)
		tab.WaitJS(newRun + `?.querySelector('details[open] .step-trigger') && ` + newRun + `.querySelector('.step-command')`)
		got := webtest.Eval[map[string]string](tab, `(() => { const r = `+newRun+`; return {
			trigger: r.querySelector('.step-trigger .step-text').textContent,
			command: r.querySelector('.step-command .step-text').textContent,
			device: r.querySelector('.step-command .step-text a').getAttribute('href'),
			event: r.querySelector('.step-command .event-link').getAttribute('href'),
			triggerEvent: r.querySelector('.step-trigger .event-link').getAttribute('href'),
		}; })()`)
		if !strings.Contains(got["trigger"], "Hall motion") || !strings.Contains(got["trigger"], "occupancy == true") ||
			!strings.Contains(got["command"], "Hall ceiling") || !strings.Contains(got["command"], "turn on") || got["device"] != "#/device/hall_light" {
			t.Fatalf("the trace reads %+v", got)
		}
		// The command's link leads to its event in the log, caused by the run.
		seq, err := strconv.ParseUint(strings.TrimPrefix(got["event"], "#/event/"), 10, 64)
		if err != nil {
			t.Fatalf("command link %q", got["event"])
		}
		cmd := findEvent(t, httpAddr, seq)
		if cmd.Kind != hearth.KindCommand || cmd.Device != "hall_light" || !strings.HasPrefix(cmd.Cause.Run, "hall_light_on_motion#") {
			t.Fatalf("the command's event %+v", cmd)
		}
		webtest.Eval[bool](tab, `(() => { `+newRun+`.querySelector('.step-command .event-link').click(); return true; })()`)
		tab.WaitJS(fmt.Sprintf(`document.querySelector('h1').textContent === 'Event #%d' && document.querySelectorAll('.chain .why').length >= 3`, seq))
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
		tab.NoErrors()
	})

	t.Run("screenshots of every page on a phone and a desktop, light and dark", func(t *testing.T) {
		cmds := events(t, httpAddr, "kind=command&device=hall_light&limit=1")
		if len(cmds) == 0 {
			t.Fatal("no command to show")
		}
		for _, v := range []webtest.View{webtest.Phone, webtest.PhoneDark, webtest.Desktop, webtest.DesktopDark} {
			tab := b.NewTab(t, v)
			for _, p := range []struct{ name, hash, ready string }{
				{"home", "#/", `document.querySelectorAll('.spark path').length >= 2`},
				{"device", "#/device/living_temp", `document.querySelectorAll('.chart-svg path.line').length >= 2 && document.querySelectorAll('.chain .why').length > 0`},
				{"events", "#/events", `document.querySelectorAll('.log .ev').length > 10`},
				{"automations", "#/automations", `document.querySelectorAll('.auto-list .card').length === 12`},
				{"automation-trace", "#/automations/hall_light_on_motion", `document.querySelector('.runs .run .step-command')`},
				{"event", fmt.Sprintf("#/event/%d", cmds[0].Seq), `document.querySelectorAll('.chain .why').length > 0`},
			} {
				tab.Navigate(home + "?" + p.name + p.hash) // a full load each
				tab.WaitJS(p.ready)
				noSideways(t, tab, p.name+" on a "+v.Name)
				tab.Screenshot("hub-" + p.name + "-" + v.Name)
				if p.name != "event" {
					tab.FullScreenshot("hub-" + p.name + "-" + v.Name + "-full")
				}
			}
			tab.NoErrors()
		}
		t.Logf("screenshots: %s (hub-*.png)", webtest.ScreenshotDir(t))
	})
}

// porchYAML is an automation run by hand that keeps going for a while: a
// second run-now while it goes is refused (mode single).
const porchYAML = `
- id: porch_light_by_hand
  description: Porch light on for two minutes
  triggers:
    - mqtt: home/porch_button
      when: payload.action == "single"
  actions:
    - set: porch_light
      state: {state: "ON"}
    - delay: 2m
    - set: porch_light
      state: {state: "OFF"}
`

// brokenYAML has a misspelt key and an unknown mode.
const brokenYAML = `
- id: porch_light_by_hand
  trigers:
    - mqtt: home/porch_button
  mode: sometimes
  actions:
    - set: porch_light
      state: {state: "ON"}
`

// postJSON posts body and decodes the JSON answer into v; it returns the status.
func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("POST %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// TestPageAutomationsAPIOnTheHub checks the page's automation endpoints
// that need the whole hub: run now against the engine's modes, reload from
// the file and what-if over the log.
func TestPageAutomationsAPIOnTheHub(t *testing.T) {
	app, cfg := startHub(t, motionLightYAML+porchYAML)
	api := "http://" + app.HTTPAddr().String() + "/api/automations"

	t.Run("run now on a running single automation is a 409", func(t *testing.T) {
		var first, second map[string]any
		if code := postJSON(t, api+"/porch_light_by_hand/run", "", &first); code != 202 || first["run"] != "porch_light_by_hand#1" {
			t.Fatalf("first run: %d %v", code, first)
		}
		if code := postJSON(t, api+"/porch_light_by_hand/run", "", &second); code != 409 || !strings.Contains(fmt.Sprint(second["error"]), "is going") {
			t.Fatalf("second run: %d %v", code, second)
		}
	})

	t.Run("a reload of a file with mistakes is a 422 that lists them, and the automations keep running", func(t *testing.T) {
		replaceFile(t, cfg.Automations, motionLightYAML+brokenYAML)
		var body struct {
			Error    string
			Problems []hearth.AutomationProblem
		}
		if code := postJSON(t, api+"/reload", "", &body); code != 422 || len(body.Problems) < 2 || body.Problems[0].Line == 0 {
			t.Fatalf("%d %+v", code, body)
		}
		var l hearth.AutomationList
		getJSON(t, api, &l)
		if len(l.Problems) != len(body.Problems) || len(l.Automations) != 2 {
			t.Fatalf("the list after a bad reload: %d automations, problems %+v", len(l.Automations), l.Problems)
		}
	})

	t.Run("a reload of a good file says what changed", func(t *testing.T) {
		replaceFile(t, cfg.Automations, strings.Replace(motionLightYAML+porchYAML, "two minutes", "three minutes", 1))
		var body struct {
			Summary                            string
			Added, Changed, Removed, Unchanged []string
		}
		// The file watcher may have reloaded it first: then nothing changed.
		if code := postJSON(t, api+"/reload", "", &body); code != 200 || body.Summary == "" || len(body.Changed)+len(body.Unchanged) != 2 {
			t.Fatalf("%d %+v", code, body)
		}
		var l hearth.AutomationList
		getJSON(t, api, &l)
		if len(l.Problems) != 0 {
			t.Fatalf("problems after a good reload: %+v", l.Problems)
		}
	})

	t.Run("a what-if replays the log with changed automations and sends nothing", func(t *testing.T) {
		sensor := connect(t, app.MQTTAddr().String(), "hall_motion")
		light := connect(t, app.MQTTAddr().String(), "hall_light")
		commands := subscribe(t, light, "home/hall_light/set")
		publish(t, sensor, "home/hall_lux", 1, `{"illuminance":12}`)
		publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
		receive(t, commands)
		receive(t, commands) // the live automation: ON, then OFF
		changed := strings.Replace(motionLightYAML, "brightness: 200", "brightness: 254", 1)
		body, _ := json.Marshal(map[string]string{"yaml": changed, "since": "1h"})
		var res automations.WhatIfResult
		if code := postJSON(t, api+"/whatif", string(body), &res); code != 200 || len(res.Commands) != 2 || res.Events == 0 {
			t.Fatalf("%d %+v", code, res)
		}
		var on map[string]any
		_ = json.Unmarshal(res.Commands[0].Payload, &on)
		if on["brightness"] != 254.0 || len(res.Traces) != 1 {
			t.Fatalf("planned %+v, traces %d", res.Commands, len(res.Traces))
		}
		select {
		case m := <-commands:
			t.Fatalf("the what-if sent %s", m.Payload())
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("a what-if says the likely typos its YAML has, as loading it would", func(t *testing.T) {
		typo := strings.Replace(motionLightYAML, "occupancy == true", "occupancy == tru", 1)
		if typo == motionLightYAML {
			t.Fatal("the automation has no occupancy == true to misspell")
		}
		body, _ := json.Marshal(map[string]string{"yaml": typo, "since": "1h"})
		var res struct {
			Commands []any
			Warnings []hearth.AutomationProblem
		}
		if code := postJSON(t, api+"/whatif", string(body), &res); code != 200 || res.Commands == nil || len(res.Warnings) == 0 ||
			!strings.Contains(res.Warnings[0].Message, "did you mean true?") || res.Warnings[0].File != "what-if.yaml" {
			t.Fatalf("%d %+v", code, res)
		}
	})

	t.Run("a what-if of YAML with mistakes is a 422 that lists them", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"yaml": brokenYAML})
		var res struct{ Problems []hearth.AutomationProblem }
		if code := postJSON(t, api+"/whatif", string(body), &res); code != 422 || len(res.Problems) < 2 || res.Problems[0].File != "what-if.yaml" {
			t.Fatalf("%d %+v", code, res)
		}
	})
}

// TestBrowserReloadRunNowAndWhatIf drives the automations views of a hub
// with an automations file: warnings, run now twice, a reload with
// mistakes and a good one, and a what-if from an automation's page.
func TestBrowserReloadRunNowAndWhatIf(t *testing.T) {
	b := webtest.Start(t)
	app, cfg := startHub(t, motionLightYAML+porchYAML)
	home := "http://" + app.HTTPAddr().String() + "/"
	sensor := connect(t, app.MQTTAddr().String(), "hall_motion")
	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":12}`)
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":false}`)
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)

	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(home + "#/automations")
	tab.WaitJS(`document.querySelectorAll('.auto-list .card').length === 2 && !document.querySelector('.head-actions .button').hidden`)

	t.Run("the warnings of the load are shown, without those the page has since seen", func(t *testing.T) {
		tab.WaitJS(`document.querySelector('.notice-warn')`)
		text := webtest.Eval[string](tab, `document.querySelector('.notice-warn').textContent`)
		if !strings.Contains(text, `"porch_light"`) || strings.Contains(text, `"hall_motion"`) {
			t.Fatalf("warnings read %q", text)
		}
		tab.Screenshot("hub-automations-warnings-desktop")
	})

	t.Run("run now twice on a single automation says the second was not started", func(t *testing.T) {
		card := `[data-automation="porch_light_by_hand"]`
		tab.Click(card + ` .run-now`)
		tab.WaitJS(`document.querySelector('` + card + ` .auto-status').textContent === 'Started run 1.'`)
		tab.Click(card + ` .run-now`)
		tab.WaitJS(`document.querySelector('` + card + ` .auto-status').textContent.startsWith('Not started: a run is still going')`)
		tab.WaitJS(`document.querySelector('` + card + ` .auto-last .chip').textContent === 'Running'`)
	})

	t.Run("a reload with mistakes shows them at the top, and a good one clears them", func(t *testing.T) {
		replaceFile(t, cfg.Automations, motionLightYAML+brokenYAML)
		tab.Click(`.head-actions .button`)
		tab.WaitJS(`document.querySelector('#reload-status').textContent.startsWith('Not reloaded') && document.querySelectorAll('.notice-bad .problem-list li').length >= 2`)
		if n := webtest.Eval[int](tab, `document.querySelectorAll('.auto-list .card').length`); n != 2 {
			t.Fatalf("%d automations listed after a bad reload, want the 2 still running", n)
		}
		tab.Screenshot("hub-automations-problems-desktop")
		phone := b.NewTab(t, webtest.PhoneDark)
		phone.Navigate(home + "#/automations")
		phone.WaitJS(`document.querySelectorAll('.notice-bad .problem-list li').length >= 2`)
		noSideways(t, phone, "the list with mistakes")
		phone.Screenshot("hub-automations-problems-phone-dark")
		phone.NoErrors()

		replaceFile(t, cfg.Automations, motionLightYAML+porchYAML)
		tab.Click(`.head-actions .button`)
		tab.WaitJS(`document.querySelector('#reload-status').textContent.startsWith('Reloaded: ') && !document.querySelector('.notice-bad')`)
	})

	t.Run("a what-if from an automation's page lists the commands it would have sent", func(t *testing.T) {
		tab.Navigate(home + "?whatif#/automations/hall_light_on_motion")
		tab.WaitJS(`document.querySelector('.runs .run .step-command')`)
		tab.Click(`.whatif summary`)
		webtest.Eval[bool](tab, `(() => {
			const ta = document.querySelector('.whatif textarea');
			ta.value = ta.value.replace('brightness: 200', 'brightness: 254');
			document.querySelector('.whatif select').value = '1h';
			return true; })()`)
		tab.Click(`.whatif button[type=submit]`)
		tab.WaitJS(`document.querySelectorAll('.whatif-out .planned li').length === 2`)
		first := webtest.Eval[string](tab, `document.querySelector('.whatif-out .planned li').textContent`)
		if !strings.Contains(first, "turn on, brightness 100%") || !strings.Contains(first, "after event #") {
			t.Fatalf("the first planned command reads %q", first)
		}
		webtest.Eval[bool](tab, `(() => { document.querySelector('.whatif-out').scrollIntoView(); return true; })()`)
		tab.Screenshot("hub-whatif-desktop")
		phone := b.NewTab(t, webtest.Phone)
		phone.Navigate(home + "?whatif#/automations/hall_light_on_motion")
		phone.WaitJS(`document.querySelector('.whatif summary')`)
		phone.Click(`.whatif summary`)
		phone.Click(`.whatif button[type=submit]`)
		phone.WaitJS(`document.querySelectorAll('.whatif-out .planned li').length === 2`)
		webtest.Eval[bool](phone, `(() => { document.querySelector('.whatif-out').scrollIntoView(); return true; })()`)
		phone.Screenshot("hub-whatif-phone")
		noSideways(t, phone, "the what-if")
		phone.NoErrors()
	})
	tab.NoErrors("/api/automations/") // the 409 and the 422 are the point
	t.Logf("screenshots: %s (hub-*.png)", webtest.ScreenshotDir(t))
}
