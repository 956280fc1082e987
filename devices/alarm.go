package devices

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"hearth"
)

// Alarm is the alarm panel, a state machine kept as the hub's device
// "alarm":
//
//	disarmed --arm_*--> arming --exit delay--> armed_away | armed_home | armed_night
//	armed_* --a sensor of that state trips--> pending --entry delay--> triggered
//	armed_* or pending --an instant sensor trips--> triggered
//	triggered --trigger time--> the armed state it came from (disarmed after a panic)
//	any --disarm, with a code--> disarmed;  any --trigger--> triggered (a panic button)
//
// Commands come as events on <base>/alarm/set, {"action":"arm_away","code":"1234"}:
// from the page (through the API), automations (set: alarm) and MQTT
// keypads. Disarming takes a code, and so does arming unless
// arm_without_code; an automation's command needs none (the automation is
// the owner's own rule, and a code written in its file would be a secret
// in plain text). Codes are compared with their bcrypt hashes in the
// alarm's own goroutine; after max_attempts wrong codes in a row, codes
// are refused for lockout, doubling at each further max_attempts. The
// registry takes the code out of the command before it is logged.
//
// A command may carry a "ref", a string the publication that answers it
// says back, so that its sender (the page, even in another process) knows
// its answer. Every transition, and every refused code, is published
// retained on <base>/alarm through the Commander, so keypads and sirens
// follow it and the log keeps it with its cause:
//
//	{"state":"pending","target":"armed_away","changed_by":"sensor hall_motion",
//	 "user":null,"code_ok":true,"attempts":0,"locked_until":null,
//	 "until":"2025-01-01T20:00:30Z","sensor":"hall_motion","sensor_name":"Hall motion"}
//
// sensor_name is the sensor's name as the page shows it (its id in words
// when it has none), for notifications to say. changed_by is "web", "automation
// <run>", "mqtt client <id>", "sensor <id>", "exit delay", "entry delay" or
// "trigger time"; user is whose code it was when codes are named. A sensor trips on the edge: when its state
// starts to say someone is there (sensorTrips), not while it keeps saying
// so, so a door left open while arming does not trip it.
//
// The state survives a restart with the other devices' states: NewAlarm
// takes it back from the registry and re-arms the running delay.
type Alarm struct {
	rules *alarmRules
	reg   *Registry
	names DeviceNames // nil: the registry's
	clock Clock
	log   *slog.Logger
	topic string // <base>/alarm
	set   string // <base>/alarm/set
	out   *outbox

	mu     sync.Mutex
	st     alarmStatus
	timer  Timer
	gen    uint64 // which timer is current: a stale one does nothing
	jobs   []alarmJob
	closed bool

	cancel context.CancelFunc
	wg     sync.WaitGroup // the publisher and armed timers
}

// alarmJob is a command waiting for the alarm's goroutine.
type alarmJob struct {
	action  string
	code    string
	hasCode bool
	trusted bool // an automation's: no code needed
	by      string
	ref     string // said back in the answer
	cause   hearth.Cause
}

// maxAlarmJobs bounds the commands waiting for a code check; more are
// refused (a client flooding the panel with guesses).
const maxAlarmJobs = 16

// NewAlarm checks cfg, registers the alarm device, takes back the state the
// registry restored (re-arming a delay that was running) and starts the
// alarm's goroutine, which publishes the state retained at once. Call
// Consume with a MustNotMiss subscription, and Close to stop.
func NewAlarm(cfg AlarmConfig, o HubOptions) (*Alarm, error) {
	if err := o.check("alarm"); err != nil {
		return nil, err
	}
	rules, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	a := &Alarm{
		rules: rules, reg: o.Registry, names: o.Names, clock: o.clock(), log: o.logger("alarm"),
		topic: o.Registry.BaseTopic() + "/" + AlarmID, set: o.Registry.SetTopic(AlarmID),
	}
	a.out = newOutbox(o.Commander, a.log)
	a.reg.addHub(AlarmID, adapterHub, &hubDevice{kind: hubAlarm, check: checkAlarmCommand, secret: alarmSecret}, alarmInfo())
	// On a new hub no device has spoken yet: the warning would only be noise.
	heard := a.reg.Heard()
	for id := range rules.watched {
		if _, known := a.reg.Info(id); !known && heard {
			a.log.Warn("an alarm sensor is not a known device yet", "device", id)
		}
	}

	a.mu.Lock()
	a.restoreLocked()
	a.publishLocked(hearth.Cause{Source: "alarm"})
	a.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.out.loop(ctx, a.step)
	}()
	a.out.signal()
	return a, nil
}

// restoreLocked takes the alarm's state back from the read model.
func (a *Alarm) restoreLocked() {
	a.st = alarmStatus{State: AlarmDisarmed}
	d, ok := a.reg.Device(AlarmID)
	if !ok {
		return
	}
	st := parseAlarmStatus(d.State)
	timed := st.State == AlarmArming || st.State == AlarmPending || st.State == AlarmTriggered
	switch {
	case st.State == AlarmDisarmed:
	case slices.Contains(armedStates, st.State), st.State == AlarmTriggered && st.Target == "":
	case timed && slices.Contains(armedStates, st.Target):
	default:
		a.log.Warn("the restored alarm state makes no sense; disarmed", "state", st.State, "target", st.Target)
		return
	}
	a.st = st
	if timed && (!st.Until.IsZero() || st.State != AlarmTriggered) { // triggered with no end waits for a disarm
		a.startTimerLocked(max(0, st.Until.Sub(a.clock.Now())), hearth.Cause{Source: "alarm"})
	}
}

// State returns the alarm's state ("armed_away").
func (a *Alarm) State() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.State
}

// Consume reads sensor states and commands from sub until the bus is
// closed or ctx is done (nil). It never waits on the bus or on a code
// check: those run in the alarm's goroutine.
func (a *Alarm) Consume(ctx context.Context, sub *hearth.Subscription) error {
	return readLoop(ctx, sub, a.log, a.Handle)
}

// Handle reads one event: a state change of a sensor, or a command.
func (a *Alarm) Handle(e hearth.Event) {
	switch {
	case e.Kind == hearth.KindState && a.rules.watched[e.Device]:
		a.sensor(e)
	case (e.Kind == hearth.KindCommand || e.Kind == hearth.KindMessage) && e.Topic == a.set:
		a.command(e)
	}
}

// command queues a command for the alarm's goroutine.
func (a *Alarm) command(e hearth.Event) {
	by := changedBy(e)
	secret, hasSecret := a.reg.takeSecret(e.Seq)
	if e.Kind == hearth.KindMessage && e.Retain {
		// A retained command would run again whenever the hub subscribes
		// anew (an external broker after a restart): it is never obeyed.
		a.log.Warn("alarm command refused: retained", "by", by, "seq", e.Seq)
		return
	}
	var m map[string]any
	if len(e.Payload) > maxSecretPayload || json.Unmarshal(e.Payload, &m) != nil {
		a.log.Warn("alarm command refused: not a JSON object", "by", by, "seq", e.Seq)
		return
	}
	action, _ := m["action"].(string)
	action = strings.ToLower(strings.TrimSpace(action))
	if !slices.Contains(alarmActions, action) {
		a.log.Warn("alarm command refused: unknown action", "by", by, "seq", e.Seq, "action", action)
		return
	}
	ref, err := alarmRef(m)
	if err != nil {
		a.log.Warn("alarm command refused", "by", by, "seq", e.Seq, "err", err)
		return
	}
	j := alarmJob{
		action: action, by: by, ref: ref,
		trusted: e.Kind == hearth.KindCommand && e.Cause.Run != "",
		cause:   hearth.Cause{Seq: e.Seq, Run: e.Cause.Run, Source: "alarm"},
	}
	switch v := m["code"].(type) {
	case string:
		j.code, j.hasCode = v, v != redactedCode // "***" without the secret: the code was lost
	case float64:
		j.code, j.hasCode = strconv.FormatFloat(v, 'f', -1, 64), true
	}
	if hasSecret {
		j.code, j.hasCode = secret, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if len(a.jobs) >= maxAlarmJobs {
		a.log.Warn("alarm command refused: too many waiting", "by", by, "seq", e.Seq)
		return
	}
	a.jobs = append(a.jobs, j)
	a.out.signal()
}

// step runs the waiting commands, then publishes; it runs in the alarm's
// goroutine.
func (a *Alarm) step(ctx context.Context) bool {
	for ctx.Err() == nil {
		a.mu.Lock()
		if len(a.jobs) == 0 {
			a.mu.Unlock()
			break
		}
		j := a.jobs[0]
		a.jobs = a.jobs[1:]
		a.mu.Unlock()
		a.run(j)
	}
	return a.out.flush(ctx)
}

// run checks a command's code, if it needs one, and applies it.
func (a *Alarm) run(j alarmJob) {
	needCode := !j.trusted && (j.action == "disarm" || strings.HasPrefix(j.action, "arm_") && !a.rules.armWithoutCode)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if !needCode {
		a.applyLocked(j, "", nil)
		a.mu.Unlock()
		return
	}
	if now := a.clock.Now(); now.Before(a.st.LockedUntil) {
		a.refuseLocked(j, "locked out after wrong codes")
		a.mu.Unlock()
		return
	}
	a.st.LockedUntil = time.Time{} // over
	if !j.hasCode {
		a.refuseLocked(j, "no code given")
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()

	user, ok := a.rules.check(j.code) // slow on purpose: outside the lock

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if !ok {
		a.st.Attempts++
		if d := a.rules.lockoutAfter(a.st.Attempts); d > 0 {
			a.st.LockedUntil = a.clock.Now().Add(d)
		}
		a.refuseLocked(j, "wrong code")
		return
	}
	a.st.Attempts, a.st.LockedUntil = 0, time.Time{}
	yes := true
	a.applyLocked(j, user, &yes)
}

// refuseLocked publishes that a command's code was refused; the state
// does not change.
func (a *Alarm) refuseLocked(j alarmJob, why string) {
	no := false
	a.st.CodeOK, a.st.Ref = &no, j.ref
	a.log.Warn("alarm code refused", "action", j.action, "by", j.by, "why", why, "attempts", a.st.Attempts, "locked_until", a.st.LockedUntil)
	a.publishLocked(j.cause)
}

// applyLocked carries out a command whose code (if needed) was right.
func (a *Alarm) applyLocked(j alarmJob, user string, codeOK *bool) {
	a.st.CodeOK, a.st.Ref = codeOK, j.ref
	switch j.action {
	case "disarm":
		if a.st.State == AlarmDisarmed {
			a.publishLocked(j.cause) // nothing to do; the keypad learns the code was right
			return
		}
		a.stopTimerLocked()
		a.setLocked(AlarmDisarmed, "", j.by, user, time.Time{}, trip{}, j.cause)
	case "trigger":
		a.triggerLocked(j.by, user, trip{}, j.cause)
	default:
		target := "armed_" + strings.TrimPrefix(j.action, "arm_")
		switch {
		case a.st.State == AlarmPending || a.st.State == AlarmTriggered:
			a.log.Warn("alarm not armed: disarm it first", "state", a.st.State, "action", j.action, "by", j.by)
			a.publishLocked(j.cause)
		case a.st.State == target || a.st.State == AlarmArming && a.st.Target == target:
			a.publishLocked(j.cause)
		case a.rules.exit == 0:
			a.stopTimerLocked()
			a.setLocked(target, target, j.by, user, time.Time{}, trip{}, j.cause)
		default:
			a.setLocked(AlarmArming, target, j.by, user, a.clock.Now().Add(a.rules.exit), trip{}, j.cause)
			a.startTimerLocked(a.rules.exit, j.cause)
		}
	}
}

// sensor reads a state change of a sensor: one that starts to say someone
// is there trips the alarm when it counts in the armed state.
func (a *Alarm) sensor(e hearth.Event) {
	var now, prev map[string]any
	if json.Unmarshal(e.Payload, &now) != nil {
		return
	}
	_ = json.Unmarshal(e.Prev, &prev) // none: it did not trip before
	var caps []hearth.Capability
	if in, ok := a.reg.Info(e.Device); ok {
		caps = in.Capabilities
	}
	if !sensorTrips(now, caps) || sensorTrips(prev, caps) {
		return
	}
	if !a.counts(e.Device) {
		return // the common case: disarmed, or a sensor this state ignores
	}
	tripped := trip{e.Device, a.name(e.Device)} // outside the lock: it may read the database
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	by, cause := "sensor "+e.Device, hearth.Cause{Seq: e.Seq, Source: "alarm"}
	switch st := a.st.State; {
	case slices.Contains(armedStates, st):
		if !a.rules.sensors[st][e.Device] {
			return
		}
		if a.rules.instant[e.Device] || a.rules.entry == 0 {
			a.triggerLocked(by, "", tripped, cause)
			return
		}
		a.setLocked(AlarmPending, st, by, "", a.clock.Now().Add(a.rules.entry), tripped, cause)
		a.startTimerLocked(a.rules.entry, cause)
	case st == AlarmPending:
		if a.rules.sensors[a.st.Target][e.Device] && a.rules.instant[e.Device] {
			a.triggerLocked(by, "", tripped, cause)
		}
	}
}

// counts reports whether a trip of sensor id changes the alarm in its
// present state. sensor checks again under its lock: the state may change
// in between.
func (a *Alarm) counts(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch st := a.st.State; {
	case slices.Contains(armedStates, st):
		return a.rules.sensors[st][id]
	case st == AlarmPending:
		return a.rules.sensors[a.st.Target][id] && a.rules.instant[id]
	}
	return false
}

// name is what people call device id, as the page shows it; its id in
// words when it has no name.
func (a *Alarm) name(id string) string {
	var name string
	if a.names != nil {
		name = a.names.DeviceName(id)
	} else if in, ok := a.reg.Info(id); ok {
		name = in.Name
	}
	if name == "" {
		return humanize(id)
	}
	return name
}

// humanize turns an id into words as the page does (web/ui/js/format.js):
// hall_motion → Hall motion.
func humanize(id string) string {
	words := strings.Join(strings.FieldsFunc(id, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), " ")
	if words == "" {
		return id
	}
	first, size := utf8.DecodeRuneInString(words)
	return string(unicode.ToUpper(first)) + words[size:]
}

// triggerLocked sets the alarm off; it returns to the state it was armed
// in after the trigger time (stays triggered until disarmed when 0).
func (a *Alarm) triggerLocked(by, user string, sensor trip, cause hearth.Cause) {
	a.stopTimerLocked()
	var until time.Time
	if a.rules.trigger > 0 {
		until = a.clock.Now().Add(a.rules.trigger)
		a.startTimerLocked(a.rules.trigger, cause)
	}
	target := a.st.Target
	if a.st.State == AlarmDisarmed {
		target = ""
	}
	a.setLocked(AlarmTriggered, target, by, user, until, sensor, cause)
}

// expire ends the delay that was running when timer gen was armed.
func (a *Alarm) expire(gen uint64, cause hearth.Cause) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || gen != a.gen {
		return
	}
	a.timer = nil
	switch a.st.State {
	case AlarmArming:
		a.setLocked(a.st.Target, a.st.Target, "exit delay", "", time.Time{}, trip{}, cause)
	case AlarmPending:
		a.triggerLocked("entry delay", "", a.st.Sensor, cause)
	case AlarmTriggered:
		next := a.st.Target
		if next == "" {
			next = AlarmDisarmed
		}
		a.setLocked(next, a.st.Target, "trigger time", "", time.Time{}, trip{}, cause)
	}
}

// setLocked makes a transition and publishes it.
func (a *Alarm) setLocked(state, target, by, user string, until time.Time, sensor trip, cause hearth.Cause) {
	from := a.st.State
	a.st.State, a.st.Target, a.st.ChangedBy, a.st.User = state, target, by, user
	a.st.Until, a.st.Sensor = until, sensor
	a.log.Info("alarm", "from", from, "to", state, "by", by, "user", user, "cause", cause.Seq)
	a.publishLocked(cause)
}

// publishLocked queues the alarm's state for the publisher. A command's
// ref is said once, by the publication that answers it.
func (a *Alarm) publishLocked(cause hearth.Cause) {
	a.out.push(hearth.Command{
		Device: AlarmID, Topic: a.topic, Payload: a.st.payload(),
		QoS: 1, Retain: true, Cause: cause,
	})
	a.st.Ref = ""
}

// startTimerLocked arms the alarm's one timer, replacing any other.
func (a *Alarm) startTimerLocked(d time.Duration, cause hearth.Cause) {
	a.stopTimerLocked()
	a.gen++
	gen := a.gen
	a.wg.Add(1) // under mu and not closed: Close has not started waiting
	a.timer = a.clock.AfterFunc(d, func() {
		defer a.wg.Done()
		a.expire(gen, cause)
	})
}

func (a *Alarm) stopTimerLocked() {
	if a.timer != nil && a.timer.Stop() {
		a.wg.Done() // its call will never run
	}
	a.timer = nil
}

// Close stops the alarm: its delays, its goroutine; what it had not
// published yet is dropped. The state stays in the registry.
func (a *Alarm) Close() {
	a.mu.Lock()
	a.closed = true
	a.stopTimerLocked()
	a.jobs = nil
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}
