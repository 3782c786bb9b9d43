package dashboard

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// cssVars reads the colour variables of style.css's :root.
func cssVars(t *testing.T) map[string][3]float64 {
	t.Helper()
	css, err := static.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string][3]float64{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*#([0-9a-fA-F]{6})\s*;`).FindAllStringSubmatch(string(css), -1) {
		var c [3]float64
		for i := range 3 {
			v, _ := strconv.ParseUint(m[2][2*i:2*i+2], 16, 8)
			c[i] = float64(v) / 255
		}
		vars[m[1]] = c
	}
	return vars
}

// luminance is WCAG 2's relative luminance of an sRGB colour.
func luminance(c [3]float64) float64 {
	var l [3]float64
	for i, v := range c {
		if v <= 0.04045 {
			l[i] = v / 12.92
		} else {
			l[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

func contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// Every foreground/background pair the stylesheet uses meets WCAG AA:
// 4.5:1 for text, 3:1 for the focus ring and borders of controls.
func TestContrastAA(t *testing.T) {
	vars := cssVars(t)
	for _, p := range []struct {
		fg, bg string
		min    float64
	}{
		{"fg", "bg", 4.5}, {"fg", "surface", 4.5}, {"muted", "bg", 4.5}, {"muted", "surface", 4.5},
		{"accent-fg", "accent", 4.5}, {"accent", "accent-fg", 4.5}, {"accent", "bg", 4.5},
		{"link", "bg", 4.5}, {"link", "surface", 4.5},
		{"ok", "bg", 4.5}, {"ok", "surface", 4.5}, {"warn", "bg", 4.5}, {"warn", "surface", 4.5},
		{"err", "bg", 4.5}, {"err", "surface", 4.5},
		{"fg", "add-bg", 4.5}, {"fg", "del-bg", 4.5},
		{"focus", "bg", 3}, {"border", "bg", 3},
	} {
		fg, ok1 := vars[p.fg]
		bg, ok2 := vars[p.bg]
		if !ok1 || !ok2 {
			t.Errorf("style.css has no --%s or --%s", p.fg, p.bg)
			continue
		}
		if r := contrast(fg, bg); r < p.min {
			t.Errorf("--%s on --%s: contrast %.2f:1, want at least %.1f:1", p.fg, p.bg, r, p.min)
		}
	}
}

// The formula against WCAG's own reference points.
func TestContrastFormula(t *testing.T) {
	black, white := [3]float64{0, 0, 0}, [3]float64{1, 1, 1}
	if r := contrast(black, white); math.Abs(r-21) > 1e-9 {
		t.Errorf("black on white: %v, want 21", r)
	}
	grey := [3]float64{0x76 / 255.0, 0x76 / 255.0, 0x76 / 255.0}
	if r := contrast(grey, white); math.Abs(r-4.54) > 0.01 {
		t.Errorf("#767676 on white: %v, want 4.54", r)
	}
}
