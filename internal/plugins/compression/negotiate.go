package compression

import "strings"

// coding is a content coding the plugin produces.
type coding uint8

const (
	zstdCoding coding = iota
	brCoding
	gzipCoding
	numCodings
	noCoding coding = numCodings
)

var codingNames = [numCodings]string{zstdCoding: "zstd", brCoding: "br", gzipCoding: "gzip"}

func codingByName(s string) (coding, bool) {
	for k, n := range codingNames {
		if s == n {
			return coding(k), true
		}
	}
	return noCoding, false
}

// qUnset marks a coding the header does not name.
const qUnset = -1

// negotiate picks the coding for an Accept-Encoding header (its values
// as received; nil when absent): the highest q-value among prefs, the
// codings the header names or covers with "*" (an explicit entry wins
// over "*"), q=0 refusing; ties go to the earlier of prefs. No header,
// or none acceptable, is noCoding. It does not allocate.
func negotiate(values []string, prefs []coding) coding {
	var q [numCodings]int
	for i := range q {
		q[i] = qUnset
	}
	star := qUnset
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			w := qValue(params)
			switch {
			case name == "*":
				star = max(star, w)
			case strings.EqualFold(name, "x-gzip"):
				q[gzipCoding] = max(q[gzipCoding], w)
			default:
				for k, n := range codingNames {
					if strings.EqualFold(name, n) {
						q[k] = max(q[k], w)
					}
				}
			}
		}
	}
	best, bestQ := noCoding, 0
	for _, k := range prefs {
		w := q[k]
		if w == qUnset {
			w = star
		}
		if w > bestQ {
			best, bestQ = k, w
		}
	}
	return best
}

// qValue reads the q parameter of an Accept-Encoding item's parameters
// in thousandths (RFC 9110's qvalue: at most three decimals, 0 to 1); no
// q parameter is 1000 and a malformed one 0, so that a client that
// garbles its header gets no coding it may not read.
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(v))
	}
	return 1000
}

func parseQ(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	n := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return n
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for i := 2; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n += int(c-'0') * scale
		scale /= 10
	}
	if n > 1000 {
		return 0
	}
	return n
}
