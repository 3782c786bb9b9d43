package session

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/store"
)

var (
	coop = &plugin.Consumer{ID: "coop-id", Username: "coop"}
	t0   = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

func build(t testing.TB, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.Secret = "test secret"
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	return in.(*instance), nil
}

func mustBuild(t testing.TB, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "session" || reg.Priority != 1900 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "defaults"},
		{name: "kong storage", set: func(c *Config) { c.Storage = "kong" },
			want: plugin.Errors{{Path: "storage", Message: "the 'kong' storage keeps sessions in Kong's database; Turnpike runs without one: use 'cookie'"}}},
		{name: "unknown storage", set: func(c *Config) { c.Storage = "redis" }, want: plugin.Errors{{Path: "storage", Message: "expected one of: cookie, kong"}}},
		{name: "one_of fields", set: func(c *Config) {
			c.CookieSameSite = "strict"
			c.ResponseHeaders = []string{"id", "cookie"}
			c.RequestHeaders = []string{"x"}
			c.LogoutMethods = []string{"PUT"}
		}, want: plugin.Errors{
			{Path: "cookie_same_site", Message: "expected one of: Strict, Lax, None, Default"},
			{Path: "response_headers[1]", Message: "expected one of: id, audience, subject, timeout, idling-timeout, rolling-timeout, absolute-timeout"},
			{Path: "request_headers[0]", Message: "expected one of: id, audience, subject, timeout, idling-timeout, rolling-timeout, absolute-timeout"},
			{Path: "logout_methods[0]", Message: "expected one of: GET, POST, DELETE"},
		}},
		{name: "empty and unsafe strings", set: func(c *Config) {
			c.Audience, c.CookieName, c.CookieDomain, c.LogoutQueryArg = "", "a;b", str("x y"), str("")
		}, want: plugin.Errors{
			{Path: "audience", Message: "length must be at least 1"},
			{Path: "logout_query_arg", Message: "length must be at least 1"},
			{Path: "cookie_name", Message: "must not contain ';', ',', '=', quotes or white space"},
			{Path: "cookie_domain", Message: "must not contain ';', ',', '=', quotes or white space"},
		}},
		{name: "negative timeout", set: func(c *Config) { c.IdlingTimeout = -1 },
			want: plugin.Errors{{Path: "idling_timeout", Message: "value must be at least 0 (0 turns the timeout off)"}}},
		{name: "fractional timeout", set: func(c *Config) { c.RollingTimeout = 0.5 },
			want: plugin.Errors{{Path: "rolling_timeout", Message: "value must be 0 (off) or at least 1 second"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// Kong's deprecated shorthands set the fields that replaced them.
func TestShorthands(t *testing.T) {
	in := mustBuild(t, func(c *Config) {
		c.CookieLifetime, c.CookieIdletime, c.CookieSamesite = ptr(120.0), ptr(60.0), str("off")
		c.CookieHttponly, c.CookiePersistent = ptr(false), ptr(true)
	})
	if in.rolling != 120 || in.idling != 60 || !in.remember || in.attrs != "; Path=/; SameSite=Lax; Secure" {
		t.Fatalf("%+v", in)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSeal(t *testing.T) {
	s, _ := newSealer("k", "default", "session")
	d := data{created: 10, issued: 20, remember: true, id: [16]byte{1, 2}, consumerID: "c", credentialID: "cr", subject: "coop"}
	v := s.seal(&d)
	got, ok := s.open(v)
	if !ok || got != d {
		t.Fatalf("open %v %+v", ok, got)
	}
	if s.seal(&d) == v {
		t.Fatal("two seals of the same data are equal: the nonce is not fresh")
	}
	other := func(secret, audience, cookie string) *sealer { o, _ := newSealer(secret, audience, cookie); return o }
	raw := []byte(v)
	flipped := string(append(append([]byte{}, raw[:20]...), append([]byte{raw[20] ^ 1}, raw[21:]...)...))
	for name, tc := range map[string]struct {
		s *sealer
		v string
	}{
		"another secret":      {other("k2", "default", "session"), v},
		"another audience":    {other("k", "other", "session"), v},
		"another cookie name": {other("k", "default", "remember"), v},
		"a flipped byte":      {s, flipped},
		"truncated":           {s, v[:len(v)-3]},
		"empty":               {s, ""},
		"not base64":          {s, "!!!"},
		"too long":            {s, strings.Repeat("A", maxCookie+1)},
	} {
		if _, ok := tc.s.open(tc.v); ok {
			t.Errorf("%s: opened", name)
		}
	}
}

// client plays a browser against one instance: it keeps the cookies the
// plugin sets and sends them back.
type client struct {
	t       *testing.T
	in      *instance
	dir     *plugintest.Directory
	now     time.Time
	cookies map[string]string
}

func newClient(t *testing.T, in *instance) *client {
	cl := &client{t: t, in: in, now: t0, cookies: map[string]string{},
		dir: &plugintest.Directory{Consumers: []*plugin.Consumer{coop}}}
	in.now = func() time.Time { return cl.now }
	return cl
}

// result is one request's outcome.
type result struct {
	exit      *plugin.Exit
	ctx       *plugin.Ctx
	setCookie []string
}

// do sends a request; auth, when set, plays an auth plugin that
// authenticates coop with that credential after the session ran.
func (cl *client) do(method, target, auth string) result {
	cl.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range cl.cookies {
		r.Header.Add("Cookie", k+"="+v)
	}
	c := &plugin.Ctx{Req: r, Directory: cl.dir, Resp: plugin.Response{Header: http.Header{}}}
	var res result
	res.ctx = c
	if err := cl.in.Access(c); err != nil {
		if !errors.As(err, &res.exit) {
			cl.t.Fatal(err)
		}
		for k, v := range res.exit.Header {
			c.Resp.Header[k] = v
		}
	} else if auth != "" && c.Credential == "" {
		plugin.Authenticate(c, &plugin.Credential{ID: auth, Consumer: coop})
	}
	cl.in.HeaderFilter(c)
	res.setCookie = c.Resp.Header["Set-Cookie"]
	for _, sc := range res.setCookie {
		kv, attrs, _ := strings.Cut(sc, ";")
		k, v, _ := strings.Cut(kv, "=")
		if strings.Contains(attrs, "Max-Age=0") {
			delete(cl.cookies, k)
		} else {
			cl.cookies[k] = v
		}
	}
	return res
}

func TestSessionFlow(t *testing.T) {
	cl := newClient(t, mustBuild(t, nil))
	if res := cl.do("GET", "/", ""); res.setCookie != nil || res.ctx.Consumer != nil {
		t.Fatalf("no credential: %+v", res)
	}
	res := cl.do("GET", "/", "cred-1")
	if len(res.setCookie) != 1 || !strings.HasPrefix(res.setCookie[0], "session=") ||
		!strings.HasSuffix(res.setCookie[0], "; Path=/; SameSite=Strict; Secure; HttpOnly") {
		t.Fatalf("Set-Cookie %q", res.setCookie)
	}
	cl.now = cl.now.Add(time.Minute)
	res = cl.do("GET", "/", "")
	h := res.ctx.Req.Header
	if res.ctx.Consumer != coop || res.ctx.Credential != "cred-1" || h.Get("X-Consumer-Id") != "coop-id" ||
		h.Get("X-Consumer-Username") != "coop" || h.Get("X-Credential-Identifier") != "cred-1" || h.Get("X-Anonymous-Consumer") != "" {
		t.Fatalf("session did not authenticate: %v %q %v", res.ctx.Consumer, res.ctx.Credential, h)
	}
	if res.setCookie != nil {
		t.Fatalf("a fresh session was issued again: %q", res.setCookie)
	}
	// Another credential authenticated (logical AND): a new session.
	if res = cl.do("GET", "/", "cred-2"); res.ctx.Credential != "cred-1" || res.setCookie != nil {
		t.Fatalf("%q %q", res.ctx.Credential, res.setCookie)
	}
	// Past a quarter of the idling timeout (225 s): issued again.
	cl.now = cl.now.Add(4 * time.Minute)
	if res = cl.do("GET", "/", ""); res.ctx.Consumer != coop || len(res.setCookie) != 1 {
		t.Fatalf("renewal: %v %q", res.ctx.Consumer, res.setCookie)
	}
	// Idle for the idling timeout: no session.
	cl.now = cl.now.Add(15 * time.Minute)
	if res = cl.do("GET", "/", ""); res.ctx.Consumer != nil {
		t.Fatal("an idle session still authenticates")
	}
}

func TestTimeouts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		set   func(*Config)
		after time.Duration
		want  bool
	}{
		{"rolling", func(c *Config) { c.IdlingTimeout, c.RollingTimeout = 0, 100 }, 100 * time.Second, false},
		{"within rolling", func(c *Config) { c.IdlingTimeout, c.RollingTimeout = 0, 100 }, 99 * time.Second, true},
		{"absolute", func(c *Config) { c.IdlingTimeout, c.RollingTimeout, c.AbsoluteTimeout = 0, 0, 50 }, 50 * time.Second, false},
		{"all off", func(c *Config) { c.IdlingTimeout, c.RollingTimeout, c.AbsoluteTimeout = 0, 0, 0 }, 1000 * time.Hour, true},
		{"issued in the future", nil, -2 * time.Minute, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := newClient(t, mustBuild(t, tt.set))
			cl.do("GET", "/", "cred-1")
			cl.now = cl.now.Add(tt.after)
			if got := cl.do("GET", "/", "").ctx.Consumer != nil; got != tt.want {
				t.Fatalf("authenticated %v, want %v", got, tt.want)
			}
		})
	}
	// The absolute timeout holds through renewals.
	cl := newClient(t, mustBuild(t, func(c *Config) { c.IdlingTimeout, c.RollingTimeout, c.AbsoluteTimeout = 40, 0, 100 }))
	cl.do("GET", "/", "cred-1")
	for range 9 {
		cl.now = cl.now.Add(11 * time.Second)
		if cl.do("GET", "/", "").ctx.Consumer == nil {
			t.Fatalf("lost the session at %v", cl.now.Sub(t0))
		}
	}
	cl.now = cl.now.Add(11 * time.Second)
	if cl.do("GET", "/", "").ctx.Consumer != nil {
		t.Fatal("renewals extended the absolute timeout")
	}
}

func TestTamperedOrForeignCookie(t *testing.T) {
	cl := newClient(t, mustBuild(t, nil))
	cl.do("GET", "/", "cred-1")
	v := cl.cookies["session"]
	for _, bad := range []string{v[:len(v)-1] + "A", "garbage", v + v} {
		if bad == v {
			continue
		}
		cl.cookies["session"] = bad
		if res := cl.do("GET", "/", ""); res.ctx.Consumer != nil || res.exit != nil {
			t.Fatalf("cookie %q authenticated", bad)
		}
	}
	other := newClient(t, mustBuild(t, func(c *Config) { c.Secret = "other" }))
	other.cookies["session"] = v
	if other.do("GET", "/", "").ctx.Consumer != nil {
		t.Fatal("a cookie of another secret authenticated")
	}
}

func TestLogout(t *testing.T) {
	cl := newClient(t, mustBuild(t, nil))
	cl.do("GET", "/", "cred-1")
	// GET is not among the default logout methods.
	if res := cl.do("GET", "/?session_logout", ""); res.exit != nil || res.ctx.Consumer != coop {
		t.Fatalf("GET logged out: %+v", res.exit)
	}
	res := cl.do("POST", "/?session_logout=1", "")
	if res.exit == nil || res.exit.Status != 200 || len(res.exit.Body) != 0 ||
		res.setCookie[0] != "session=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0" {
		t.Fatalf("logout: %+v %q", res.exit, res.setCookie)
	}
	if cl.do("GET", "/", "").ctx.Consumer != nil {
		t.Fatal("still authenticated after logout")
	}
}

func TestLogoutBody(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.ReadBodyForLogout = true })
	cl := newClient(t, in)
	cl.do("GET", "/", "cred-1")
	try := func(ct, body string) bool {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Cookie", "session="+cl.cookies["session"])
		c := &plugin.Ctx{Req: r, Directory: cl.dir}
		err := in.Access(c)
		var b strings.Builder
		if r.Body != nil {
			buf := make([]byte, 1024)
			n, _ := r.Body.Read(buf)
			b.Write(buf[:n])
		}
		if err == nil && b.String() != body {
			t.Fatalf("body not put back: %q", b.String())
		}
		return err != nil
	}
	if !try("application/x-www-form-urlencoded", "a=1&session_logout=1") || !try("application/json", `{"session_logout": true}`) {
		t.Fatal("no logout by body argument")
	}
	if try("application/json", `{"session_logout": false}`) || try("text/plain", "session_logout=1") || try("application/x-www-form-urlencoded", "a=1") {
		t.Fatal("logout without a true body argument")
	}
	if off := newClient(t, mustBuild(t, nil)); off.in.readBody {
		t.Fatal("read_body_for_logout is off by default")
	}
}

func TestConsumerGone(t *testing.T) {
	cl := newClient(t, mustBuild(t, nil))
	cl.do("GET", "/", "cred-1")
	cl.dir.Consumers = nil
	res := cl.do("GET", "/", "")
	if res.ctx.Consumer != nil || len(res.setCookie) != 1 || !strings.Contains(res.setCookie[0], "Max-Age=0") {
		t.Fatalf("%v %q", res.ctx.Consumer, res.setCookie)
	}
}

func TestAnonymousGetsNoSession(t *testing.T) {
	cl := newClient(t, mustBuild(t, nil))
	r := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: r, Directory: cl.dir, Resp: plugin.Response{Header: http.Header{}}}
	cl.in.Access(c)
	plugin.AuthenticateAnonymous(c, coop)
	cl.in.HeaderFilter(c)
	if c.Resp.Header["Set-Cookie"] != nil {
		t.Fatal("a session for the anonymous consumer")
	}
}

func TestRemember(t *testing.T) {
	cl := newClient(t, mustBuild(t, func(c *Config) { c.Remember, c.RememberRollingTimeout = true, 3600 }))
	res := cl.do("GET", "/", "cred-1")
	if len(res.setCookie) != 2 || !strings.HasPrefix(res.setCookie[1], "remember=") ||
		!strings.HasSuffix(res.setCookie[1], "; Path=/; SameSite=Strict; Secure; HttpOnly; Expires="+t0.Add(time.Hour).Format(http.TimeFormat)+"; Max-Age=3600") {
		t.Fatalf("%q", res.setCookie)
	}
	// The browser restarted: only the persistent cookie is left, and it
	// opens the session long past the idling timeout.
	delete(cl.cookies, "session")
	cl.now = cl.now.Add(30 * time.Minute)
	res = cl.do("GET", "/", "")
	if res.ctx.Consumer != coop || len(res.setCookie) != 2 {
		t.Fatalf("remember: %v %q", res.ctx.Consumer, res.setCookie)
	}
	// A remember cookie is not read as the session cookie.
	cl.cookies["session"] = cl.cookies["remember"]
	delete(cl.cookies, "remember")
	if cl.do("GET", "/", "").ctx.Consumer != nil {
		t.Fatal("a remember cookie opened as the session cookie")
	}
}

func TestSessionHeaders(t *testing.T) {
	cl := newClient(t, mustBuild(t, func(c *Config) {
		c.RequestHeaders, c.ResponseHeaders = []string{"id", "subject", "absolute-timeout"}, []string{"audience", "timeout"}
	}))
	res := cl.do("GET", "/", "cred-1")
	if res.ctx.Resp.Header.Get("Session-Audience") != "default" || res.ctx.Resp.Header.Get("Session-Timeout") != "900" {
		t.Fatalf("response headers %v", res.ctx.Resp.Header)
	}
	cl.now = cl.now.Add(10 * time.Second)
	res = cl.do("GET", "/", "")
	h := res.ctx.Req.Header
	if h.Get("Session-Subject") != "coop" || h.Get("Session-Absolute-Timeout") != "86390" || len(h.Get("Session-Id")) != 22 {
		t.Fatalf("request headers %v", h)
	}
}

// A generated secret is shared by the entry's instances (a reload keeps
// the sessions) and differs between entries.
func TestGeneratedSecret(t *testing.T) {
	p := store.NewProvider()
	mk := func(id string) *instance {
		reg := Registration()
		cfg := reg.NewConfig().(*Config)
		cfg.SetDefaults()
		in, err := reg.New(cfg, plugin.Env{PluginID: id, Store: p})
		if err != nil {
			t.Fatal(err)
		}
		return in.(*instance)
	}
	a, b, other := mk("p1"), mk("p1"), mk("p2")
	cl := newClient(t, a)
	cl.do("GET", "/", "cred-1")
	v := cl.cookies["session"]
	if _, ok := b.seal.open(v); !ok {
		t.Fatal("the entry's next instance cannot open its cookie")
	}
	if _, ok := other.seal.open(v); ok {
		t.Fatal("another entry opens the cookie")
	}
	a.Close()
	b.Close()
	other.Close()
	if p.Shared.Len() != 0 {
		t.Fatalf("%d secrets left", p.Shared.Len())
	}
}
