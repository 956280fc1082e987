package automations

import (
	"testing"
	"time"
)

// The expected times are Paul Schlyter's sunriset.c for an altitude of
// -0.833° (the standard refraction and solar radius), as published in the
// tests of Perl's Astro::Sunrise (t/04basic.t), converted to UTC; they agree
// with NOAA's calculator to a minute or two.
func TestSunTimesMatchPublishedValues(t *testing.T) {
	cases := []struct {
		name      string
		date      string
		lat, lon  float64
		rise, set string // UTC
	}{
		{"Greenwich at new year", "2013-01-01", 51 + 28.0/60, 0, "08:05", "16:02"},
		{"Greenwich at the equinox", "2013-03-21", 51 + 28.0/60, 0, "06:00", "18:15"},
		{"Greenwich at midsummer", "2013-06-21", 51 + 28.0/60, 0, "03:43", "20:21"},
		{"Reykjavik at new year", "2013-01-01", 64 + 4.0/60, -(21 + 58.0/60), "11:18", "15:45"},
		{"Quito at new year", "2013-01-01", -0.25, -(78 + 35.0/60), "11:14", "23:22"},
		{"El Hierro at the equinox", "2013-03-21", 27 + 44.0/60, -(18 + 3.0/60), "07:15", "19:24"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			day, _ := time.Parse("2006-01-02", tc.date)
			rise, set, ok := sunTimes(day.Add(12*time.Hour), tc.lat, tc.lon)
			if !ok {
				t.Fatal("no sunrise or sunset")
			}
			for _, c := range []struct {
				what string
				got  time.Time
				want string
			}{{"sunrise", rise, tc.rise}, {"sunset", set, tc.set}} {
				w, _ := time.Parse("2006-01-02 15:04", tc.date+" "+c.want)
				if c.want < "04:00" && c.what == "sunset" {
					w = w.AddDate(0, 0, 1)
				}
				if d := c.got.Sub(w); d < -2*time.Minute || d > 2*time.Minute {
					t.Errorf("%s at %s, want %s UTC (±2m)", c.what, c.got.UTC().Format("15:04:05"), c.want)
				}
			}
		})
	}
}

func TestTheSunDoesNotRiseInPolarNight(t *testing.T) {
	// Tromsø, at the winter solstice: no sunrise; the sun trigger waits
	// for the sun to come back in January.
	if _, _, ok := sunTimes(time.Date(2013, 12, 21, 12, 0, 0, 0, time.UTC), 69.65, 18.96); ok {
		t.Error("the sun rose at Tromsø at the winter solstice")
	}
	trig := &sunTrigger{event: "sunrise"}
	next := trig.next(time.Date(2013, 12, 21, 12, 0, 0, 0, time.UTC), &where{loc: time.UTC, lat: 69.65, lon: 18.96, known: true})
	if next.Month() != time.January || next.Day() < 10 || next.Day() > 20 {
		t.Errorf("next sunrise at Tromsø after the solstice: %v, want mid-January", next)
	}
}
