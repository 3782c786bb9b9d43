// Package httpcache holds the HTTP caching rules of RFC 9111 the response
// cache applies (Cache-Control directives, freshness lifetime) and the
// binary form a cached response is stored in. It imports nothing of
// Turnpike's, so it is tested and fuzzed alone.
package httpcache

import "strings"

// Absent is the value of a numeric directive that was not given.
const Absent = -1

// maxDelta is RFC 9111's cap on delta-seconds (section 1.2.2): a larger
// value, or one that overflows, counts as this.
const maxDelta = 2147483648

// Directives are the Cache-Control directives of a request or response
// that caching decisions read. Numeric directives are Absent when not
// given.
type Directives struct {
	MaxAge, SMaxAge      int64
	MaxStale, MinFresh   int64
	StaleWhileRevalidate int64
	StaleIfError         int64
	// MaxStaleAny is max-stale without a value: any staleness will do.
	MaxStaleAny bool

	NoCache, NoStore, Private    bool
	OnlyIfCached, MustRevalidate bool
	ProxyRevalidate              bool
}

// ParseCacheControl reads the directives of the Cache-Control field
// lines values (one field, however many lines). Names are
// case-insensitive and values may be quoted. Unknown directives and junk
// between commas are ignored. A freshness directive (max-age, s-maxage)
// with an invalid value, or given twice with different values, makes the
// response stale (0), as RFC 9111 sections 4.2.1 and 5.2 allow; other
// numeric directives keep their first valid value.
func ParseCacheControl(values []string) Directives {
	d := Directives{MaxAge: Absent, SMaxAge: Absent, MaxStale: Absent, MinFresh: Absent,
		StaleWhileRevalidate: Absent, StaleIfError: Absent}
	for _, v := range values {
		for len(v) > 0 {
			var name, val string
			var hasVal bool
			name, val, hasVal, v = next(v)
			d.apply(name, val, hasVal)
		}
	}
	return d
}

// next splits the first directive off s: its name, its value (unquoted)
// and the rest after the comma that ends it.
func next(s string) (name, val string, hasVal bool, rest string) {
	s = trimOWS(s)
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	name = trimOWS(s[:i])
	if i == len(s) {
		return name, "", false, ""
	}
	if s[i] == ',' {
		return name, "", false, s[i+1:]
	}
	s = trimOWS(s[i+1:])
	if len(s) > 0 && s[0] == '"' {
		// A quoted value ends at the next unescaped quote; an escaped
		// byte inside needs unquoting, which only field-name lists
		// (no-cache="...") carry, and those are read as a whole.
		j := 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return name, s[1:], true, ""
		}
		val, rest = s[1:j], s[j+1:]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			return name, val, true, rest[k+1:]
		}
		return name, val, true, ""
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		return name, trimOWS(s), true, ""
	}
	return name, trimOWS(s[:j]), true, s[j+1:]
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func (d *Directives) apply(name, val string, hasVal bool) {
	switch {
	case strings.EqualFold(name, "max-age"):
		freshness(&d.MaxAge, val, hasVal)
	case strings.EqualFold(name, "s-maxage"):
		freshness(&d.SMaxAge, val, hasVal)
	case strings.EqualFold(name, "max-stale"):
		if !hasVal {
			d.MaxStaleAny = true
		} else {
			first(&d.MaxStale, val)
		}
	case strings.EqualFold(name, "min-fresh"):
		first(&d.MinFresh, val)
	case strings.EqualFold(name, "stale-while-revalidate"):
		first(&d.StaleWhileRevalidate, val)
	case strings.EqualFold(name, "stale-if-error"):
		first(&d.StaleIfError, val)
	case strings.EqualFold(name, "no-cache"):
		// The qualified form (no-cache="Set-Cookie") is read as the
		// whole: a shared cache that cannot strip the fields reliably
		// must not reuse the response unvalidated.
		d.NoCache = true
	case strings.EqualFold(name, "no-store"):
		d.NoStore = true
	case strings.EqualFold(name, "private"):
		d.Private = true
	case strings.EqualFold(name, "only-if-cached"):
		d.OnlyIfCached = true
	case strings.EqualFold(name, "must-revalidate"):
		d.MustRevalidate = true
	case strings.EqualFold(name, "proxy-revalidate"):
		d.ProxyRevalidate = true
	}
}

// freshness sets a freshness directive: an invalid or conflicting value
// makes it 0.
func freshness(p *int64, val string, hasVal bool) {
	n, ok := deltaSeconds(val)
	switch {
	case !hasVal || !ok:
		*p = 0
	case *p == Absent:
		*p = n
	case *p != n:
		*p = 0
	}
}

func first(p *int64, val string) {
	if *p != Absent {
		return
	}
	if n, ok := deltaSeconds(val); ok {
		*p = n
	}
}

// deltaSeconds parses RFC 9111's delta-seconds: digits only, capped.
func deltaSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta), true
}
