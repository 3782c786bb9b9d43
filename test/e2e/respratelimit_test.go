package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestResponseRateLimiting: limits counted from the upstream's X-Kong-Limit
// header, locally and in a real redis-server shared by two gateways.
func TestResponseRateLimiting(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kong-Limit", r.URL.Query().Get("cost"))
		w.Header().Set("X-Seen-Remaining", r.Header.Get("X-RateLimit-Remaining-Video"))
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "body of ", r.URL.Path)
	}))
	t.Cleanup(up.Close)
	redis := gwtest.StartRedis(t)
	cfg := func(policy string) string {
		return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: videos
    paths: [/videos]
    plugins:
    - name: response-ratelimiting
      config:
        %s
        limits:
          video: {minute: 5, hour: 1000}
  - name: strict
    paths: [/strict]
    plugins:
    - name: response-ratelimiting
      config:
        block_on_first_violation: true
        %s
        limits:
          video: {minute: 2}
`, up.URL, policy, policy)
	}
	redisPolicy := "policy: redis\n        redis: {host: 127.0.0.1, port: " + strconv.Itoa(redis.Port) + ", timeout: 1000}"
	for _, tc := range []struct {
		name string
		gws  []*gwtest.Gateway
	}{
		{"local", []*gwtest.Gateway{gwtest.Start(t, cfg("policy: local"), gwtest.Options{})}},
		{"redis", []*gwtest.Gateway{gwtest.Start(t, cfg(redisPolicy), gwtest.Options{}), gwtest.Start(t, cfg(redisPolicy), gwtest.Options{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := func(i int) *gwtest.Gateway { return tc.gws[i%len(tc.gws)] }
			// Counts are written in the log phase, after the answer (as
			// Kong's timer does): a request that reports nothing shows
			// when they are in.
			settle := func(path, want string) {
				waitUntil(t, path+" remaining "+want, func() bool {
					resp, _ := gw(1).Get(path)
					return resp.Header.Get("X-Seen-Remaining") == want
				})
			}
			// 2 + 2 of 5: the upstream is told what was left before.
			for i, want := range []struct{ seen, remaining string }{{"5", "3"}, {"3", "1"}} {
				settle("/videos", want.seen)
				resp, body := gw(i).Get("/videos?cost=video%3D2")
				if resp.StatusCode != 200 || body != "body of /" || resp.Header.Get("X-Seen-Remaining") != want.seen ||
					resp.Header.Get("X-RateLimit-Remaining-video-minute") != want.remaining ||
					resp.Header.Get("X-RateLimit-Limit-video-minute") != "5" || resp.Header.Get("X-Kong-Limit") != "" {
					t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
				}
			}
			// 1 left, 2 reported: the counter is full; a request that
			// reports nothing passes, the next one that uses video is a
			// 429 (with the upstream's body, as Kong sends it).
			settle("/videos", "1")
			gw(0).Get("/videos?cost=video%3D2")
			settle("/videos", "0")
			resp, body := gw(1).Get("/videos?cost=video%3D1")
			if resp.StatusCode != http.StatusTooManyRequests || body != "body of /" ||
				resp.Header.Get("X-RateLimit-Remaining-video-minute") != "0" {
				t.Fatalf("over the limit: %d %q %v", resp.StatusCode, body, resp.Header)
			}

			// block_on_first_violation: refused before the upstream, with
			// Kong's message.
			gw(0).Get("/strict?cost=video%3D2")
			var resp2 *http.Response
			waitUntil(t, "/strict refused", func() bool {
				resp2, body = gw(1).Get("/strict?cost=video%3D1")
				return resp2.StatusCode != http.StatusOK
			})
			resp = resp2
			if resp.StatusCode != http.StatusTooManyRequests || kongMessage(body) != "API rate limit exceeded for 'video'" {
				t.Fatalf("block on first violation: %d %s", resp.StatusCode, body)
			}
		})
	}
}
