package devices

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hearth"
)

// AlarmConfig is the alarm: section of the hub's config file.
//
//	alarm:
//	  code_hash: "$2a$10$..."        # or code_file: /etc/hearth/alarm-code (the code, or its hash)
//	  users: [{name: alice, code_file: /etc/hearth/alice-code}]
//	  exit_delay: 60s                # arming -> armed
//	  entry_delay: 30s               # pending -> triggered
//	  trigger_time: 2m               # triggered -> armed again; 0s: until disarmed
//	  sensors:
//	    armed_away: [front_door, hall_motion, back_door]
//	    armed_night: [front_door, back_door]
//	  instant: [back_door]           # straight to triggered, no entry delay
type AlarmConfig struct {
	// CodeHash is the bcrypt hash of the code (HashAlarmCode makes one).
	CodeHash string `yaml:"code_hash,omitempty"`
	// CodeFile names a file holding the code, or its bcrypt hash.
	CodeFile string `yaml:"code_file,omitempty"`
	// Users are named codes: the state says whose code disarmed.
	Users []AlarmUser `yaml:"users,omitempty"`
	// ArmWithoutCode lets the page and MQTT clients arm without a code;
	// disarming always takes one. Automations never need one.
	ArmWithoutCode bool `yaml:"arm_without_code,omitempty"`
	// ExitDelay is the time from arming to armed; 60s when not set.
	ExitDelay *time.Duration `yaml:"exit_delay,omitempty"`
	// EntryDelay is the time from a sensor tripping (pending) to
	// triggered; 30s when not set.
	EntryDelay *time.Duration `yaml:"entry_delay,omitempty"`
	// TriggerTime is how long the alarm stays triggered before it returns
	// to its armed state; 2m when not set, 0s for until disarmed.
	TriggerTime *time.Duration `yaml:"trigger_time,omitempty"`
	// MaxAttempts is how many wrong codes in a row are allowed before
	// codes are refused for a while; 3 when zero.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// Lockout is how long codes are refused after MaxAttempts wrong ones,
	// doubling each further time (at most an hour); 30s when zero.
	Lockout time.Duration `yaml:"lockout,omitempty"`
	// Sensors lists, for each armed state (armed_away, armed_home,
	// armed_night), the devices that trip the alarm in it.
	Sensors map[string][]string `yaml:"sensors,omitempty"`
	// Instant are sensors that trigger at once, with no entry delay.
	Instant []string `yaml:"instant,omitempty"`
}

// AlarmUser is one person's code.
type AlarmUser struct {
	// Name is the person's name, said in the alarm's state.
	Name string `yaml:"name"`
	// CodeHash and CodeFile are as in AlarmConfig.
	CodeHash string `yaml:"code_hash,omitempty"`
	CodeFile string `yaml:"code_file,omitempty"`
}

// The states of the alarm panel.
const (
	AlarmDisarmed   = "disarmed"
	AlarmArming     = "arming"
	AlarmArmedAway  = "armed_away"
	AlarmArmedHome  = "armed_home"
	AlarmArmedNight = "armed_night"
	AlarmPending    = "pending"
	AlarmTriggered  = "triggered"
)

// armedStates are the states the alarm can be armed in.
var armedStates = []string{AlarmArmedAway, AlarmArmedHome, AlarmArmedNight}

// The actions of a command to the alarm ({"action":"arm_away","code":"1234"}).
var alarmActions = []string{"arm_away", "arm_home", "arm_night", "disarm", "trigger"}

// Defaults of AlarmConfig.
const (
	defaultExitDelay   = 60 * time.Second
	defaultEntryDelay  = 30 * time.Second
	defaultTriggerTime = 2 * time.Minute
	defaultMaxAttempts = 3
	defaultLockout     = 30 * time.Second
	maxLockout         = time.Hour
)

// Codes are 4 to 64 characters: bcrypt reads at most 72 bytes.
const (
	minCodeLen = 4
	maxCodeLen = 64
)

// HashAlarmCode returns the bcrypt hash of an alarm code, for code_hash.
func HashAlarmCode(code string) (string, error) {
	if len(code) < minCodeLen || len(code) > maxCodeLen {
		return "", fmt.Errorf("an alarm code has %d to %d characters", minCodeLen, maxCodeLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(code), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash alarm code: %w", err)
	}
	return string(h), nil
}

// alarmCode is one accepted code: its owner and its bcrypt hash.
type alarmCode struct {
	user string
	hash []byte
}

// alarmRules is AlarmConfig checked and compiled.
type alarmRules struct {
	codes          []alarmCode
	armWithoutCode bool
	exit, entry    time.Duration
	trigger        time.Duration
	maxAttempts    int
	lockout        time.Duration
	sensors        map[string]map[string]bool // armed state -> sensor ids
	watched        map[string]bool            // every sensor of any armed state
	instant        map[string]bool
}

// compile checks the configuration, reporting every mistake at once, and
// reads the codes. Mistakes never quote a code.
func (c AlarmConfig) compile() (*alarmRules, error) {
	var errs []error
	r := &alarmRules{
		armWithoutCode: c.ArmWithoutCode,
		exit:           durationOr(c.ExitDelay, defaultExitDelay),
		entry:          durationOr(c.EntryDelay, defaultEntryDelay),
		trigger:        durationOr(c.TriggerTime, defaultTriggerTime),
		maxAttempts:    c.MaxAttempts,
		lockout:        c.Lockout,
		sensors:        map[string]map[string]bool{},
		watched:        map[string]bool{},
		instant:        map[string]bool{},
	}
	for name, d := range map[string]time.Duration{"exit_delay": r.exit, "entry_delay": r.entry, "trigger_time": r.trigger, "lockout": r.lockout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v: want 0s or more", name, d))
		}
	}
	if r.maxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max_attempts %d: want 1 or more", r.maxAttempts))
	}
	if r.maxAttempts == 0 {
		r.maxAttempts = defaultMaxAttempts
	}
	if r.lockout == 0 {
		r.lockout = defaultLockout
	}
	if c.CodeHash != "" || c.CodeFile != "" {
		code, err := readCode("", c.CodeHash, c.CodeFile)
		if err != nil {
			errs = append(errs, err)
		} else {
			r.codes = append(r.codes, code)
		}
	}
	for i, u := range c.Users {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("users[%d]: name is required", i))
			continue
		}
		if slices.ContainsFunc(c.Users[:i], func(o AlarmUser) bool { return o.Name == u.Name }) {
			errs = append(errs, fmt.Errorf("users[%d]: %s is given twice", i, u.Name))
		}
		code, err := readCode(u.Name, u.CodeHash, u.CodeFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("users[%d]: %w", i, err))
			continue
		}
		r.codes = append(r.codes, code)
	}
	if len(r.codes) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("a code is needed to disarm: code_hash, code_file or users"))
	}
	for state, ids := range c.Sensors {
		if !slices.Contains(armedStates, state) {
			errs = append(errs, fmt.Errorf("sensors: %q is not an armed state: want %s", state, strings.Join(armedStates, ", ")))
			continue
		}
		set := map[string]bool{}
		for _, id := range ids {
			if deviceID(id) != id {
				errs = append(errs, fmt.Errorf("sensors: %s: %q is not a device id", state, id))
			}
			set[id] = true
			r.watched[id] = true
		}
		r.sensors[state] = set
	}
	for _, id := range c.Instant {
		if !r.watched[id] {
			errs = append(errs, fmt.Errorf("instant: %q is in no armed state's sensors", id))
		}
		r.instant[id] = true
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, fmt.Errorf("alarm: %w", errors.Join(errs...))
	}
	return r, nil
}

func durationOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

// readCode reads one code: a bcrypt hash given as it is, or a file holding
// the code (hashed here) or its hash.
func readCode(user, hash, file string) (alarmCode, error) {
	if hash != "" && file != "" {
		return alarmCode{}, errors.New("give code_hash or code_file, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return alarmCode{}, fmt.Errorf("code_file: %w", err)
		}
		text := string(bytes.TrimSpace(b))
		if _, err := bcrypt.Cost([]byte(text)); err == nil {
			hash = text
		} else {
			if hash, err = HashAlarmCode(text); err != nil {
				return alarmCode{}, fmt.Errorf("code_file %s: %w", file, err)
			}
		}
	}
	if hash == "" {
		return alarmCode{}, errors.New("no code: name a file holding it with code_file (the hub hashes it), or give its bcrypt hash as code_hash")
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		// The value is not repeated: it may be the code itself.
		return alarmCode{}, errors.New("code_hash is not a bcrypt hash ($2a$...): to give the code itself, put it in a file and name that with code_file; the hub hashes it")
	}
	return alarmCode{user: user, hash: []byte(hash)}, nil
}

// check compares code with every accepted code and returns whose it is.
// Each comparison costs a bcrypt hash (tens of milliseconds): the alarm
// calls it from its own goroutine, never under a lock.
func (r *alarmRules) check(code string) (user string, ok bool) {
	if len(code) == 0 || len(code) > maxCodeLen {
		return "", false
	}
	for _, c := range r.codes {
		if bcrypt.CompareHashAndPassword(c.hash, []byte(code)) == nil {
			return c.user, true
		}
	}
	return "", false
}

// lockoutAfter is how long codes are refused after the given number of
// wrong codes in a row: nothing before maxAttempts, then lockout, doubling
// at each further maxAttempts, at most maxLockout.
func (r *alarmRules) lockoutAfter(wrong int) time.Duration {
	if wrong < r.maxAttempts || wrong%r.maxAttempts != 0 {
		return 0
	}
	d := r.lockout
	for i := wrong/r.maxAttempts - 1; i > 0 && d < maxLockout; i-- {
		d *= 2
	}
	return min(d, maxLockout)
}

// tripping are the attributes that say a sensor sees someone when true.
var tripping = []string{"occupancy", "motion", "presence", "vibration", "tamper"}

// intrusionClasses are the capability classes of binary attributes that
// say a sensor sees someone when they hold their "on" value.
var intrusionClasses = map[string]bool{
	"door": true, "window": true, "opening": true, "garage_door": true, "motion": true,
	"occupancy": true, "presence": true, "moving": true, "vibration": true, "tamper": true,
}

// sensorTrips reports whether a sensor's state says it sees someone: a
// contact that is false (open: adapters report doors and windows as
// contact, true when closed), occupancy, motion, presence, vibration or
// tamper that is true, or any binary attribute whose capability has one of
// the intrusion classes and holds its "on" value (true when none is given).
func sensorTrips(state map[string]any, caps []hearth.Capability) bool {
	if v, ok := state["contact"].(bool); ok && !v {
		return true
	}
	for _, k := range tripping {
		if v, ok := state[k].(bool); ok && v {
			return true
		}
	}
	for _, c := range caps {
		if c.Type != "binary" || !intrusionClasses[c.Class] || c.Attr == "contact" || slices.Contains(tripping, c.Attr) {
			continue
		}
		v, ok := state[c.Attr]
		if !ok {
			continue
		}
		on := c.On
		if on == nil {
			on = true
		}
		if equalValue(v, on) {
			return true
		}
	}
	return false
}
