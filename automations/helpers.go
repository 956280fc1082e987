package automations

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// neverChanged is what since() says of a device the engine has not seen
// change: longer than any window a condition asks about.
const neverChanged = time.Duration(math.MaxInt64)

// bindHelpers makes the expression helpers of this engine: they read its
// clock, its states and its place. They are called while an expression is
// evaluated, so under the states lock a run holds (or by the consumer, which
// owns the states).
func (e *Engine) bindHelpers() helpers {
	return helpers{
		Since: func(device string) time.Duration {
			t, ok := e.changed[device]
			if !ok {
				return neverChanged
			}
			return e.clock.Now().Sub(time.Unix(0, t))
		},
		At: func(clock string) time.Time {
			d, err := parseClock(clock)
			if err != nil {
				return time.Time{}
			}
			now := e.clock.Now().In(e.where.loc)
			y, m, day := now.Date()
			return time.Date(y, m, day, int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second), 0, e.where.loc)
		},
		Between: func(from, to string) bool {
			f, err1 := parseClock(from)
			t, err2 := parseClock(to)
			if err1 != nil || err2 != nil {
				return false
			}
			c := timeCond{after: f, before: t, hasAfter: true, hasBefore: true}
			return c.at(e.clock.Now().In(e.where.loc))
		},
		Sunrise: func() (time.Time, error) { return e.sunToday(true) },
		Sunset:  func() (time.Time, error) { return e.sunToday(false) },
	}
}

// errNoLocation is what sunrise() and sunset() fail with when the hub's
// location is not configured.
var errNoLocation = errors.New("the hub's location (latitude, longitude) is not configured")

// sunToday returns today's sunrise or sunset in the hub's zone. It fails
// when the location is not given or the sun does not rise or set today
// there: no time is the right answer then, and the zero time would make
// `now > sunset()` hold all day.
func (e *Engine) sunToday(rise bool) (time.Time, error) {
	name := "sunset()"
	if rise {
		name = "sunrise()"
	}
	if !e.where.known {
		return time.Time{}, fmt.Errorf("%s: %w", name, errNoLocation)
	}
	now := e.clock.Now().In(e.where.loc)
	y, m, d := now.Date()
	r, s, ok := sunTimes(time.Date(y, m, d, 12, 0, 0, 0, e.where.loc), e.where.lat, e.where.lon)
	if !ok {
		return time.Time{}, fmt.Errorf("%s: the sun does not rise or set at the hub's location on %s", name, now.Format(time.DateOnly))
	}
	if rise {
		return r.In(e.where.loc), nil
	}
	return s.In(e.where.loc), nil
}
