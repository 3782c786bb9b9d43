package hmacauth

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// kongPattern is the pattern Kong's access.lua reads the parameters with;
// Go's leftmost-first submatches are PCRE's.
var kongPattern = regexp.MustCompile(`\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"`)

func patternParse(v string) (params, bool) {
	m := kongPattern.FindStringSubmatch(v)
	if m == nil {
		return params{}, false
	}
	alg, _ := algorithmByName(m[2])
	return params{username: m[1], algorithm: alg, headers: m[3], signature: m[4]}, true
}

// TestParseMatchesPattern holds parseAuthorization to Kong's pattern on
// the spec's values and on many values built from the pattern's pieces
// (separators repeated, out of order, quotes and spaces in values).
func TestParseMatchesPattern(t *testing.T) {
	fixed := []string{
		"", "asd", "hmac username", "hmac :dXNlcm5hbWU6cGFzc3dvcmQ=",
		"hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ=",
		`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="c2ln"`,
		`"hmac username="bob",algorithm="hmac-sha1",headers="date",signature="not really a base64 encoded value!!!"`,
		`hmac username="bob",  algorithm="hmac-sha1", headers="date content-md5 request-line", signature="x"`,
		`hmac username="bob",  algorithm="hmac-sha1" headers="date", signature="x"`,
		`Hmac username="a",algorithm="b",headers="c",signature="d"`,
		`HMAC username="a",algorithm="b",headers="c",signature="d"`,
		`hmac username="",algorithm="b",headers="c",signature="d"`,
		`hmac username="a",algorithm="b",headers="c",signature=""`,
		`hmac username="a",algorithm="b",headers="c",signature="d", algorithm="e",headers="f",signature="g"`,
		`xhmac hmac username="a",algorithm="b",headers="c",signature="d"`,
		"hmac username=\"a\",\t\r algorithm=\"b\",headers=\"c\",signature=\"d\" trailing",
	}
	for _, v := range fixed {
		checkParse(t, v)
	}
	pieces := []string{
		`hmac `, `Hmac`, `hmac  username="`, `username="`, `",`, `", `, `algorithm="`, `headers="`,
		`signature="`, `"`, `a`, `bob`, ` `, "\t", `hmac-sha1`, `mac`, `h`, `=`, `,`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b strings.Builder
		b.WriteString(pieces[r.IntN(3)])
		for range r.IntN(14) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		checkParse(t, b.String())
		// And the skeleton with noise.
		s := []string{`hmac`, ` username="`, `x`, `",`, ` algorithm="`, `y`, `",`, ` headers="`, `z`, `",`, ` signature="`, `w`, `"`}
		for range r.IntN(4) {
			i := r.IntN(len(s) + 1)
			s = append(s[:i], append([]string{pieces[r.IntN(len(pieces))]}, s[i:]...)...)
		}
		checkParse(t, strings.Join(s, ""))
	}
}

func checkParse(t *testing.T, v string) {
	t.Helper()
	want, wantOK := patternParse(v)
	got, ok := parseAuthorization(v)
	if ok != wantOK || got != want {
		t.Fatalf("parse %q:\n got %+v %v\nwant %+v %v", v, got, ok, want, wantOK)
	}
}
