package cachestore

import (
	"errors"
	"strings"
)

// Limits on what a Meta and a Selector may hold. Tags come from upstream
// response headers and patterns from invalidation requests: both are
// bounded so that neither can make an index, or a match, grow without
// limit.
const (
	MaxTags       = 64
	MaxTagLen     = 256
	MaxPatternLen = 1024
)

// Errors of Set and Invalidate for values outside the limits.
var (
	ErrTooManyTags = errors.New("cachestore: more than 64 tags, or a tag longer than 256 bytes")
	ErrEmptyTag    = errors.New("cachestore: an empty tag")
	ErrBadSelector = errors.New("cachestore: a selector sets exactly one of key, pattern, route, tag and all")
	ErrLongPattern = errors.New("cachestore: a pattern longer than 1024 bytes")
	ErrNULInKey    = errors.New("cachestore: a key with a NUL byte")
)

func checkMeta(m *Meta) error {
	if len(m.Tags) > MaxTags {
		return ErrTooManyTags
	}
	for _, t := range m.Tags {
		if len(t) > MaxTagLen {
			return ErrTooManyTags
		}
		if t == "" {
			return ErrEmptyTag
		}
	}
	return nil
}

// checkSelector reports a selector that sets other than one field, or a
// pattern too long to match in bounded time.
func checkSelector(sel *Selector) error {
	n := 0
	for _, set := range [...]bool{sel.Key != "", sel.Pattern != "", sel.RouteID != "", sel.Tag != "", sel.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return ErrBadSelector
	}
	if len(sel.Pattern) > MaxPatternLen {
		return ErrLongPattern
	}
	return nil
}

// patternByte is the pattern's element at p: a wildcard ('*' or '?',
// with lit false) or a literal byte, and the element's width. A trailing
// '\' is a literal '\'.
func patternByte(pattern string, p int) (c byte, lit bool, width int) {
	switch c = pattern[p]; c {
	case '*', '?':
		return c, false, 1
	case '\\':
		if p+1 < len(pattern) {
			return pattern[p+1], true, 2
		}
	}
	return c, true, 1
}

// Match reports whether s matches the glob pattern of Selector.Pattern.
// It backtracks to the last '*' only, so its time is at most the
// product of the two lengths.
func Match(pattern, s string) bool {
	p, i := 0, 0
	star, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			c, lit, w := patternByte(pattern, p)
			switch {
			case !lit && c == '*':
				star, starI = p, i
				p++
				continue
			case !lit || c == s[i]:
				p += w
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starI++
		p, i = star+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// redisGlob translates pattern to Redis's glob syntax, where '[' opens a
// character class: every literal byte that Redis treats specially is
// escaped, and runs of '*' collapse into one (Redis's matcher recurses
// on each).
func redisGlob(pattern string) string {
	var b strings.Builder
	b.Grow(len(pattern) + 8)
	star := false
	for p := 0; p < len(pattern); {
		c, lit, w := patternByte(pattern, p)
		p += w
		wasStar := star
		star = !lit && c == '*'
		switch {
		case star:
			if !wasStar {
				b.WriteByte('*')
			}
		case !lit:
			b.WriteByte(c)
		default:
			writeGlobLiteral(&b, c)
		}
	}
	return b.String()
}

// literalGlob escapes s for a Redis glob that matches it as it is.
func literalGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		writeGlobLiteral(&b, s[i])
	}
	return b.String()
}

// writeGlobLiteral writes c to a Redis glob as a literal byte, escaped
// when Redis's matcher would read it as a wildcard, a class or an
// escape.
func writeGlobLiteral(b *strings.Builder, c byte) {
	switch c {
	case '*', '?', '[', ']', '\\':
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}
