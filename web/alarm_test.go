package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth"
	"hearth/devices"
	"hearth/web/webtest"
)

// alarmClock is the alarm's clock in these tests: it moves only when told
// to (or with the machine's, when live), and its delays never end (the
// tests arm without an exit delay).
type alarmClock struct {
	mu   sync.Mutex
	now  time.Time
	live bool
}

func (c *alarmClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		return time.Now()
	}
	return c.now
}

func (c *alarmClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *alarmClock) AfterFunc(time.Duration, func()) devices.Timer { return neverTimer{} }

type neverTimer struct{}

func (neverTimer) Stop() bool { return true }

// withAlarm puts the hub's alarm panel on a stack, reading its bus and
// publishing through its commander as the hub wires it, with code 1234 and
// no exit delay.
func (s *stack) withAlarm(t *testing.T, clock devices.Clock) *devices.Alarm {
	t.Helper()
	hash, err := devices.HashAlarmCode("1234")
	if err != nil {
		t.Fatal(err)
	}
	var none time.Duration
	a, err := devices.NewAlarm(devices.AlarmConfig{CodeHash: hash, ExitDelay: &none, Sensors: map[string][]string{devices.AlarmArmedAway: {"hall_motion"}}},
		devices.HubOptions{Registry: s.reg, Commander: s.cmd, Clock: clock, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sub := s.bus.Subscribe("alarm", hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Consume(ctx, sub) }()
	t.Cleanup(func() {
		a.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("alarm: %v", err)
		}
	})
	eventually(t, func() bool { d, ok := s.reg.Device("alarm"); return ok && d.State["state"] == "disarmed" })
	return a
}

// loggedIn returns a client with ann's session, ann being a page user.
func loggedIn(t *testing.T, s *stack) *http.Client {
	t.Helper()
	if err := s.store.AddWebUser(t.Context(), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Post(s.http.URL+"/api/login", "application/json", strings.NewReader(`{"name":"ann","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	return c
}

// alarmOut is the answer of POST /api/alarm as a client reads it.
type alarmOut struct {
	Error      string
	Alarm      map[string]any
	Command    uint64
	RetryAfter int `json:"retry_after"`
}

// postAlarm sends an alarm command and returns the status, the answer and
// its Retry-After header.
func postAlarm(t *testing.T, c *http.Client, url, body string) (int, alarmOut, string) {
	t.Helper()
	res, err := c.Post(url+"/api/alarm", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out alarmOut
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.StatusCode, out, res.Header.Get("Retry-After")
}

func TestAlarmAPI(t *testing.T) {
	s := newStack(t, stackOptions{accounts: true})
	clock := &alarmClock{now: time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)}
	s.web.now = clock.Now
	s.withAlarm(t, clock)
	ann := loggedIn(t, s)

	t.Run("arming with the right code arms the alarm, and the log says ann did it on the page", func(t *testing.T) {
		code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"arm_away","code":"1234"}`)
		if code != 200 || out.Error != "" || out.Alarm["state"] != "armed_away" || out.Alarm["changed_by"] != "web user ann" {
			t.Fatalf("%d %+v", code, out)
		}
		s.durable(t)
		cmd, err := s.store.Event(t.Context(), out.Command)
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Topic != "home/alarm/set" || cmd.Cause.Source != "web user ann" || strings.Contains(string(cmd.Payload), "1234") {
			t.Fatalf("the command in the log: %+v %s", cmd, cmd.Payload)
		}
		states, err := s.store.Events(t.Context(), hearth.EventQuery{Device: "alarm", Kind: hearth.KindState, Limit: 1})
		if err != nil || len(states) != 1 {
			t.Fatalf("%v %v", states, err)
		}
		var st map[string]any
		_ = json.Unmarshal(states[0].Payload, &st)
		if st["state"] != "armed_away" || st["changed_by"] != "web user ann" {
			t.Fatalf("the alarm's state in the log: %s", states[0].Payload)
		}
	})

	t.Run("no code is refused without counting as a wrong one", func(t *testing.T) {
		code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"disarm"}`)
		if code != 403 || out.Error != "the alarm needs its code" || out.Alarm["state"] != "armed_away" || out.Alarm["attempts"] != 0.0 {
			t.Fatalf("%d %+v", code, out)
		}
	})

	t.Run("a wrong code is a 403 and does not disarm", func(t *testing.T) {
		code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"disarm","code":"0000"}`)
		if code != 403 || out.Error != "wrong code" || out.Alarm["state"] != "armed_away" || out.Alarm["attempts"] != 1.0 {
			t.Fatalf("%d %+v", code, out)
		}
		if d, _ := s.reg.Device("alarm"); d.State["state"] != "armed_away" {
			t.Fatalf("the alarm is %v", d.State["state"])
		}
	})

	t.Run("the third wrong code in a row locks codes out, and says for how long", func(t *testing.T) {
		if code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"disarm","code":"1111"}`); code != 403 {
			t.Fatalf("second wrong code: %d %+v", code, out)
		}
		code, out, retry := postAlarm(t, ann, s.http.URL, `{"action":"disarm","code":"2222"}`)
		if code != 429 || out.RetryAfter != 30 || retry != "30" || !strings.Contains(out.Error, "wrong code") || !strings.Contains(out.Error, "30 s") {
			t.Fatalf("%d %+v Retry-After %q", code, out, retry)
		}
	})

	t.Run("while locked out even the right code is refused, with the time left", func(t *testing.T) {
		clock.advance(10 * time.Second)
		code, out, retry := postAlarm(t, ann, s.http.URL, `{"action":"disarm","code":"1234"}`)
		if code != 429 || out.RetryAfter != 20 || retry != "20" || out.Error != "too many wrong codes: codes are refused for another 20 s" || out.Alarm["state"] != "armed_away" {
			t.Fatalf("%d %+v", code, out)
		}
	})

	t.Run("after the lockout the right code disarms, and the state says who did it", func(t *testing.T) {
		clock.advance(21 * time.Second)
		code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"disarm","code":"1234"}`)
		if code != 200 || out.Alarm["state"] != "disarmed" || out.Alarm["changed_by"] != "web user ann" || out.Alarm["attempts"] != 0.0 {
			t.Fatalf("%d %+v", code, out)
		}
	})

	t.Run("the codes never reach the log", func(t *testing.T) {
		s.durable(t)
		evs, err := s.store.Events(t.Context(), hearth.EventQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			for _, code := range []string{"1234", "0000", "1111", "2222"} {
				if strings.Contains(string(e.Payload), code) {
					t.Fatalf("event %d has a code: %s", e.Seq, e.Payload)
				}
			}
		}
	})

	t.Run("an action the alarm does not take is a 400 and sends nothing", func(t *testing.T) {
		before := len(s.cmd.commands())
		code, out, _ := postAlarm(t, ann, s.http.URL, `{"action":"explode","code":"1234"}`)
		if code != 400 || !strings.Contains(out.Error, "arm_away, arm_home, arm_night, disarm") || len(s.cmd.commands()) != before {
			t.Fatalf("%d %+v", code, out)
		}
	})

	t.Run("without a login the alarm is not reached", func(t *testing.T) {
		code, _, _ := postAlarm(t, http.DefaultClient, s.http.URL, `{"action":"arm_away","code":"1234"}`)
		if code != 401 {
			t.Fatalf("%d", code)
		}
	})
}

func TestAlarmAPIWithoutAnAlarm(t *testing.T) {
	s := newStack(t, stackOptions{})
	code, out, _ := postAlarm(t, http.DefaultClient, s.http.URL, `{"action":"arm_away","code":"1234"}`)
	if code != 404 || !strings.Contains(out.Error, "no alarm panel") || len(s.cmd.commands()) != 0 {
		t.Fatalf("%d %+v", code, out)
	}
}

// TestBrowserAlarmLockout types wrong codes on the alarm's card until codes
// are refused, and checks that the page says for how long.
func TestBrowserAlarmLockout(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	// The machine's time: the page counts the lockout down against the
	// hub's, read from the stream's events.
	clock := &alarmClock{live: true}
	s.web.now = clock.Now
	s.withAlarm(t, clock)
	s.house(t)
	tab := b.NewTab(t, webtest.Phone)
	tab.Navigate(s.http.URL + "/")
	card := `document.querySelector('[data-device="alarm"]')`
	tab.WaitJS(card + `?.dataset.alarm === 'disarmed'`)

	t.Run("the alarm comes first, and arms with its code", func(t *testing.T) {
		if first := webtest.Eval[string](tab, `document.querySelector('.room > h2').textContent`); first != "House" {
			t.Fatalf("the first section is %q", first)
		}
		tab.Focus(`#alarm-code`)
		tab.Key("1234\r") // Enter: the first button, Away
		tab.WaitJS(card + `.dataset.alarm === 'armed_away' && ` + card + `.querySelector('.big .value').textContent === 'Armed away'`)
	})
	t.Run("wrong codes say so, and the third says for how long codes are refused", func(t *testing.T) {
		// The page counts the lockout down from 30 s.
		for i, want := range []string{"^Wrong code\\.$", "^Wrong code\\.$", "^Too many wrong codes\\. Try again in (30|29|28) s\\.$"} {
			webtest.Eval[bool](tab, `(() => { document.querySelector('#alarm-code').value = ''; return true; })()`)
			tab.Focus(`#alarm-code`)
			tab.Key(fmt.Sprintf("000%d\r", i))
			tab.WaitJS(fmt.Sprintf(`new RegExp(%q).test(document.querySelector('#alarm-error').textContent) && document.querySelectorAll('.keypad button:not(:disabled)').length === %d`, want, map[bool]int{true: 0, false: 1}[i == 2]))
			// Clear the message, so the next wait sees the next answer.
			if i < 2 {
				webtest.Eval[bool](tab, `(() => { document.querySelector('#alarm-error').textContent = ''; return true; })()`)
			}
		}
		if d, _ := s.reg.Device("alarm"); d.State["state"] != "armed_away" {
			t.Fatalf("the alarm is %v", d.State["state"])
		}
		tab.Screenshot("alarm-lockout-phone")
		desk := b.NewTab(t, webtest.DesktopDark)
		desk.Navigate(s.http.URL + "/")
		// Another page learns of the lockout from the alarm's state.
		desk.WaitJS(card + `?.dataset.alarm === 'armed_away' && /^Too many wrong codes. Try again in \d+ s.$/.test(document.querySelector('#alarm-error').textContent) &&
			document.querySelector('.keypad button').disabled`)
		desk.Screenshot("alarm-lockout-desktop-dark")
		desk.NoErrors()
	})
	tab.NoErrors("/api/alarm") // the 403s and the 429 are the point
}
