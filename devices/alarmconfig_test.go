package devices

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"hearth"
)

func TestAlarmConfigFromYAML(t *testing.T) {
	dir := t.TempDir()
	codeFile := filepath.Join(dir, "alice-code")
	if err := os.WriteFile(codeFile, []byte(rightCode+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
code_hash: "` + testHash(t, "5555") + `"
users:
  - {name: alice, code_file: ` + codeFile + `}
exit_delay: 45s
entry_delay: 0s
sensors:
  armed_away: [front_door, hall_motion]
  armed_night: [front_door]
instant: [front_door]
`
	var cfg AlarmConfig
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		t.Fatal(err)
	}
	r, err := cfg.compile()
	if err != nil {
		t.Fatal(err)
	}
	if r.exit != 45*time.Second || r.entry != 0 || r.trigger != defaultTriggerTime {
		t.Errorf("delays = %v, %v, %v; want 45s, 0s (given) and the default trigger time", r.exit, r.entry, r.trigger)
	}
	if !r.sensors[AlarmArmedNight]["front_door"] || r.sensors[AlarmArmedNight]["hall_motion"] || !r.instant["front_door"] {
		t.Errorf("sensors = %v, instant = %v", r.sensors, r.instant)
	}
	if user, ok := r.check(rightCode); !ok || user != "alice" {
		t.Errorf("alice's code from her file: %q, %v", user, ok)
	}
	if user, ok := r.check("5555"); !ok || user != "" {
		t.Errorf("the house code: %q, %v", user, ok)
	}
	if _, ok := r.check(wrongCode); ok {
		t.Error("a wrong code is accepted")
	}
}

func TestAlarmConfigMistakes(t *testing.T) {
	hash := testHash(t, rightCode)
	for _, tc := range []struct {
		name string
		cfg  AlarmConfig
		want string
	}{
		{"no code", AlarmConfig{}, "a code is needed"},
		{"a hash that is not bcrypt, and the way to give the code itself", AlarmConfig{CodeHash: rightCode}, "not a bcrypt hash ($2a$...): to give the code itself, put it in a file and name that with code_file"},
		{"a user with no code, saying how to give one", AlarmConfig{CodeHash: hash, Users: []AlarmUser{{Name: "x"}}}, "users[0]: no code: name a file holding it with code_file"},
		{"a hash and a file", AlarmConfig{CodeHash: hash, CodeFile: "x"}, "not both"},
		{"a code file that is missing", AlarmConfig{CodeFile: "/nonexistent/code"}, "code_file"},
		{"an unknown armed state", AlarmConfig{CodeHash: hash, Sensors: map[string][]string{"armed_vacation": {"a"}}}, `"armed_vacation" is not an armed state`},
		{"an instant sensor in no armed state", AlarmConfig{CodeHash: hash, Instant: []string{"door"}}, `instant: "door"`},
		{"a negative delay", AlarmConfig{CodeHash: hash, ExitDelay: dur(-time.Second)}, "exit_delay"},
		{"a user without a name", AlarmConfig{Users: []AlarmUser{{CodeHash: hash}}}, "name is required"},
		{"a sensor that is not a device id", AlarmConfig{CodeHash: hash, Sensors: map[string][]string{AlarmArmedAway: {"front door"}}}, "not a device id"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := tc.cfg.compile()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), rightCode) {
				t.Errorf("the error quotes a code: %v", err)
			}
		})
	}
}

func TestLockoutGrows(t *testing.T) {
	r := &alarmRules{maxAttempts: 3, lockout: 30 * time.Second}
	for _, tc := range []struct {
		wrong int
		want  time.Duration
	}{
		{1, 0}, {2, 0}, {3, 30 * time.Second}, {4, 0}, {6, time.Minute}, {9, 2 * time.Minute}, {12, 4 * time.Minute}, {30, maxLockout},
	} {
		if got := r.lockoutAfter(tc.wrong); got != tc.want {
			t.Errorf("after %d wrong codes: locked out for %v, want %v", tc.wrong, got, tc.want)
		}
	}
}

func TestSensorTrips(t *testing.T) {
	vibration := []hearth.Capability{{Attr: "shake", Type: "binary", Class: "vibration", On: "ON", Off: "OFF"}}
	for _, tc := range []struct {
		name  string
		state map[string]any
		caps  []hearth.Capability
		want  bool
	}{
		{"an open contact trips", map[string]any{"contact": false}, nil, true},
		{"a closed contact does not", map[string]any{"contact": true}, nil, false},
		{"occupancy trips", map[string]any{"occupancy": true, "illuminance": 3.0}, nil, true},
		{"no occupancy does not", map[string]any{"occupancy": false}, nil, false},
		{"a person's presence text does not", map[string]any{"presence": "home"}, nil, false},
		{"a binary attribute of an intrusion class at its on value trips", map[string]any{"shake": "ON"}, vibration, true},
		{"the same at its off value does not", map[string]any{"shake": "OFF"}, vibration, false},
		{"a light does not", map[string]any{"state": "ON"}, []hearth.Capability{{Attr: "state", Type: "binary", On: "ON"}}, false},
		{"nothing known does not", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sensorTrips(tc.state, tc.caps); got != tc.want {
				t.Errorf("sensorTrips(%v) = %v, want %v", tc.state, got, tc.want)
			}
		})
	}
}
