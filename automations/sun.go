package automations

import (
	"math"
	"time"
)

// sunTimes returns sunrise and sunset on the (UTC) date of day at a
// latitude and longitude (degrees, north and east positive), by the NOAA
// solar calculator's equations (gml.noaa.gov/grad/solcalc/calcdetails.html):
// accurate to about a minute away from the poles. ok is false on a day the
// sun does not rise or does not set.
func sunTimes(day time.Time, lat, lon float64) (rise, set time.Time, ok bool) {
	y, m, d := day.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// Evaluate the sun's position at the local solar noon, refined once.
	noon := 720 - 4*lon // minutes after midnight UTC
	var ha, eqTime float64
	for range 2 {
		jd := julianDay(midnight) + noon/1440
		var decl float64
		decl, eqTime = solarPosition(jd)
		noon = 720 - 4*lon - eqTime
		cosHA := math.Cos(rad(90.833))/(math.Cos(rad(lat))*math.Cos(rad(decl))) - math.Tan(rad(lat))*math.Tan(rad(decl))
		if cosHA < -1 || cosHA > 1 {
			return time.Time{}, time.Time{}, false
		}
		ha = deg(math.Acos(cosHA))
	}
	minutes := func(m float64) time.Time {
		return midnight.Add(time.Duration(m * float64(time.Minute))).Round(time.Second)
	}
	return minutes(noon - 4*ha), minutes(noon + 4*ha), true
}

// julianDay is the Julian day of t.
func julianDay(t time.Time) float64 {
	return float64(t.Unix())/86400 + 2440587.5
}

// solarPosition returns the sun's declination (degrees) and the equation of
// time (minutes) at Julian day jd.
func solarPosition(jd float64) (decl, eqTime float64) {
	t := (jd - 2451545) / 36525 // Julian centuries since J2000
	l0 := math.Mod(280.46646+t*(36000.76983+t*0.0003032), 360)
	mean := 357.52911 + t*(35999.05029-0.0001537*t)
	e := 0.016708634 - t*(0.000042037+0.0000001267*t)
	mr := rad(mean)
	center := math.Sin(mr)*(1.914602-t*(0.004817+0.000014*t)) + math.Sin(2*mr)*(0.019993-0.000101*t) + math.Sin(3*mr)*0.000289
	omega := 125.04 - 1934.136*t
	appLong := l0 + center - 0.00569 - 0.00478*math.Sin(rad(omega))
	obliq := 23 + (26+(21.448-t*(46.815+t*(0.00059-t*0.001813)))/60)/60
	obliqCorr := obliq + 0.00256*math.Cos(rad(omega))
	decl = deg(math.Asin(math.Sin(rad(obliqCorr)) * math.Sin(rad(appLong))))
	y := math.Pow(math.Tan(rad(obliqCorr/2)), 2)
	l0r := rad(l0)
	eqTime = 4 * deg(y*math.Sin(2*l0r)-2*e*math.Sin(mr)+4*e*y*math.Sin(mr)*math.Cos(2*l0r)-0.5*y*y*math.Sin(4*l0r)-1.25*e*e*math.Sin(2*mr))
	return decl, eqTime
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }
