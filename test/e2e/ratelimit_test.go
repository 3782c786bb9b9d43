package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// rateLimitConfig follows the scenarios of Kong's
// spec/03-plugins/23-rate-limiting/04-access_spec.lua, one route (or
// service) each. POLICY is replaced by the policy's fields.
const rateLimitConfig = `
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
  acls: [{group: gold}, {group: beta}]
- username: bob
  keyauth_credentials: [{key: bob-key}]
- username: carol
  keyauth_credentials: [{key: carol-key}]
  acls: [{group: gold}]
services:
- name: ip
  url: UPSTREAM
  routes: [{name: ip, paths: [/ip]}]
  plugins:
  - name: rate-limiting
    id: 6f9d9a8e-2c1b-4e43-9d0e-3f1e5c7b0a11
    config: {minute: 6, limit_by: ip, POLICY}
- name: hide
  url: UPSTREAM
  routes: [{name: hide, paths: [/hide]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, limit_by: ip, hide_client_headers: true, POLICY}
- name: multi
  url: UPSTREAM
  routes: [{name: multi, paths: [/multi]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, hour: 99999, limit_by: ip, POLICY}
- name: expire
  url: UPSTREAM
  routes: [{name: expire, paths: [/expire]}]
  plugins:
  - name: rate-limiting
    config: {second: 1, limit_by: ip, POLICY}
- name: custom
  url: UPSTREAM
  routes: [{name: custom, paths: [/custom]}]
  plugins:
  - name: rate-limiting
    config: {minute: 1, limit_by: ip, error_code: 404, error_message: Fake Not Found, POLICY}
- name: header
  url: UPSTREAM
  routes: [{name: header, paths: [/header]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, limit_by: header, header_name: test-header-1, POLICY}
- name: path
  url: UPSTREAM
  routes: [{name: path-1, paths: [/1-path]}, {name: path-2, paths: [/2-path]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, limit_by: path, path: /1-path, POLICY}
- name: svc-1
  url: UPSTREAM
  routes: [{name: svc-1, paths: [/1-svc]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, limit_by: service, POLICY}
- name: svc-2
  url: UPSTREAM
  routes: [{name: svc-2, paths: [/2-svc]}]
  plugins:
  - name: rate-limiting
    config: {minute: 6, limit_by: service, POLICY}
- name: consumer
  url: UPSTREAM
  routes: [{name: consumer, paths: [/consumer]}]
  plugins:
  - name: key-auth
    config: {key_names: [test-key]}
  - name: rate-limiting
    instance_name: per-consumer
    config: {minute: 6, POLICY}
- name: credential
  url: UPSTREAM
  routes: [{name: credential, paths: [/credential]}]
  plugins:
  - name: key-auth
    config: {key_names: [test-key]}
  - name: rate-limiting
    config: {minute: 6, limit_by: credential, POLICY}
- name: scoped
  url: UPSTREAM
  routes: [{name: scoped, paths: [/scoped]}]
  plugins:
  - name: key-auth
    config: {key_names: [test-key]}
  - name: rate-limiting
    config: {minute: 2, POLICY}
- name: group
  url: UPSTREAM
  routes: [{name: group, paths: [/group]}]
  plugins:
  - name: key-auth
    config: {key_names: [test-key]}
  - name: rate-limiting
    config: {minute: 3, limit_by: consumer-group, POLICY}
- name: claim
  url: UPSTREAM
  routes: [{name: claim, paths: [/claim]}]
  plugins:
  - name: rate-limiting
    config: {minute: 2, limit_by: jwt-claim, claim_name: client_id, POLICY}
plugins:
- name: rate-limiting
  consumer: alice
  service: scoped
  config: {minute: 4, POLICY}
`

func rateLimitDoc(upstream, policy string) string {
	return strings.NewReplacer("UPSTREAM", upstream, "POLICY", policy).Replace(rateLimitConfig)
}

func redisPolicy(r *gwtest.Redis, extra string) string {
	return "policy: redis, redis: {host: 127.0.0.1, port: " + strconv.Itoa(r.Port) + ", timeout: 300" + extra + "}"
}

// awayFromMinuteEnd waits for the next minute when fewer than 8 seconds
// are left in this one, so a few requests checked against a minute limit
// all fall in the same window (Kong's suite retries such a test instead).
func awayFromMinuteEnd() {
	now := time.Now()
	if now.Second() >= 52 {
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute + 50*time.Millisecond).Sub(now))
	}
}

// rlClient sends requests from a given loopback address, so tests can be
// several clients (IPs) at once. Its idle connections are closed when the
// test ends, before the gateway started earlier is stopped (a gateway
// drains open connections before it exits).
func rlClient(t *testing.T, localIP string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

type rlResponse struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func rlGet(t *testing.T, client *http.Client, url string, header ...string) rlResponse {
	t.Helper()
	req := gwtest.NewRequest(t, http.MethodGet, url, "", header...)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rlResponse{status: resp.StatusCode, header: resp.Header, body: string(body), took: time.Since(start)}
}

// validateHeaders is Kong's validate_headers: seven requests against a
// limit of 6 a minute.
func validateHeaders(t *testing.T, send func() rlResponse) {
	t.Helper()
	awayFromMinuteEnd()
	var status, limitMin, remainingMin, limit, remaining []string
	for range 7 {
		r := send()
		status = append(status, strconv.Itoa(r.status))
		limitMin = append(limitMin, r.header.Get("X-RateLimit-Limit-Minute"))
		remainingMin = append(remainingMin, r.header.Get("X-RateLimit-Remaining-Minute"))
		limit = append(limit, r.header.Get("RateLimit-Limit"))
		remaining = append(remaining, r.header.Get("RateLimit-Remaining"))
		if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 1 || reset > 60 {
			t.Errorf("RateLimit-Reset = %q", r.header.Get("RateLimit-Reset"))
		}
		if r.status == 429 {
			if r.header.Get("Retry-After") != r.header.Get("RateLimit-Reset") {
				t.Errorf("Retry-After %q, RateLimit-Reset %q", r.header.Get("Retry-After"), r.header.Get("RateLimit-Reset"))
			}
			var body map[string]string
			if json.Unmarshal([]byte(r.body), &body) != nil || body["message"] != "API rate limit exceeded" || body["request_id"] == "" {
				t.Errorf("429 body %q", r.body)
			}
		}
	}
	got := strings.Join([]string{
		strings.Join(status, " "), strings.Join(limitMin, " "), strings.Join(remainingMin, " "),
		strings.Join(limit, " "), strings.Join(remaining, " "),
	}, "\n")
	want := "200 200 200 200 200 200 429\n6 6 6 6 6 6 6\n5 4 3 2 1 0 0\n6 6 6 6 6 6 6\n5 4 3 2 1 0 0"
	if got != want {
		t.Errorf("status, X-RateLimit-Limit-Minute, X-RateLimit-Remaining-Minute, RateLimit-Limit, RateLimit-Remaining:\n%s\nwant:\n%s", got, want)
	}
}

func unsignedToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestRateLimitKongScenarios(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	for _, policy := range []string{"local", "redis"} {
		t.Run(policy, func(t *testing.T) {
			fields := "policy: local"
			if policy == "redis" {
				fields = redisPolicy(gwtest.StartRedis(t), "")
			}
			gw := gwtest.Start(t, rateLimitDoc(up.URL, fields), gwtest.Options{})
			rateLimitScenarios(t, gw)
		})
	}
}

func rateLimitScenarios(t *testing.T, gw *gwtest.Gateway) {
	c1, c2 := rlClient(t, "127.0.0.1"), rlClient(t, "127.0.0.2")
	get := func(c *http.Client, path string, header ...string) func() rlResponse {
		return func() rlResponse { return rlGet(t, c, gw.URL+path, header...) }
	}

	t.Run("single and multiple ip", func(t *testing.T) {
		validateHeaders(t, get(c1, "/ip"))
		validateHeaders(t, get(c2, "/ip"))
	})
	t.Run("hide_client_headers", func(t *testing.T) {
		for i := 0; ; i++ {
			r := rlGet(t, c1, gw.URL+"/hide")
			for _, h := range []string{"X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
				if r.header.Get(h) != "" {
					t.Fatalf("request %d has %s", i, h)
				}
			}
			if r.status == 429 {
				break
			}
			if i > 10 {
				t.Fatal("never limited")
			}
		}
	})
	t.Run("multiple limits", func(t *testing.T) {
		validateHeaders(t, get(c1, "/multi"))
		if r := rlGet(t, c1, gw.URL+"/multi"); r.header.Get("X-RateLimit-Limit-Hour") != "99999" || r.header.Get("X-RateLimit-Remaining-Hour") != "99993" {
			t.Errorf("hour headers: %v", r.header)
		}
	})
	t.Run("expire counter", func(t *testing.T) {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		r := rlGet(t, c1, gw.URL+"/expire")
		if r.status != 200 || r.header.Get("RateLimit-Limit") != "1" || r.header.Get("RateLimit-Remaining") != "0" ||
			r.header.Get("X-RateLimit-Limit-Second") != "1" || r.header.Get("X-RateLimit-Remaining-Second") != "0" {
			t.Fatalf("first: %d %v", r.status, r.header)
		}
		if r := rlGet(t, c1, gw.URL+"/expire"); r.status != 429 || !strings.Contains(r.body, "API rate limit exceeded") {
			t.Fatalf("second: %d %s", r.status, r.body)
		}
		time.Sleep(time.Second)
		if r := rlGet(t, c1, gw.URL+"/expire"); r.status != 200 {
			t.Fatalf("next second: %d", r.status)
		}
	})
	t.Run("custom error code and message", func(t *testing.T) {
		awayFromMinuteEnd()
		if r := rlGet(t, c1, gw.URL+"/custom"); r.status != 200 {
			t.Fatalf("first: %d", r.status)
		}
		r := rlGet(t, c1, gw.URL+"/custom")
		var body map[string]string
		if r.status != 404 || json.Unmarshal([]byte(r.body), &body) != nil || body["message"] != "Fake Not Found" {
			t.Fatalf("second: %d %s", r.status, r.body)
		}
	})
	t.Run("multiple header", func(t *testing.T) {
		validateHeaders(t, get(c1, "/header", "test-header-1", "test"))
		// Without the header, requests are counted by IP.
		validateHeaders(t, get(c1, "/header", "test-header-2", "test"))
	})
	t.Run("multiple path", func(t *testing.T) {
		validateHeaders(t, get(c1, "/1-path"))
		validateHeaders(t, get(c1, "/2-path"))
	})
	t.Run("multiple service", func(t *testing.T) {
		validateHeaders(t, get(c1, "/1-svc"))
		validateHeaders(t, get(c1, "/2-svc"))
	})
	t.Run("multiple consumer", func(t *testing.T) {
		validateHeaders(t, get(c1, "/consumer", "test-key", "alice-key"))
		validateHeaders(t, get(c1, "/consumer", "test-key", "bob-key"))
	})
	t.Run("multiple credential", func(t *testing.T) {
		validateHeaders(t, get(c1, "/credential", "test-key", "alice-key"))
		validateHeaders(t, get(c1, "/credential", "test-key", "bob-key"))
	})
	t.Run("consumer-scoped limit", func(t *testing.T) {
		awayFromMinuteEnd()
		count := func(key string) int {
			n := 0
			for range 6 {
				if rlGet(t, c1, gw.URL+"/scoped", "test-key", key).status == 200 {
					n++
				}
			}
			return n
		}
		if a, b := count("alice-key"), count("bob-key"); a != 4 || b != 2 {
			t.Fatalf("alice passed %d (want 4), bob %d (want 2)", a, b)
		}
	})
	t.Run("consumer-group", func(t *testing.T) {
		awayFromMinuteEnd()
		var got []int
		for _, key := range []string{"alice-key", "carol-key", "alice-key", "carol-key", "bob-key"} {
			got = append(got, rlGet(t, c1, gw.URL+"/group", "test-key", key).status)
		}
		// alice and carol share gold's 3; bob has no group and is counted by IP.
		if fmt.Sprint(got) != "[200 200 200 429 200]" {
			t.Fatalf("statuses %v", got)
		}
	})
	t.Run("jwt-claim", func(t *testing.T) {
		awayFromMinuteEnd()
		app1 := "Bearer " + unsignedToken(`{"client_id":"app-1"}`)
		app2 := "Bearer " + unsignedToken(`{"client_id":"app-2"}`)
		var got []int
		for _, auth := range []string{app1, app1, app1, app2, app2} {
			got = append(got, rlGet(t, c1, gw.URL+"/claim", "Authorization", auth).status)
		}
		if fmt.Sprint(got) != "[200 200 429 200 200]" {
			t.Fatalf("statuses %v", got)
		}
	})
	t.Run("admin usage", func(t *testing.T) {
		awayFromMinuteEnd()
		c3 := rlClient(t, "127.0.0.3")
		for range 3 {
			rlGet(t, c3, gw.URL+"/consumer", "test-key", "carol-key")
		}
		rlGet(t, c3, gw.URL+"/ip")
		// The plugin named by its instance_name, the consumer by username.
		code, body := adminCall(t, gw, http.MethodGet, "/rate-limits/per-consumer/carol", "")
		ws, _ := body["windows"].([]any)
		if code != 200 || len(ws) != 1 || body["limit_by"] != "consumer" || body["window_type"] != "fixed" {
			t.Fatalf("by instance_name: %d %v", code, body)
		}
		w := ws[0].(map[string]any)
		if w["period"] != "minute" || w["limit"] != 6.0 || w["remaining"] != 3.0 || w["reset"].(float64) < 1 {
			t.Fatalf("by instance_name: window %v", w)
		}
		// By plugin id, an IP.
		code, body = adminCall(t, gw, http.MethodGet, "/rate-limits/6f9d9a8e-2c1b-4e43-9d0e-3f1e5c7b0a11/127.0.0.3", "")
		if ws, _ := body["windows"].([]any); code != 200 || len(ws) != 1 || ws[0].(map[string]any)["remaining"] != 5.0 {
			t.Fatalf("by id: %d %v", code, body)
		}
		// Reading does not count.
		if r := rlGet(t, c3, gw.URL+"/ip"); r.header.Get("X-RateLimit-Remaining-Minute") != "4" {
			t.Fatalf("after reading: %v", r.header)
		}
		if code, _ := adminCall(t, gw, http.MethodGet, "/rate-limits/rate-limiting/x", ""); code != 400 {
			t.Fatalf("ambiguous name: %d", code)
		}
		if code, _ := adminCall(t, gw, http.MethodGet, "/rate-limits/nope/x", ""); code != 404 {
			t.Fatalf("unknown plugin: %d", code)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/metrics", nil)
		_, metrics := gwtest.Do(t, req)
		for _, want := range []string{
			`api_gateway_rate_limit_exceeded{route="ip"} 2`,
			`api_gateway_rate_limit_exceeded{route="consumer"} 2`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

// TestRateLimitJWTClaim: with the jwt plugin before it, the claim the
// rate limiter counts comes from a verified token; a forged token never
// reaches it.
func TestRateLimitJWTClaim(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	const secret = "rate-limit-test-secret-0123456789"
	gw := gwtest.Start(t, `
_format_version: "3.0"
consumers:
- username: apps
  jwt_secrets: [{key: issuer-1, secret: `+secret+`}]
services:
- name: api
  url: `+up.URL+`
  routes:
  - {name: api, paths: [/api]}
  - name: cookie
    paths: [/cookie]
    plugins:
    - name: jwt
      config: {cookie_names: [session]}
    - name: rate-limiting
      config: {hour: 1, limit_by: jwt-claim, claim_name: client_id}
  plugins:
  - name: jwt
  - name: rate-limiting
    config: {hour: 2, limit_by: jwt-claim, claim_name: client_id}
`, gwtest.Options{})
	sign := func(key, clientID string) string {
		return "Bearer " + jwtSign(t, "HS256", []byte(key), map[string]any{"iss": "issuer-1", "client_id": clientID}, nil)
	}
	c := rlClient(t, "")
	var got []int
	for _, auth := range []string{
		sign(secret, "app-1"), sign(secret, "app-1"), sign(secret, "app-1"),
		sign("not-the-secret", "app-2"),
		sign(secret, "app-2"), sign(secret, "app-2"),
	} {
		got = append(got, rlGet(t, c, gw.URL+"/api", "Authorization", auth).status)
	}
	if fmt.Sprint(got) != "[200 200 429 401 200 200]" {
		t.Fatalf("statuses %v", got)
	}
	// A token the jwt plugin found in a cookie: the rate limiter counts
	// the verified claim (read from the request alone it would find no
	// token and count both apps as one IP).
	got = got[:0]
	for _, id := range []string{"app-3", "app-4", "app-3"} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/cookie", nil)
		req.Header.Set("Cookie", "session="+strings.TrimPrefix(sign(secret, id), "Bearer "))
		resp, _ := gwtest.Do(t, req)
		got = append(got, resp.StatusCode)
	}
	if fmt.Sprint(got) != "[200 200 429]" {
		t.Fatalf("cookie statuses %v", got)
	}
}

// TestRateLimitJWTClaimAnonymous: with the jwt plugin's anonymous set, a
// token that fails verification goes on as the anonymous consumer, and
// the rate limiter must not read the claim from it: unsigned tokens with
// a new sub each time are counted by the client IP, alone and in the
// key-auth-or-jwt logical OR. A verified token still counts by its claim.
func TestRateLimitJWTClaimAnonymous(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	const secret = "rate-limit-anonymous-secret-0123456789"
	gw := gwtest.Start(t, `
_format_version: "3.0"
consumers:
- username: anonymous
- username: apps
  jwt_secrets: [{key: issuer-1, secret: `+secret+`}]
services:
- name: api
  url: `+up.URL+`
  routes:
  - name: jwt
    paths: [/jwt]
    plugins:
    - name: jwt
      config: {anonymous: anonymous}
    - name: rate-limiting
      config: {second: 1, limit_by: jwt-claim, claim_name: sub}
  - name: either
    paths: [/either]
    plugins:
    - name: key-auth
      config: {anonymous: anonymous}
    - name: jwt
      config: {anonymous: anonymous}
    - name: rate-limiting
      config: {second: 1, limit_by: jwt-claim, claim_name: sub}
`, gwtest.Options{})
	c := rlClient(t, "")
	// Three requests inside one second: wait for the next second when
	// less than half of this one is left.
	startOfSecond := func() {
		if now := time.Now(); now.Nanosecond() > 500e6 {
			time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		}
	}
	for _, path := range []string{"/jwt", "/either"} {
		startOfSecond()
		var got []int
		for i := range 3 {
			tok := unsignedToken(`{"iss":"issuer-1","sub":"forged-` + strconv.Itoa(i) + `"}`)
			got = append(got, rlGet(t, c, gw.URL+path, "Authorization", "Bearer "+tok).status)
		}
		if fmt.Sprint(got) != "[200 429 429]" {
			t.Fatalf("%s: unsigned tokens with changing sub: statuses %v, want [200 429 429]", path, got)
		}
	}
	// Verified tokens are counted by their own sub.
	sign := func(sub string) string {
		return "Bearer " + jwtSign(t, "HS256", []byte(secret), map[string]any{"iss": "issuer-1", "sub": sub}, nil)
	}
	startOfSecond()
	var got []int
	for _, sub := range []string{"user-1", "user-2", "user-1"} {
		got = append(got, rlGet(t, c, gw.URL+"/jwt", "Authorization", sign(sub)).status)
	}
	if fmt.Sprint(got) != "[200 200 429]" {
		t.Fatalf("verified tokens: statuses %v, want [200 200 429]", got)
	}
}

// TestRateLimitGlobalCredential is Kong's "global for single consumer": a
// global plugin counts a credential across services.
func TestRateLimitGlobalCredential(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, `
_format_version: "3.0"
consumers:
- username: bob
  keyauth_credentials: [{key: test-credential}]
services:
- {name: s1, url: `+up.URL+`, routes: [{paths: [/1-test]}]}
- {name: s2, url: `+up.URL+`, routes: [{paths: [/2-test]}]}
plugins:
- name: key-auth
  config: {key_names: [test-key]}
- name: rate-limiting
  config: {minute: 6, limit_by: credential}
`, gwtest.Options{})
	c := rlClient(t, "")
	validateHeaders(t, func() rlResponse { return rlGet(t, c, gw.URL+"/1-test", "test-key", "test-credential") })
	for range 7 {
		r := rlGet(t, c, gw.URL+"/2-test", "test-key", "test-credential")
		if r.status != 429 || r.header.Get("X-RateLimit-Remaining-Minute") != "0" || r.header.Get("RateLimit-Limit") != "6" {
			t.Fatalf("/2-test: %d %v", r.status, r.header)
		}
	}
}

// TestRateLimitTwoNodesExact: two gateways sharing one Redis admit exactly
// the limit out of 1,000 concurrent requests of one consumer spread over
// both. The window is an hour, so no window boundary can fall inside the
// burst unless it starts in the hour's last seconds, which it waits out.
func TestRateLimitTwoNodesExact(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	r := gwtest.StartRedis(t)
	cfg := `
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
services:
- name: api
  url: ` + up.URL + `
  routes: [{name: api, paths: [/api]}]
  plugins:
  - name: key-auth
  - name: rate-limiting
    instance_name: api-limit
    config: {hour: 100, ` + redisPolicy(r, "") + `}
`
	nodes := []*gwtest.Gateway{gwtest.Start(t, cfg, gwtest.Options{}), gwtest.Start(t, cfg, gwtest.Options{})}
	if now := time.Now(); now.Minute() == 59 && now.Second() >= 50 {
		time.Sleep(now.Truncate(time.Hour).Add(time.Hour + 100*time.Millisecond).Sub(now))
	}
	client := rlClient(t, "")
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range jobs {
				req, _ := http.NewRequest(http.MethodGet, nodes[i%2].URL+"/api", nil)
				req.Header.Set("apikey", "alice-key")
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	for i := range 1000 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 900 || other.Load() != 0 {
		t.Fatalf("passed %d, limited %d, other %d; want exactly 100 and 900", ok.Load(), limited.Load(), other.Load())
	}
	for _, gw := range nodes {
		code, body := adminCall(t, gw, http.MethodGet, "/rate-limits/api-limit/alice", "")
		if ws, _ := body["windows"].([]any); code != 200 || len(ws) != 1 || ws[0].(map[string]any)["remaining"] != 0.0 {
			t.Fatalf("usage on a node: %d %v", code, body)
		}
	}
}

// TestRateLimitRedisDown: Redis killed mid-test. Fault tolerant, requests
// pass without rate-limit headers, each within the Redis timeout, and
// counting resumes once Redis is back; not fault tolerant, they are
// answered 500 within the timeout.
func TestRateLimitRedisDown(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	r := gwtest.StartRedis(t)
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: `+up.URL+`
  routes:
  - {name: tolerant, paths: [/tolerant], plugins: [{name: rate-limiting, config: {hour: 1000, limit_by: ip, `+redisPolicy(r, "")+`}}]}
  - {name: strict, paths: [/strict], plugins: [{name: rate-limiting, config: {hour: 1000, limit_by: ip, fault_tolerant: false, `+redisPolicy(r, "")+`}}]}
`, gwtest.Options{})
	c := rlClient(t, "")
	for _, path := range []string{"/tolerant", "/strict"} {
		if res := rlGet(t, c, gw.URL+path); res.status != 200 || res.header.Get("X-RateLimit-Remaining-Hour") != "999" {
			t.Fatalf("%s before: %d %v", path, res.status, res.header)
		}
	}

	r.Stop()
	const bound = 3 * time.Second // the 300 ms Redis timeout, twice, and room for a busy machine
	for i := range 10 {
		res := rlGet(t, c, gw.URL+"/tolerant")
		if res.status != 200 || res.header.Get("X-RateLimit-Remaining-Hour") != "" || res.took > bound {
			t.Fatalf("tolerant request %d with Redis down: %d in %v, headers %v", i, res.status, res.took, res.header)
		}
		res = rlGet(t, c, gw.URL+"/strict")
		if res.status != 500 || !strings.Contains(res.body, "An unexpected error occurred") || res.took > bound {
			t.Fatalf("strict request %d with Redis down: %d in %v: %s", i, res.status, res.took, res.body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/metrics", nil)
	_, metrics := gwtest.Do(t, req)
	for _, want := range []string{
		`turnpike_rate_limit_store_errors_total{outcome="allowed",route="tolerant"} 10`,
		`turnpike_rate_limit_store_errors_total{outcome="refused",route="strict"} 10`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(gw.Stderr(), "rate-limiting: failed to get usage") {
		t.Errorf("the failure was not logged:\n%s", gw.Stderr())
	}

	// A fresh, empty Redis: counting starts again once the client's
	// breaker lets a probe through.
	r.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := rlGet(t, c, gw.URL+"/tolerant")
		if res.status == 200 && res.header.Get("X-RateLimit-Remaining-Hour") == "999" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counting did not resume: %d %v", res.status, res.header)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res := rlGet(t, c, gw.URL+"/tolerant"); res.header.Get("X-RateLimit-Remaining-Hour") != "998" {
		t.Fatalf("after resuming: %v", res.header)
	}
}

// TestRateLimitRedisHangs: a Redis that accepts connections but never
// answers costs a request at most the Redis timeout, and once the store's
// breaker opens (after 3 failures), nothing: a request then takes less
// than the 1 s timeout, which any request that waited on Redis takes at
// least.
func TestRateLimitRedisHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { io.Copy(io.Discard, c); c.Close() })
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: `+up.URL+`
  routes: [{name: api, paths: [/api]}]
  plugins:
  - name: rate-limiting
    config: {hour: 10, limit_by: ip, policy: redis, redis: {host: 127.0.0.1, port: `+strconv.Itoa(port)+`, timeout: 1000}}
`, gwtest.Options{})
	c := rlClient(t, "")
	var took []time.Duration
	for range 8 {
		res := rlGet(t, c, gw.URL+"/api")
		if res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
		took = append(took, res.took)
	}
	for i, d := range took {
		if d > 5*time.Second || (i >= 5 && d >= time.Second) {
			t.Fatalf("latencies with a silent Redis: %v", took)
		}
	}
	// Stop the gateway before the listener's cleanup waits for its
	// connections to close.
	gw.Stop()
}

// TestRateLimitTokenBucket: NGINX limit_req semantics end to end. With
// nodelay the burst passes at once and the request beyond it is refused;
// without, the burst is delayed to the rate instead.
func TestRateLimitTokenBucket(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: `+up.URL+`
  routes:
  - {name: nodelay, paths: [/nodelay], plugins: [{name: rate-limiting, config: {window_type: token-bucket, rate: 1, burst: 3, nodelay: true, limit_by: ip}}]}
  - {name: delay, paths: [/delay], plugins: [{name: rate-limiting, config: {window_type: token-bucket, rate: 10, burst: 3, limit_by: ip}}]}
`, gwtest.Options{})
	c := rlClient(t, "")
	burst := func(path string, n int) []rlResponse {
		out := make([]rlResponse, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = rlGet(t, c, gw.URL+path) })
		}
		wg.Wait()
		return out
	}

	statuses := map[int]int{}
	for _, r := range burst("/nodelay", 5) {
		statuses[r.status]++
		// Delayed to the rate of 1/s, the burst would wait 1, 2 and 3 s.
		if r.took >= time.Second {
			t.Errorf("nodelay request took %v", r.took)
		}
		if r.status == 429 && (r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Limit") != "4") {
			t.Errorf("429 headers %v", r.header)
		}
	}
	if statuses[200] != 4 || statuses[429] != 1 {
		t.Fatalf("nodelay: %v, want 4 passed and 1 refused", statuses)
	}

	statuses = map[int]int{}
	var slowest time.Duration
	for _, r := range burst("/delay", 5) {
		statuses[r.status]++
		if r.status == 200 {
			slowest = max(slowest, r.took)
		}
	}
	// 1 at once and 3 delayed to 100, 200 and 300 ms; the fifth refused.
	if statuses[200] != 4 || statuses[429] != 1 || slowest < 250*time.Millisecond || slowest > 2*time.Second {
		t.Fatalf("delay: %v, slowest admitted request %v", statuses, slowest)
	}
}

// TestRateLimitBatches: sync_rate makes each node reserve permits in
// batches; the limit still holds across nodes.
func TestRateLimitBatches(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	r := gwtest.StartRedis(t)
	cfg := `
_format_version: "3.0"
services:
- name: api
  url: ` + up.URL + `
  routes: [{name: api, paths: [/api]}]
  plugins:
  - name: rate-limiting
    config: {hour: 50, limit_by: ip, sync_rate: 10, ` + redisPolicy(r, "") + `}
`
	nodes := []*gwtest.Gateway{gwtest.Start(t, cfg, gwtest.Options{}), gwtest.Start(t, cfg, gwtest.Options{})}
	if now := time.Now(); now.Minute() == 59 && now.Second() >= 55 {
		time.Sleep(now.Truncate(time.Hour).Add(time.Hour + 100*time.Millisecond).Sub(now))
	}
	c := rlClient(t, "")
	passed := 0
	for i := range 120 {
		if rlGet(t, c, nodes[i%2].URL+"/api").status == 200 {
			passed++
		}
	}
	if passed != 50 {
		t.Fatalf("passed %d of 120, want the limit of 50", passed)
	}
}

// TestRateLimitValidation: config errors carry their field paths and
// Kong's texts, through `turnpike validate`.
func TestRateLimitValidation(t *testing.T) {
	bad := writeFile(t, "bad.yml", `
_format_version: "3.0"
services:
- name: a
  url: http://a.test
  plugins:
  - name: rate-limiting
    config: {second: 20, hour: 10}
  - name: key-auth
- name: b
  url: http://b.test
  plugins:
  - name: rate-limiting
    config: {minute: 5, limit_by: header, policy: redis, window_type: leaky}
- name: c
  url: http://c.test
  plugins:
  - name: rate-limiting
    config: {minute: 5, policy: cluster, redis_host: a, redis: {host: b}, sync_rate: 10}
plugins:
- name: rate-limiting
  config: {}
`)
	out, stderr, code := runCLI(t, nil, "validate", "-c", bad)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"services[0].plugins[0].config: The limit for hour(10.0) cannot be lower than the limit for second(20.0)",
		"services[1].plugins[0].config.window_type: expected one of: fixed, sliding, token-bucket",
		"services[1].plugins[0].config.header_name: required field missing",
		"services[1].plugins[0].config.redis.host: required field missing",
		"services[2].plugins[0].config.redis_host: both deprecated and new field are used but their values mismatch: redis_host = a vs redis.host = b",
		"services[2].plugins[0].config: sync_rate can only be used with the redis policy",
		"plugins[0].config: at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	good := writeFile(t, "good.yml", `
_format_version: "3.0"
plugins:
- name: rate-limiting
  config: {minute: 100, hour: 1000, policy: redis, redis_host: redis-host, redis_port: 6379, fault_tolerant: true, hide_client_headers: false}
`)
	if out, stderr, code := runCLI(t, nil, "validate", "-c", good); code != 0 {
		t.Fatalf("the patterns guide's example: exit %d\n%s%s", code, out, stderr)
	}
}

// TestRateLimitReloadKeepsCounters: a reload that leaves the plugin
// unchanged keeps its local counters.
func TestRateLimitReloadKeepsCounters(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cfg := func(route string) string {
		return `
_format_version: "3.0"
services:
- name: api
  url: ` + up.URL + `
  routes: [{name: api, paths: [/api]}, {name: ` + route + `, paths: [/` + route + `]}]
  plugins: [{name: rate-limiting, config: {hour: 10, limit_by: ip}}]
`
	}
	gw := gwtest.Start(t, cfg("one"), gwtest.Options{})
	c := rlClient(t, "")
	rlGet(t, c, gw.URL+"/api")
	if code, _ := adminCall(t, gw, http.MethodPost, "/config", cfg("two")); code != 201 {
		t.Fatalf("reload: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if rlGet(t, c, gw.URL+"/two").status == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := rlGet(t, c, gw.URL+"/api"); res.header.Get("X-RateLimit-Remaining-Hour") != "7" {
		t.Fatalf("after the reload: %v", res.header)
	}
}
