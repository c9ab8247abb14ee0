package bench

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// PNG renders the chart as a PNG image: the same frame, ticks, lines and legend as SVG,
// drawn with the standard library's image packages. Text uses the 7×13 bitmap face of
// golang.org/x/image/font/basicfont (the standard library has no font rasterizer; that
// module is the Go team's, and a bitmap face needs no font file).
func (c Chart) PNG() ([]byte, error) {
	f := c.frame()
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	black, grid, xgrid, frameC := rgb("#000000"), rgb("#dddddd"), rgb("#eeeeee"), rgb("#333333")
	text(img, marginL, 22, c.Title, black)
	right, bottom := marginL+f.pw, marginT+f.ph
	for _, v := range f.yticks {
		y := f.py(v)
		line(img, marginL, y, right, y, 1, grid, false)
		s := fmtTick(v)
		text(img, marginL-6-textWidth(s), int(y)+4, s, black)
	}
	for _, v := range f.xticks {
		x := f.px(v)
		line(img, x, marginT, x, bottom, 1, xgrid, false)
		s := fmtTick(v)
		text(img, int(x)-textWidth(s)/2, int(bottom)+16, s, black)
	}
	for _, e := range [][4]float64{{marginL, marginT, right, marginT}, {marginL, bottom, right, bottom}, {marginL, marginT, marginL, bottom}, {right, marginT, right, bottom}} {
		line(img, e[0], e[1], e[2], e[3], 1, frameC, false)
	}
	text(img, marginL+int(f.pw)/2-textWidth(c.XLabel)/2, chartH-10, c.XLabel, black)
	verticalText(img, 10, marginT+int(f.ph)/2+textWidth(c.YLabel)/2, c.YLabel, black)
	if f.empty {
		text(img, marginL+int(f.pw)/2-textWidth("no data")/2, marginT+int(f.ph)/2, "no data", rgb("#888888"))
	}
	for i, s := range c.Series {
		col := rgb(s.color(i))
		var pts [][2]float64
		for _, pt := range s.Points {
			if c.LogY && pt[1] <= 0 {
				continue
			}
			pts = append(pts, [2]float64{f.px(pt[0]), f.py(pt[1])})
		}
		if len(pts) == 1 {
			dot(img, pts[0][0], pts[0][1], 3, col)
		}
		for j := 1; j < len(pts); j++ {
			line(img, pts[j-1][0], pts[j-1][1], pts[j][0], pts[j][1], 2, col, s.Dashed)
		}
		ly := float64(marginT + 14 + i*18)
		line(img, right+12, ly-4, right+36, ly-4, 2, col, s.Dashed)
		text(img, int(right)+42, int(ly), s.Name, black)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// rgb parses a "#rrggbb" color (the palette's and Series.Color's form); anything else is
// black.
func rgb(s string) color.RGBA {
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{A: 255}
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return color.RGBA{A: 255}
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

// dot fills a disc of radius r at (x, y).
func dot(img *image.RGBA, x, y, r float64, c color.RGBA) {
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(int(math.Round(x+dx)), int(math.Round(y+dy)), c)
			}
		}
	}
}

// line draws from (x0, y0) to (x1, y1), width pixels wide, stepping a pixel at a time; a
// dashed line draws 6 pixels and skips 4, as the SVG's stroke-dasharray.
func line(img *image.RGBA, x0, y0, x1, y1, width float64, c color.RGBA, dashed bool) {
	n := math.Max(math.Abs(x1-x0), math.Abs(y1-y0))
	steps := int(math.Ceil(n))
	for i := 0; i <= steps; i++ {
		if dashed && i%10 >= 6 {
			continue
		}
		t := 0.0
		if steps > 0 {
			t = float64(i) / float64(steps)
		}
		x, y := x0+(x1-x0)*t, y0+(y1-y0)*t
		if width <= 1 {
			img.SetRGBA(int(math.Round(x)), int(math.Round(y)), c)
			continue
		}
		dot(img, x, y, width/2, c)
	}
}

// face is the PNG charts' font: 7 pixels wide, baseline 11 pixels below the glyph's top.
var face = basicfont.Face7x13

// textWidth is s's width in pixels.
func textWidth(s string) int { return font.MeasureString(face, s).Round() }

// text draws s with its baseline at y, starting at x.
func text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// verticalText draws s turned a quarter anticlockwise (read bottom to top), its left edge
// at x and its start at row y: drawn level into a scratch image, then copied turned.
func verticalText(img *image.RGBA, x, y int, s string, c color.Color) {
	w, h := textWidth(s), face.Height
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	text(tmp, 0, face.Ascent, s, c)
	for ty := range h {
		for tx := range w {
			if p := tmp.RGBAAt(tx, ty); p.A != 0 {
				img.SetRGBA(x+ty, y-tx, p)
			}
		}
	}
}
