package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart is a line chart rendered as a self-contained SVG (no dependencies): the plots of a
// report (throughput and latency percentiles over time) and the overlays of a comparison.
type Chart struct {
	Title, XLabel, YLabel string
	LogY                  bool // latency spans decades: p50 and max on one chart
	Series                []Series
}

// Series is one named line; Points are (x, y) pairs in x order.
type Series struct {
	Name   string
	Dashed bool
	Color  string // "": the palette's next color
	Points [][2]float64
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

const (
	chartW, chartH                     = 860, 420
	marginL, marginR, marginT, marginB = 70, 190, 40, 50
)

// frame is a chart's scales: the data range, the ticks, and where a value lands in pixels.
// SVG and PNG draw the same frame.
type frame struct {
	xmin, xmax, ymin, ymax float64
	xticks, yticks         []float64
	pw, ph                 float64 // plot area size
	logY, empty            bool
}

// frame computes the chart's ranges and ticks (1, 2 or 5 times a power of ten; decades on a
// log axis). Points at or under 0 are left out of a log axis.
func (c Chart) frame() frame {
	f := frame{xmin: math.Inf(1), xmax: math.Inf(-1), ymin: math.Inf(1), ymax: math.Inf(-1), logY: c.LogY,
		pw: float64(chartW - marginL - marginR), ph: float64(chartH - marginT - marginB)}
	for _, s := range c.Series {
		for _, p := range s.Points {
			if c.LogY && p[1] <= 0 {
				continue
			}
			f.xmin, f.xmax = math.Min(f.xmin, p[0]), math.Max(f.xmax, p[0])
			f.ymin, f.ymax = math.Min(f.ymin, p[1]), math.Max(f.ymax, p[1])
		}
	}
	f.empty = math.IsInf(f.xmin, 1)
	if f.empty {
		f.xmin, f.xmax, f.ymin, f.ymax = 0, 1, 0, 1
		if c.LogY {
			f.ymin = 0.1 // log10(0) would make the decade loop below endless
		}
	}
	if f.xmax == f.xmin {
		f.xmax = f.xmin + 1
	}
	if c.LogY {
		lo, hi := math.Floor(math.Log10(f.ymin)), math.Ceil(math.Log10(f.ymax))
		if hi == lo {
			hi++
		}
		f.ymin, f.ymax = math.Pow(10, lo), math.Pow(10, hi)
		for e := lo; e <= hi; e++ {
			f.yticks = append(f.yticks, math.Pow(10, e))
		}
	} else {
		f.ymin = math.Min(f.ymin, 0)
		step := niceStep((f.ymax - f.ymin) / 5)
		f.ymax = math.Max(math.Ceil(f.ymax/step)*step, f.ymin+step)
		for v := f.ymin; v <= f.ymax+step/2; v += step {
			f.yticks = append(f.yticks, v)
		}
	}
	xstep := niceStep((f.xmax - f.xmin) / 8)
	for v := math.Ceil(f.xmin/xstep) * xstep; v <= f.xmax+xstep/1e6; v += xstep {
		f.xticks = append(f.xticks, v)
	}
	return f
}

// px is the pixel column of x.
func (f frame) px(x float64) float64 { return marginL + (x-f.xmin)/(f.xmax-f.xmin)*f.pw }

// py is the pixel row of y.
func (f frame) py(y float64) float64 {
	v := (y - f.ymin) / (f.ymax - f.ymin)
	if f.logY {
		v = (math.Log10(y) - math.Log10(f.ymin)) / (math.Log10(f.ymax) - math.Log10(f.ymin))
	}
	return marginT + (1-v)*f.ph
}

// SVG renders the chart.
func (c Chart) SVG() string {
	f := c.frame()
	pw, ph, px, py := f.pw, f.ph, f.px, f.py
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(c.Title))
	for _, v := range f.yticks {
		y := py(v)
		p(`<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, y, marginL+pw, y)
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, y+4, fmtTick(v))
	}
	for _, v := range f.xticks {
		x := px(v)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, marginT, x, marginT+ph)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, marginT+ph+16, fmtTick(v))
	}
	p(`<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", marginL, marginT, pw, ph)
	p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", marginL+pw/2, chartH-10, html.EscapeString(c.XLabel))
	p(`<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n", marginT+ph/2, marginT+ph/2, html.EscapeString(c.YLabel))
	if f.empty {
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#888">no data</text>`+"\n", marginL+pw/2, marginT+ph/2)
	}
	for i, s := range c.Series {
		color := s.color(i)
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, pt := range s.Points {
			if c.LogY && pt[1] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(pt[0]), py(pt[1])))
		}
		if len(pts) == 1 {
			p(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1], color)
		} else if len(pts) > 1 {
			p(`<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		}
		ly := marginT + 14 + i*18
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", marginL+pw+12, ly-4, marginL+pw+36, ly-4, color, dash)
		p(`<text x="%.1f" y="%d">%s</text>`+"\n", marginL+pw+42, ly, html.EscapeString(s.Name))
	}
	p("</svg>\n")
	return b.String()
}

// color is the series' color: its own, or the palette's i-th.
func (s Series) color(i int) string {
	if s.Color != "" {
		return s.Color
	}
	return palette[i%len(palette)]
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", math.Round(v*1e4)/1e4)
}
