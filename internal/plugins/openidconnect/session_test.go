package openidconnect

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

func ctxFor(method, target string, header ...string) *plugin.Ctx {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return &plugin.Ctx{Req: r, Scheme: "http", Resp: plugin.Response{Header: http.Header{}}}
}

// sessionCookie seals d as the request's Cookie header.
func sessionCookie(t testing.TB, in *instance, d *sessionData) string {
	lines, ok := in.sessionCookies(ctxFor("GET", "/"), d)
	if !ok {
		t.Fatal("session too large")
	}
	var parts []string
	for _, l := range lines {
		nv, _, _ := strings.Cut(l, ";")
		parts = append(parts, nv)
	}
	return strings.Join(parts, "; ")
}

func TestSessionCookie(t *testing.T) {
	in, err := build(t, func(c *Config) {
		c.SessionIdlingTimeout, c.SessionRollingTimeout, c.SessionAbsoluteTimeout = 100, 200, 1000
	})
	if err != nil {
		t.Fatal(err)
	}
	now := int64(10_000)
	in.now = func() time.Time { return time.Unix(now, 0) }
	d := &sessionData{created: now - 500, issued: now - 50, accessExpiry: now + 60,
		idToken: strings.Repeat("i", 9000), accessToken: "at", refreshToken: "rt", scope: "openid email"}
	h := sessionCookie(t, in, d)
	if strings.Count(h, "session") < 3 {
		t.Fatalf("a 9000-byte session is not chunked: %.100q", h)
	}
	got := in.openSession(ctxFor("GET", "/", "Cookie", "a=b; "+h))
	if got == nil || *got != *d {
		t.Fatalf("read back %+v", got)
	}
	for name, at := range map[string]int64{"idle": d.issued + 100, "absolute": d.created + 1000, "issued in the future": d.issued - 61} {
		now = at
		if in.openSession(ctxFor("GET", "/", "Cookie", h)) != nil {
			t.Errorf("%s: the session still opens", name)
		}
	}
	now = 10_000
	flipped := []byte(h)
	flipped[len(flipped)-3] ^= 1
	other, _ := build(t, func(c *Config) { c.SessionSecret = str("another secret") })
	for name, bad := range map[string]string{"altered": string(flipped), "truncated": h[:len(h)-20], "empty": "session=", "huge": "session=" + strings.Repeat("A", 40000)} {
		if in.openSession(ctxFor("GET", "/", "Cookie", bad)) != nil {
			t.Errorf("%s cookie opened", name)
		}
	}
	if other.openSession(ctxFor("GET", "/", "Cookie", h)) != nil {
		t.Error("a session of another secret opened")
	}
}

func TestAuthzCookieRoundTrip(t *testing.T) {
	a := authzData{created: 7, state: "s", nonce: "n", verifier: "v", redirectURI: "https://gw/cb", original: "/app?x=1"}
	var b authzData
	if !b.decode(a.encode()) || b != a {
		t.Fatalf("read back %+v", b)
	}
	if b.decode(append(a.encode(), 0)) || b.decode(a.encode()[:10]) {
		t.Error("a malformed plaintext decoded")
	}
}

func TestOriginalURLStaysOnThisHost(t *testing.T) {
	for target, want := range map[string]string{
		"/app?x=1":                        "/app?x=1",
		"//evil.example/x":                "/",
		"/a?" + strings.Repeat("q", 3000): "/a",
	} {
		r := httptest.NewRequest("GET", "http://gw"+target, nil)
		if got := originalURL(r); got != want {
			t.Errorf("%.30s: %q, want %q", target, got, want)
		}
	}
}

func TestLogoutMatch(t *testing.T) {
	in, _ := build(t, func(c *Config) { c.LogoutURISuffix, c.LogoutQueryArg = str("/logout"), str("bye") })
	for _, tc := range []struct {
		method, target string
		want           bool
	}{
		{"POST", "/app/logout", true}, {"DELETE", "/x?bye", true}, {"GET", "/app/logout", false},
		{"POST", "/app/logout/more", false}, {"POST", "/x?byebye=1", false},
	} {
		if got := in.isLogout(ctxFor(tc.method, tc.target)); got != tc.want {
			t.Errorf("%s %s: %v", tc.method, tc.target, got)
		}
	}
}

// TestStripCookies: hide_credentials removes the session's chunks, and
// only them: the application's session_id and session_lang go upstream.
func TestStripCookies(t *testing.T) {
	in, _ := build(t, func(c *Config) { c.HideCredentials = true })
	now := in.now().Unix()
	d := &sessionData{created: now, issued: now, idToken: "e30.eyJzdWIiOiJhbGljZSJ9.c2ln"}
	c := ctxFor("GET", "/", "Cookie", "a=1; "+sessionCookie(t, in, d)+"; session_id=app; session_lang=fr", "Cookie", "session_2=y")
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Req.Header["Cookie"], "|"); got != "a=1; session_id=app; session_lang=fr" {
		t.Fatalf("left %q", got)
	}
}

func TestBearerToken(t *testing.T) {
	for v, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer ": "", "Bearer": ""} {
		got, _ := bearerToken(http.Header{"Authorization": {v}})
		if got != want {
			t.Errorf("%q: %q", v, got)
		}
	}
}

// TestProviderDown: an unreachable provider is a 502 for whoever needs
// it, and a 401 for an API client without a token, never a panic.
func TestProviderDown(t *testing.T) {
	in, _ := build(t, func(c *Config) { c.Issuer = "http://127.0.0.1:1"; c.Timeout = 500 })
	if e, ok := in.Access(ctxFor("GET", "/", "Accept", "text/html")).(*plugin.Exit); !ok || e.Status != 502 {
		t.Fatalf("browser: %+v", e)
	}
	if e, ok := in.Access(ctxFor("GET", "/", "Authorization", "Bearer a.b.c")).(*plugin.Exit); !ok || e.Status != 502 {
		t.Fatalf("bearer: %+v", e)
	}
	e, ok := in.Access(ctxFor("GET", "/")).(*plugin.Exit)
	if !ok || e.Status != 401 || e.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("API client: %+v", e)
	}
}

// TestClaimHeadersNotSpoofed: a client-sent copy of a claim header never
// reaches the upstream: replaced by the claim, or removed when the token
// has no such claim or the request goes on anonymous.
func TestClaimHeadersNotSpoofed(t *testing.T) {
	in, _ := build(t, func(c *Config) {
		c.UpstreamHeadersClaims, c.UpstreamHeadersNames = []string{"email", "sub"}, []string{"x-email", "X-Sub"}
		c.Anonymous = str("anon")
	})
	now := in.now().Unix()
	// Payload {"sub":"alice"}: no email claim.
	d := &sessionData{created: now, issued: now, idToken: "e30.eyJzdWIiOiJhbGljZSJ9.c2ln"}
	c := ctxFor("GET", "/", "Cookie", sessionCookie(t, in, d), "X-Email", "admin@evil", "X-Sub", "root")
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	if c.Req.Header.Get("X-Sub") != "alice" || c.Req.Header["X-Email"] != nil {
		t.Fatalf("session: %q", c.Req.Header)
	}
	c = ctxFor("GET", "/", "X-Email", "admin@evil")
	c.Directory = &plugintest.Directory{Consumers: []*plugin.Consumer{{ID: "a1", Username: "anon"}}}
	if err := in.Access(c); err != nil || c.Req.Header["X-Email"] != nil || c.Consumer == nil {
		t.Fatalf("anonymous: %v %q", err, c.Req.Header)
	}
}

// TestProviderDownFailsFast: once discovery failed, requests (browsers
// and bearer tokens) do not each wait on the provider again for a while,
// also when the failed attempt took longer than the verifier's
// throttle (a second from an attempt's start: two discovery documents of
// 800 ms each).
func TestProviderDownFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // accepts nothing: every call waits for its timeout
	for _, timeout := range []float64{300, 800} {
		in, _ := build(t, func(c *Config) { c.Issuer = "http://" + l.Addr().String(); c.Timeout = timeout })
		start := time.Now()
		in.Access(ctxFor("GET", "/", "Accept", "text/html"))
		if time.Since(start) < time.Duration(timeout)*time.Millisecond {
			t.Fatalf("%v ms: the first request did not wait for discovery: %v", timeout, time.Since(start))
		}
		start = time.Now()
		for _, h := range [][]string{{"Accept", "text/html"}, {"Authorization", "Bearer a.b.c"}, {"Accept", "text/html"}} {
			if e, ok := in.Access(ctxFor("GET", "/", h...)).(*plugin.Exit); !ok || e.Status != 502 {
				t.Fatalf("%v ms: %+v", timeout, e)
			}
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("%v ms: 3 requests after the failure took %v", timeout, d)
		}
	}
}
