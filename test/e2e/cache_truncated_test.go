package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const truncatedConfig = `
_format_version: "3.0"
services:
- name: origin
  url: %s
  retries: 0
  routes:
  - name: cut
    paths: [/cut]
    plugins:
    - name: proxy-cache
      config: {strategy: memory}
`

// TestCacheTruncatedBodyNotStored: an upstream that resets the connection
// mid-body (short of its Content-Length, or before the last chunk) leaves
// nothing in the cache: the next request is a Miss and reaches the
// upstream. A whole answer on the same path is then stored (control).
func TestCacheTruncatedBodyNotStored(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode originMode
	}{{"content-length", originTruncated}, {"chunked", originTruncatedChunked}} {
		t.Run(tc.name, func(t *testing.T) {
			o := startCacheOrigin(t)
			gw := gwtest.Start(t, fmt.Sprintf(truncatedConfig, o.URL), gwtest.Options{})
			o.setMode(tc.mode)
			for i := 1; i <= 2; i++ {
				r := cacheDo(t, http.MethodGet, gw.URL+"/cut/p")
				if r.err == nil && r.status == 200 && len(r.body) == 1000 {
					t.Fatalf("request %d: the client got a whole 1000-byte body from a truncated upstream", i)
				}
				if r.cache == "Hit" {
					t.Fatalf("request %d: X-Cache-Status Hit: the truncated body was stored", i)
				}
				if got := o.Hits("/p"); got != i {
					t.Fatalf("after request %d the upstream saw %d requests: the truncated body was served from the cache", i, got)
				}
				// A store could land after the next request: ask the
				// admin API for the key the answer's head named.
				if r.key == "" {
					t.Fatalf("request %d: no X-Cache-Key (%v)", i, r.err)
				}
				if isStored(gw, r.key, 500*time.Millisecond) {
					t.Fatalf("request %d: the truncated body is stored under %s", i, r.key)
				}
			}
			o.setMode(originOK)
			r := cacheGet(t, gw.URL+"/cut/p")
			wantCache(t, "whole answer", r, 200, "Miss", "/p #3")
			stored(t, gw, r.key)
			wantCache(t, "whole answer again", cacheGet(t, gw.URL+"/cut/p"), 200, "Hit", "/p #3")
		})
	}
}
