package ratelimiting

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func decodeResponse(t testing.TB, doc string) *ResponseConfig {
	t.Helper()
	raw, err := config.ParseRaw([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ResponseRegistration().NewConfig().(*ResponseConfig)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

func buildResponse(t testing.TB, doc string, clock *fakeClock) *ResponseInstance {
	t.Helper()
	s, errs := compileResponse(decodeResponse(t, doc))
	if errs != nil {
		t.Fatal(errs)
	}
	in, err := newResponseInstance(s, plugin.Env{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

func TestResponseRegistration(t *testing.T) {
	reg := ResponseRegistration()
	if reg.Name != "response-ratelimiting" || reg.Priority != 900 {
		t.Fatalf("registration = %+v", reg)
	}
	cfg := decodeResponse(t, `{limits: {video: {second: 1}}}`)
	one := 1.0
	if d := cmp.Diff(&ResponseConfig{HeaderName: "x-kong-limit", LimitBy: "consumer", Policy: "local", FaultTolerant: true,
		Limits: map[string]*ResponseLimit{"video": {Second: &one}}}, cfg, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Redis"
	}, cmp.Ignore())); d != "" {
		t.Fatalf("defaults (-want +got)\n%s", d)
	}
}

// The cases of Kong's spec/03-plugins/24-response-rate-limiting/01-schema_spec.lua.
func TestResponseSchema(t *testing.T) {
	tests := []struct {
		name, doc string
		want      plugin.Errors
	}{
		{"proper config", `{limits: {video: {second: 1}}}`, nil},
		{"every period", `{limits: {video: {second: 1, minute: 2, hour: 3, day: 4, month: 5, year: 6}}}`, nil},
		{"empty config", `{}`, plugin.Errors{{Path: "limits", Message: "required field missing"}}},
		{"empty limits", `{limits: {}}`, plugin.Errors{{Path: "limits", Message: "length must be at least 1"}}},
		{"null period", `{limits: {video: {second: null, minute: 1}}}`, nil},
		{"smaller unit", `{limits: {video: {second: 2, minute: 1}}}`,
			plugin.Errors{{Path: "limits", Message: "the limit for minute(1.0) cannot be lower than the limit for second(2.0)"}}},
		{"smaller unit bis", `{limits: {video: {second: 1, minute: 2, hour: 3, day: 4, month: 6, year: 5}}}`,
			plugin.Errors{{Path: "limits", Message: "the limit for year(5.0) cannot be lower than the limit for month(6.0)"}}},
		{"no period", `{limits: {video: {}}}`, plugin.Errors{{Path: "limits.video",
			Message: "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'"}}},
		{"zero", `{limits: {video: {second: 0}}}`, plugin.Errors{{Path: "limits.video.second", Message: "value must be greater than 0"}}},
		{"redis new structure", `{limits: {video: {second: 10}}, policy: redis, redis: {host: 127.0.0.1, port: 6379, database: 0,
			username: test, password: test-secret, ssl: true, ssl_verify: false, timeout: 1100, server_name: redis.test}}`, nil},
		{"redis legacy structure", `{limits: {video: {second: 10}}, policy: redis, redis_host: 127.0.0.1, redis_port: 6379,
			redis_database: 0, redis_username: test, redis_password: test-secret, redis_ssl: true, redis_ssl_verify: false,
			redis_timeout: 1100, redis_server_name: redis.test}`, nil},
		{"redis host required", `{limits: {video: {second: 10}}, policy: redis, redis: {port: 6379}}`,
			plugin.Errors{{Path: "redis.host", Message: "required field missing"}}},
		{"cluster refused in DB-less", `{limits: {video: {second: 1}}, policy: cluster}`,
			plugin.Errors{{Path: "policy", Message: "expected one of: local, redis"}}},
		{"limit_by", `{limits: {video: {second: 1}}, limit_by: service}`,
			plugin.Errors{{Path: "limit_by", Message: "expected one of: consumer, credential, ip"}}},
		{"empty header_name", `{limits: {video: {second: 1}}, header_name: ""}`,
			plugin.Errors{{Path: "header_name", Message: "length must be at least 1"}}},
		{"name not a header", `{limits: {"a b": {second: 1}}}`, plugin.Errors{{Path: "limits.a b",
			Message: "a limit's name is part of header names: letters, digits, '-' and '_' only"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewResponse(decodeResponse(t, tt.doc), plugin.Env{})
			if err == nil {
				in.(*ResponseInstance).Close()
			}
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

// respond runs one request through the instance: access, the upstream's
// answer with its X-Kong-Limit header, the header filter and the log.
func respond(t *testing.T, in *ResponseInstance, ip, kongLimit string) (*plugin.Ctx, error) {
	t.Helper()
	c := newCtx(ip)
	if err := in.Access(c); err != nil {
		return c, err
	}
	c.Resp.Status = http.StatusOK
	c.Resp.FromUpstream = true
	if kongLimit != "" {
		c.Resp.Header["X-Kong-Limit"] = []string{kongLimit}
	}
	in.HeaderFilter(c)
	in.Log(c)
	return c, nil
}

func TestResponseCounting(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	in := buildResponse(t, `{limits: {video: {second: 6, minute: 10}, image: {second: 4}}}`, clock)
	c, err := respond(t, in, "10.0.0.1", "video=2, image=1")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Resp.Header
	want := map[string]string{
		"X-Ratelimit-Limit-Video-Second": "6", "X-Ratelimit-Remaining-Video-Second": "4",
		"X-Ratelimit-Limit-Video-Minute": "10", "X-Ratelimit-Remaining-Video-Minute": "8",
		"X-Ratelimit-Limit-Image-Second": "4", "X-Ratelimit-Remaining-Image-Second": "3",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h.Get("X-Kong-Limit") != "" || c.Resp.Status != http.StatusOK {
		t.Errorf("X-Kong-Limit %q left, status %d", h.Get("X-Kong-Limit"), c.Resp.Status)
	}
	// The upstream is told the fewest left of each limit, before this
	// request's increments.
	c, _ = respond(t, in, "10.0.0.1", "video=3")
	if c.Req.Header.Get("X-Ratelimit-Remaining-Video") != "4" || c.Req.Header.Get("X-Ratelimit-Remaining-Image") != "3" {
		t.Errorf("upstream headers %v", c.Req.Header)
	}
	// video/second now has 1 left: a report of 3 fills it (Kong's counter
	// goes past the limit; here it stops at it), and the next request that
	// uses video is answered 429, the one that does not goes through.
	respond(t, in, "10.0.0.1", "video=3")
	c, _ = respond(t, in, "10.0.0.1", "image=1")
	if c.Resp.Status != http.StatusOK || c.Resp.Header.Get("X-Ratelimit-Remaining-Video-Second") != "0" {
		t.Fatalf("image only: %d %v", c.Resp.Status, c.Resp.Header)
	}
	c, _ = respond(t, in, "10.0.0.1", "video=1")
	if c.Resp.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d after video was used up", c.Resp.Status)
	}
	// Another client has its own counters; the next second frees video.
	if c, _ = respond(t, in, "10.0.0.2", "video=1"); c.Resp.Status != http.StatusOK {
		t.Errorf("other client: %d", c.Resp.Status)
	}
	clock.Add(time.Second)
	c, _ = respond(t, in, "10.0.0.1", "video=1")
	if c.Resp.Status != http.StatusOK || c.Resp.Header.Get("X-Ratelimit-Remaining-Video-Minute") != "1" {
		t.Errorf("next second: %d, minute remaining %q", c.Resp.Status, c.Resp.Header.Get("X-Ratelimit-Remaining-Video-Minute"))
	}
}

func TestResponseBlockOnFirstViolation(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	in := buildResponse(t, `{block_on_first_violation: true, limits: {video: {second: 4}, image: {second: 4}}}`, clock)
	respond(t, in, "10.0.0.1", "video=2, image=4")
	_, err := respond(t, in, "10.0.0.1", "video=2")
	var exit *plugin.Exit
	if !errors.As(err, &exit) || exit.Status != http.StatusTooManyRequests || exit.Message != "API rate limit exceeded for 'image'" {
		t.Fatalf("got %v", err)
	}
}

func TestResponseIncrementsParsing(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	in := buildResponse(t, `{hide_client_headers: true, limits: {a: {minute: 100}, b: {minute: 100}}}`, clock)
	for _, v := range []string{"a=1=2", "a", "a=-3", "a=1.5", "a=x", "zz=5", " b = 2 ,a=1,a=3", "a=1e400"} {
		respond(t, in, "10.0.0.1", v)
	}
	c, _ := respond(t, in, "10.0.0.1", "")
	if got := c.Req.Header.Get("X-Ratelimit-Remaining-A") + "/" + c.Req.Header.Get("X-Ratelimit-Remaining-B"); got != "97/98" {
		t.Errorf("remaining a/b = %s, want 97/98", got)
	}
	if len(c.Resp.Header) != 0 {
		t.Errorf("hide_client_headers: %v", c.Resp.Header)
	}
}

func TestResponseFaultTolerance(t *testing.T) {
	for _, fault := range []bool{true, false} {
		in := buildResponse(t, `{fault_tolerant: `+strconv.FormatBool(fault)+`, limits: {video: {second: 4}}}`,
			&fakeClock{now: time.Now()})
		in.store.Close()
		in.store = failStore{}
		c, err := respond(t, in, "10.0.0.1", "video=1")
		var exit *plugin.Exit
		switch {
		case fault && (err != nil || len(c.Resp.Header) != 1):
			// The upstream's header is left alone, as in Kong.
			t.Errorf("fault tolerant: %v, headers %v", err, c.Resp.Header)
		case !fault && (!errors.As(err, &exit) || exit.Status != 500 || exit.Message != "An unexpected error occurred"):
			t.Errorf("not fault tolerant: %v", err)
		}
	}
}
