package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
)

// chartPoint is one run on the chart.
type chartPoint struct {
	rate, p50, p99 float64
	lost           bool
}

// chartSeries is one target at one QoS.
type chartSeries struct {
	name   string
	qos    byte
	color  string
	points []chartPoint
}

var seriesColors = map[string]string{
	"hub":             "#d9480f",
	peerMosquittoEcho: "#495057",
	peerNodeRED:       "#2f9e44",
	peerHubExternal:   "#7048e8",
}

// chart draws p50 (dashed) and p99 (solid) latency against the rate, both
// axes logarithmic, one panel per QoS and one colour per target. A run that
// lost events is drawn hollow: past that rate the target does not keep up.
func chart(r *Report) []byte {
	var series []chartSeries
	for _, t := range r.Targets {
		for _, q := range []byte{0, 1} {
			byRate := map[float64]chartPoint{}
			add := func(x Run, override bool) {
				if x.QoS != q || x.Latency.Count == 0 {
					return
				}
				if _, ok := byRate[x.Rate]; ok && !override {
					return
				}
				byRate[x.Rate] = chartPoint{rate: x.Rate, p50: x.Latency.P50, p99: x.Latency.P99, lost: x.Lost > 0}
			}
			for _, s := range t.Sustainable {
				for _, x := range s.Steps {
					add(x, false)
				}
			}
			for _, x := range t.Summary {
				add(x, true)
			}
			if len(byRate) == 0 {
				continue
			}
			s := chartSeries{name: t.Name, qos: q, color: seriesColors[t.Name]}
			if s.color == "" {
				s.color = "#1971c2"
			}
			for _, p := range byRate {
				s.points = append(s.points, p)
			}
			slices.SortFunc(s.points, func(a, b chartPoint) int { return int(math.Copysign(1, a.rate-b.rate)) })
			series = append(series, s)
		}
	}

	const (
		w, h                     = 980, 500
		left, right, top, bottom = 70, 20, 50, 90
		gap                      = 60
	)
	// Both panels share their axes, so that they compare at a glance.
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.points {
			xmin, xmax = math.Min(xmin, p.rate), math.Max(xmax, p.rate)
			ymin, ymax = math.Min(ymin, math.Max(p.p50, 0.001)), math.Max(ymax, p.p99)
		}
	}
	if len(series) == 0 {
		xmin, xmax, ymin, ymax = 1, 10, 0.1, 1
	}
	lx0, lx1 := math.Floor(math.Log10(xmin)), math.Ceil(math.Log10(xmax))
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if lx1 == lx0 {
		lx1++
	}
	if ly1 == ly0 {
		ly1++
	}
	pw, ph := float64(w-left-right-gap)/2, float64(h-top-bottom)

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Motion → light latency against rate: p99 solid, p50 dashed</text>`+"\n", left)
	for panel, q := range []byte{0, 1} {
		x0 := float64(left) + float64(panel)*(pw+gap)
		x := func(v float64) float64 { return x0 + (math.Log10(v)-lx0)/(lx1-lx0)*pw }
		y := func(v float64) float64 {
			return float64(top) + ph - (math.Log10(math.Max(v, math.Pow(10, ly0)))-ly0)/(ly1-ly0)*ph
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" font-weight="bold">QoS %d</text>`+"\n", x0, top-8, q)
		for e := lx0; e <= lx1; e++ {
			px := x(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="#dee2e6"/>`+"\n", px, top, px, float64(top)+ph)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", px, float64(top)+ph+16, rateLabel(math.Pow(10, e)))
		}
		for e := ly0; e <= ly1; e++ {
			py := y(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dee2e6"/>`+"\n", x0, py, x0+pw, py)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, py+4, msLabel(math.Pow(10, e)))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">sensor events per second</text>`+"\n", x0+pw/2, float64(top)+ph+34)
		fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">latency, ms</text>`+"\n", x0-48, float64(top)+ph/2)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#868e96"/>`+"\n", x0, top, pw, ph)
		for _, s := range series {
			if s.qos != q {
				continue
			}
			for _, pct := range []struct {
				get  func(chartPoint) float64
				dash string
			}{{func(p chartPoint) float64 { return p.p99 }, ""}, {func(p chartPoint) float64 { return p.p50 }, ` stroke-dasharray="5 4"`}} {
				var pts bytes.Buffer
				for _, p := range s.points {
					fmt.Fprintf(&pts, "%.1f,%.1f ", x(p.rate), y(pct.get(p)))
				}
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8"%s/>`+"\n", bytes.TrimSpace(pts.Bytes()), s.color, pct.dash)
				for _, p := range s.points {
					fill := s.color
					if p.lost {
						fill = "#fff"
					}
					marker(&b, x(p.rate), y(pct.get(p)), s.color, fill)
				}
			}
		}
	}

	// The legend: one entry per target, then how to read the lines.
	var names []string
	for _, s := range series {
		if !slices.Contains(names, s.name) {
			names = append(names, s.name)
		}
	}
	ly := float64(h - 22)
	lx := float64(left)
	for _, name := range names {
		color := seriesColors[name]
		if color == "" {
			color = "#1971c2"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"/>`+"\n", lx, ly, lx+24, ly, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(name))
		lx += 44 + 8*float64(len(name))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#495057">hollow marker: events lost at that rate</text>`+"\n", lx+10, ly+4)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func marker(b *bytes.Buffer, x, y float64, stroke, fill string) {
	fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n", x, y, fill, stroke)
}

func rateLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

func msLabel(v float64) string { return fmt.Sprintf("%g", v) }
