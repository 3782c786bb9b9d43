package ratelimiting

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// benchAccess runs one request's access phase, header filter and log
// phase per iteration, with an emptied Shared map as the proxy hands a
// request, over 1,000 consumers.
func benchAccess(b *testing.B, in *Instance) {
	ctxs := make([]*plugin.Ctx, 1000)
	for i := range ctxs {
		r := httptest.NewRequest(http.MethodGet, "/test", nil)
		ctxs[i] = &plugin.Ctx{
			Req: r, ClientIP: "192.0.2.1", ClientPath: "/test",
			Route:    &plugin.RouteInfo{ID: "r", Name: "bench"},
			Consumer: &plugin.Consumer{ID: "consumer-" + strconv.Itoa(i)},
			Resp:     plugin.Response{Header: http.Header{}},
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := ctxs[i%len(ctxs)]
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
		in.HeaderFilter(c)
		c.ReleaseShared()
	}
}

func BenchmarkAccess(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		benchAccess(b, build(b, `{minute: 1000000000, hour: 10000000000}`, nil))
	})
	b.Run("local-hidden-headers", func(b *testing.B) {
		benchAccess(b, build(b, `{minute: 1000000000, hide_client_headers: true}`, nil))
	})
	b.Run("local-sliding", func(b *testing.B) {
		benchAccess(b, build(b, `{minute: 1000000000, window_type: sliding}`, nil))
	})
	b.Run("local-token-bucket", func(b *testing.B) {
		benchAccess(b, build(b, `{window_type: token-bucket, rate: 1000000000, burst: 1000, nodelay: true}`, nil))
	})
	b.Run("redis", func(b *testing.B) {
		r := gwtest.StartRedis(b)
		benchAccess(b, build(b, `{minute: 1000000000, hour: 10000000000, policy: redis, redis: {host: 127.0.0.1, port: `+strconv.Itoa(r.Port)+`}}`, nil))
	})
	b.Run("redis-sync_rate-100", func(b *testing.B) {
		r := gwtest.StartRedis(b)
		benchAccess(b, build(b, `{minute: 1000000000, policy: redis, sync_rate: 100, redis: {host: 127.0.0.1, port: `+strconv.Itoa(r.Port)+`}}`, nil))
	})
}

// BenchmarkResponseRateLimiting is one request through response-ratelimiting
// with the local store: access (usage of two periods), the header filter
// reading `video=1` and setting four headers, and the log phase's count.
func BenchmarkResponseRateLimiting(b *testing.B) {
	s, errs := compileResponse(decodeResponse(b, `{limits: {video: {minute: 1000000000, hour: 1000000000}}}`))
	if errs != nil {
		b.Fatal(errs)
	}
	in, err := newResponseInstance(s, plugin.Env{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	c := newCtx("10.0.0.1")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(c.Resp.Header)
		clear(c.Shared)
		c.Resp.FromUpstream = true
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
		c.Resp.Header["X-Kong-Limit"] = []string{"video=1"}
		in.HeaderFilter(c)
		in.Log(c)
	}
}
