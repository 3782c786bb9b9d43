package cachestore

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"/api/users/*", "/api/users/42", true},
		{"/api/users/*", "/api/users/42/orders", true},
		{"/api/users/*", "/api/users", false},
		{"/api/users/*", "/api/users/", true},
		{"/api/*/orders", "/api/users/42/orders", true},
		{"/api/*/orders", "/api/users/42/orders/1", false},
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/a\\*c", "/a*c", true},
		{"/a\\*c", "/abc", false},
		{"/a\\?", "/a?", true},
		{"/a\\?", "/ab", false},
		{"/a\\", "/a\\", true},
		{"/a[b]", "/a[b]", true},
		{"/a[b]", "/ab", false},
		{"*", "", true},
		{"**", "/x", true},
		{"", "", true},
		{"", "/", false},
		{"/x\x00*", "/x\x00y", true},
		{"/*b*b*b*b*b*b*c", strings.Repeat("/b", 40), false},
	} {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestRedisGlob(t *testing.T) {
	for pattern, want := range map[string]string{
		"/api/users/*": "/api/users/*",
		"/a**b***":     "/a*b*",
		"/a\\*\\*":     "/a\\*\\*",
		"/a\\**":       "/a\\**",
		"/a[b]^-":      "/a\\[b\\]^-",
		"/a?":          "/a?",
		"/a\\?":        "/a\\?",
		"/a\\":         "/a\\\\",
		"/a\\b":        "/ab",
	} {
		if got := redisGlob(pattern); got != want {
			t.Errorf("redisGlob(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func TestCheckSelector(t *testing.T) {
	for _, sel := range []Selector{{}, {Key: "k", Tag: "t"}, {All: true, RouteID: "r"}, {Pattern: strings.Repeat("a", MaxPatternLen+1)}} {
		if checkSelector(&sel) == nil {
			t.Errorf("%+v was accepted", sel)
		}
	}
	for _, sel := range []Selector{{Key: "k"}, {Pattern: "/*"}, {RouteID: "r"}, {Tag: "t"}, {All: true}} {
		if err := checkSelector(&sel); err != nil {
			t.Errorf("%+v: %v", sel, err)
		}
	}
}
