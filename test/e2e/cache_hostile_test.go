package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestCacheInvalidateRejectsBadBodies: bodies a client controls (bad
// JSON, wrong shapes, a huge pattern or body) get a 400 (413 for an
// oversized body) with a JSON message, quickly, on the admin API and on a
// route with proxy-cache-invalidate, and invalidate nothing.
func TestCacheInvalidateRejectsBadBodies(t *testing.T) {
	wantRejected(t, map[string]string{
		"bad JSON":         `{"pattern": "/inv/*"`,
		"empty":            ``,
		"array":            `[{"all": true}]`,
		"string":           `"all"`,
		"no selector":      `{}`,
		"all false":        `{"all": false}`,
		"two selectors":    `{"pattern": "/inv/*", "tag": "users"}`,
		"pattern a number": `{"pattern": 5}`,
		"all a string":     `{"all": "true"}`,
		"huge pattern":     `{"pattern": "/` + strings.Repeat("a*", 512<<10) + `"}`,
		"huge body":        `{"pattern": "/inv/*"` + strings.Repeat(" ", 8<<20) + `}`,
		"trailing data":    `{"all": true} {"all": true}`,
	})
}

// TestCacheInvalidateRejectsNUL: a selector holding a NUL can match no
// cached path (the normalised path keeps %00 encoded) nor tag (a header
// value cannot hold one), so it is a client's mistake and answered 400.
func TestCacheInvalidateRejectsNUL(t *testing.T) {
	wantRejected(t, map[string]string{
		"NUL in pattern": `{"pattern": "/inv/\u0000*"}`,
		"NUL in tag":     `{"tag": "users\u0000"}`,
		"NUL in key":     `{"key": "\u0000"}`,
	})
}

// wantRejected POSTs each body to the admin API and to a route with
// proxy-cache-invalidate and wants a 400 (413 for a body over 1 MiB) with
// a JSON message, within 3 s, and the cache untouched.
func wantRejected(t *testing.T, bodies map[string]string) {
	t.Helper()
	o := startCacheOrigin(t)
	gw := startInvalidateGateway(t, o, 0)
	warm(t, gw, "/inv/users/1", "/inv2/x")
	for _, target := range []struct{ name, url, key string }{
		{"admin", gw.AdminURL + "/cache/invalidate", ""},
		{"route", gw.URL + "/purge", "ops-key"},
	} {
		for name, body := range bodies {
			start := time.Now()
			var hdr []string
			if target.key != "" {
				hdr = []string{"apikey", target.key}
			}
			st, n, text := invalidate(t, target.url, body, hdr...)
			took := time.Since(start)
			okStatus := st == 400 || (st == 413 && len(body) > 1<<20)
			if !okStatus || n != -1 || kongMessage(text) == "" {
				t.Errorf("%s, %s: %d %.200q, want 400 with a JSON message", target.name, name, st, text)
			}
			if took > 3*time.Second {
				t.Errorf("%s, %s: answered in %v", target.name, name, took)
			}
		}
	}
	wantStates(t, gw, "after the rejected bodies", map[string]string{"/inv/users/1": "Hit", "/inv2/x": "Hit"})
}

// TestCacheInvalidateGlobBytesAreLiteral: paths and tags holding glob
// characters are matched exactly when escaped ('\*'), '[' has no meaning,
// and a tag is never a pattern.
func TestCacheInvalidateGlobBytesAreLiteral(t *testing.T) {
	o := startCacheOrigin(t)
	o.setTag("/g/a*b", "t*")
	o.setTag("/g/aXb", "tX")
	gw := startInvalidateGateway(t, o, 0)
	warm(t, gw, "/inv/g/a*b", "/inv/g/aXb")

	wantInvalidated(t, gw, `{"pattern": "/inv/g/a\\*b"}`, 1)
	wantStates(t, gw, "after the escaped pattern", map[string]string{"/inv/g/a*b": "Miss", "/inv/g/aXb": "Hit"})
	wantInvalidated(t, gw, `{"pattern": "/inv/g/a[X]b"}`, 0)
	wantInvalidated(t, gw, `{"tag": "t*"}`, 1)
	wantStates(t, gw, "after tag t*", map[string]string{"/inv/g/a*b": "Miss", "/inv/g/aXb": "Hit"})
	wantInvalidated(t, gw, `{"tag": "t?"}`, 0)
	wantInvalidated(t, gw, `{"pattern": "/inv/g/a?b"}`, 2)
}

// TestCacheInvalidatePathologicalPattern: a pattern built to make a
// backtracking matcher take exponential time over a long cached path is
// answered quickly (a 200 that matched nothing, or a 400 for its length),
// by the memory store and by the Redis one (whose server matches globs).
func TestCacheInvalidatePathologicalPattern(t *testing.T) {
	for _, strategy := range []string{"memory", "redis"} {
		t.Run(strategy, func(t *testing.T) {
			o := startCacheOrigin(t)
			cfg := fmt.Sprintf(pathologicalConfig, o.URL, "memory")
			if strategy == "redis" {
				cfg = fmt.Sprintf(pathologicalConfig, o.URL, fmt.Sprintf("redis, redis: {host: 127.0.0.1, port: %d}", gwtest.StartRedis(t).Port))
			}
			gw := gwtest.Start(t, cfg, gwtest.Options{})
			long := "/inv/" + strings.Repeat("a", 4000)
			warm(t, gw, long)

			pattern := "/inv/" + strings.Repeat("*a", 60) + "*b"
			b, _ := json.Marshal(map[string]string{"pattern": pattern})
			start := time.Now()
			st, n, text := invalidate(t, gw.AdminURL+"/cache/invalidate", string(b))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the pathological pattern took %v", took)
			}
			if (st != 200 || n != 0) && st != 400 {
				t.Fatalf("pathological pattern: %d %s, want 200 {\"invalidated\": 0} or 400", st, text)
			}
			wantStates(t, gw, "after the pathological pattern", map[string]string{long: "Hit"})
		})
	}
}

const pathologicalConfig = `
_format_version: "3.0"
services:
- name: origin
  url: %s
  routes:
  - name: inv
    paths: [/inv]
    plugins:
    - name: proxy-cache
      config: {strategy: %s}
`

// TestCacheHostileRequestPaths: request paths with NULs and glob bytes,
// and admin keys the same, never make a 5xx.
func TestCacheHostileRequestPaths(t *testing.T) {
	o := startCacheOrigin(t)
	gw := startInvalidateGateway(t, o, 0)
	for _, p := range []string{"/inv/a%00b", "/inv/%2A%3F%5C", "/inv/" + strings.Repeat("*?\\[", 2000)} {
		if r := cacheDo(t, http.MethodGet, gw.URL+p); r.err != nil || r.status >= 500 {
			t.Errorf("GET %.60s: %d %v", p, r.status, r.err)
		}
	}
	for _, p := range []string{"/proxy-cache/%00", "/proxy-cache/" + strings.Repeat("%2A", 4000), "/proxy-cache/" + invPluginID + "/caches/%00"} {
		if st, body := adminDo(t, gw, "GET", p, ""); st != 404 && st != 400 {
			t.Errorf("admin GET %.60s: %d %.200q, want 404 or 400", p, st, body)
		}
	}
}

// TestCacheUpstreamTagFlood: an upstream naming thousands of tags (and
// overlong ones) still gets its answer to the client, and the cache does
// not index them all: the tags past the store's bounds invalidate nothing.
func TestCacheUpstreamTagFlood(t *testing.T) {
	o := startCacheOrigin(t)
	tags := make([]string, 2000)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%d", i)
	}
	o.setTag("/flood", strings.Join(tags, " "))
	o.setTag("/long", "short "+strings.Repeat("x", 4096))
	gw := startInvalidateGateway(t, o, 0)
	for _, p := range []string{"/flood", "/long"} {
		r := cacheGet(t, gw.URL+"/inv"+p)
		if r.status != 200 || r.body != p+" #"+fmt.Sprint(o.hits.Load()) || o.Hits(p) != 1 {
			t.Fatalf("GET /inv%s: %d %q (X-Cache-Status %q), want the upstream's 200", p, r.status, r.body, r.cache)
		}
	}
	wantInvalidated(t, gw, `{"tag": "t1999"}`, 0)
	wantInvalidated(t, gw, `{"tag": "`+strings.Repeat("x", 4096)+`"}`, 0)
}
