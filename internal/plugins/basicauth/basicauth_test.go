package basicauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

func hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

var (
	bob    = &plugin.Consumer{ID: "bob-id", Username: "bob", CustomID: "bob-custom"}
	nobody = &plugin.Consumer{ID: "anon-id", Username: "no-body"}
)

// newDirectory holds the credentials of Kong's
// spec/03-plugins/10-basic-auth/03-access_spec.lua.
func newDirectory(t testing.TB) *plugintest.Directory {
	cred := func(id, user, pw string, c *plugin.Consumer) *plugin.Credential {
		return &plugin.Credential{ID: id, Kind: "basic-auth", Key: user, Consumer: c,
			Fields: &Credential{Username: user, Password: pw, hash: hash(t, pw)}}
	}
	return &plugintest.Directory{
		Consumers: []*plugin.Consumer{bob, nobody},
		ByKind: map[string]map[string]*plugin.Credential{kindName: {
			"bob":     cred("cred-bob", "bob", "kong", bob),
			"user123": cred("cred-123", "user123", "password123", bob),
			"user321": cred("cred-321", "user321", "password:123", bob),
			"orphan":  cred("cred-orphan", "orphan", "kong", nil),
		}},
	}
}

func build(t testing.TB, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
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

func str(s string) *string { return &s }

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "basic-auth" || reg.Priority != 1100 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if diff := cmp.Diff(&Config{Realm: "service"}, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "defaults"},
		{name: "all fields", set: func(c *Config) { c.Anonymous, c.HideCredentials, c.Realm = str("x"), true, "r" }},
		{
			name: "empty strings",
			set:  func(c *Config) { c.Anonymous, c.Realm = str(""), "" },
			want: plugin.Errors{
				{Path: "anonymous", Message: "length must be at least 1"},
				{Path: "realm", Message: "length must be at least 1"},
			},
		},
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

func TestParse(t *testing.T) {
	tests := []struct {
		value      string
		user, pass string
		ok         bool
	}{
		{value: basic("bob:kong"), user: "bob", pass: "kong", ok: true},
		{value: "basic Ym9iOmtvbmc=", user: "bob", pass: "kong", ok: true},
		{value: "BasicYm9iOmtvbmc=", user: "bob", pass: "kong", ok: true},
		{value: "Basic    Ym9iOmtvbmc", user: "bob", pass: "kong", ok: true},
		{value: "Bearer x, Basic Ym9iOmtvbmc=", user: "bob", pass: "kong", ok: true},
		{value: "Basic Ym9iOmtvbmc=trailing", user: "bob", pass: "kong", ok: true},
		{value: basic("user321:password:123"), user: "user321", pass: "password:123", ok: true},
		{value: basic("bob:"), user: "bob", pass: "", ok: true},
		{value: basic(":bob:kong"), user: "bob", pass: "kong", ok: true},
		{value: basic("bob:line1\nline2"), user: "bob", pass: "line1", ok: true},
		{value: "BASIC Ym9iOmtvbmc="},
		{value: "Basic"},
		{value: "foobar"},
		{value: "Basic a29uZw=="},
		{value: "Basic Ym9i"},
		{value: basic(":kong")},
		{value: "Basic Ym9i Omtvbmc="},
		{value: "Basic Ym9iOmtvbmc*"},
		{value: "Basic Y"},
	}
	for _, tt := range tests {
		user, pass, ok := parse(tt.value)
		if user != tt.user || pass != tt.pass || ok != tt.ok {
			t.Errorf("parse(%q) = %q, %q, %v; want %q, %q, %v", tt.value, user, pass, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

// outcome is what a test checks: the answer, or what the upstream gets.
type outcome struct {
	Status  int
	Message string
	WWWAuth string
	// Identity is the upstream's consumer headers.
	Identity http.Header
	// Auth is the upstream's Authorization and Proxy-Authorization.
	Auth http.Header
}

var identityHeaders = []string{"X-Consumer-Id", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"}

func run(t *testing.T, in *instance, c *plugin.Ctx) outcome {
	t.Helper()
	if err := in.Access(c); err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access error %v is not an Exit", err)
		}
		return outcome{Status: e.Status, Message: e.Message, WWWAuth: e.Header.Get("WWW-Authenticate")}
	}
	o := outcome{Status: 200}
	pick := func(dst *http.Header, names ...string) {
		for _, h := range names {
			if v, ok := c.Req.Header[h]; ok {
				if *dst == nil {
					*dst = http.Header{}
				}
				(*dst)[h] = v
			}
		}
	}
	pick(&o.Identity, identityHeaders...)
	pick(&o.Auth, "Authorization", "Proxy-Authorization")
	return o
}

func bobIdentity(username string) http.Header {
	return http.Header{
		"X-Consumer-Id":           {"bob-id"},
		"X-Consumer-Custom-Id":    {"bob-custom"},
		"X-Consumer-Username":     {"bob"},
		"X-Credential-Identifier": {username},
	}
}

var anonIdentity = http.Header{
	"X-Consumer-Id":        {"anon-id"},
	"X-Consumer-Username":  {"no-body"},
	"X-Anonymous-Consumer": {"true"},
}

func unauthorized(realm string) outcome {
	return outcome{Status: 401, Message: "Unauthorized", WWWAuth: `Basic realm="` + realm + `"`}
}

func auth(h ...string) http.Header {
	out := http.Header{}
	for i := 0; i+1 < len(h); i += 2 {
		out.Add(h[i], h[i+1])
	}
	return out
}

// The scenarios of Kong's spec/03-plugins/10-basic-auth/03-access_spec.lua,
// and the corners of its access.lua.
func TestAccess(t *testing.T) {
	dir := newDirectory(t)
	realm := func(c *Config) { c.Realm = "test-realm" }
	hide := func(c *Config) { c.HideCredentials = true }
	anon := func(c *Config) { c.Anonymous = str("anon-id") }
	anonName := func(c *Config) { c.Anonymous = str("no-body") }
	ghost := func(c *Config) { c.Anonymous = str("ghost") }
	bobKong := basic("bob:kong")

	tests := []struct {
		name   string
		set    func(*Config)
		method string
		header []string // name, value pairs; repeated names are added
		// credential, when set, is what an earlier auth plugin recorded.
		credential string
		want       outcome
	}{
		{name: "missing credentials, realm configured", set: realm, want: unauthorized("test-realm")},
		{name: "missing credentials, default realm", want: unauthorized("service")},
		{name: "invalid Authorization", set: realm, header: []string{"Authorization", "foobar"}, want: unauthorized("test-realm")},
		{name: "invalid Proxy-Authorization", set: realm, header: []string{"Proxy-Authorization", "foobar"}, want: unauthorized("test-realm")},
		{name: "password only", header: []string{"Authorization", "Basic a29uZw=="}, want: unauthorized("service")},
		{name: "username only", header: []string{"Authorization", "Basic Ym9i"}, want: unauthorized("service")},
		{name: "not Base64", header: []string{"Authorization", "Basic adXNlcjEyMzpwYXNzd29yZDEyMw=="}, want: unauthorized("service")},
		{name: "empty Authorization", header: []string{"Authorization", ""}, want: unauthorized("service")},
		{name: "wrong password", header: []string{"Authorization", basic("bob:nope")}, want: unauthorized("service")},
		{name: "empty password", header: []string{"Authorization", basic("bob:")}, want: unauthorized("service")},
		{name: "unknown username", header: []string{"Authorization", basic("alice:kong")}, want: unauthorized("service")},
		{name: "username is case-sensitive", header: []string{"Authorization", basic("Bob:kong")}, want: unauthorized("service")},
		{
			name: "valid Authorization", header: []string{"Authorization", bobKong},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Authorization", bobKong)},
		},
		{
			name: "second credential of the consumer", header: []string{"Authorization", basic("user123:password123")},
			want: outcome{Status: 200, Identity: bobIdentity("user123"), Auth: auth("Authorization", basic("user123:password123"))},
		},
		{
			name: "password containing ':'", header: []string{"Authorization", basic("user321:password:123")},
			want: outcome{Status: 200, Identity: bobIdentity("user321"), Auth: auth("Authorization", basic("user321:password:123"))},
		},
		{
			name: "valid Proxy-Authorization", header: []string{"Proxy-Authorization", bobKong},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Proxy-Authorization", bobKong)},
		},
		{
			name: "first Authorization header is read", header: []string{"Authorization", bobKong, "Authorization", "foobar"},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Authorization", bobKong, "Authorization", "foobar")},
		},
		{
			name: "OPTIONS is authenticated", method: http.MethodOptions, want: unauthorized("service"),
		},
		{
			name: "spoofed identity headers replaced",
			header: []string{"Authorization", bobKong, "X-Consumer-Custom-Id", "evil", "X-Credential-Identifier", "evil",
				"X-Anonymous-Consumer", "true"},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Authorization", bobKong)},
		},
		{
			name:   "Proxy-Authorization with an unknown user falls back to Authorization",
			header: []string{"Proxy-Authorization", basic("alice:x"), "Authorization", bobKong},
			want:   outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Proxy-Authorization", basic("alice:x"), "Authorization", bobKong)},
		},
		{
			name: "unparsable Proxy-Authorization falls back to Authorization", header: []string{"Proxy-Authorization", "foobar", "Authorization", bobKong},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Proxy-Authorization", "foobar", "Authorization", bobKong)},
		},
		{
			name: "Proxy-Authorization with a wrong password does not fall back", header: []string{"Proxy-Authorization", basic("bob:nope"), "Authorization", bobKong},
			want: unauthorized("service"),
		},
		{name: "consumer missing", header: []string{"Authorization", basic("orphan:kong")}, want: outcome{Status: 500, Message: "An unexpected error occurred"}},

		// config.hide_credentials
		{name: "hide: Authorization removed", set: hide, header: []string{"Authorization", bobKong}, want: outcome{Status: 200, Identity: bobIdentity("bob")}},
		{name: "hide: Proxy-Authorization removed", set: hide, header: []string{"Proxy-Authorization", bobKong}, want: outcome{Status: 200, Identity: bobIdentity("bob")}},
		{
			name: "hide: Authorization kept when Proxy-Authorization authenticates", set: hide,
			header: []string{"Proxy-Authorization", bobKong, "Authorization", "other"},
			want:   outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Authorization", "other")},
		},
		{
			name: "hide: both removed on fallback", set: hide,
			header: []string{"Proxy-Authorization", basic("alice:x"), "Authorization", bobKong},
			want:   outcome{Status: 200, Identity: bobIdentity("bob")},
		},

		// config.anonymous
		{
			name: "anonymous: right credentials", set: anon, header: []string{"Authorization", basic("user123:password123")},
			want: outcome{Status: 200, Identity: bobIdentity("user123"), Auth: auth("Authorization", basic("user123:password123"))},
		},
		{
			name: "anonymous: wrong credentials", set: anon, header: []string{"Authorization", basic("bob:nope"), "X-Credential-Identifier", "evil"},
			want: outcome{Status: 200, Identity: anonIdentity, Auth: auth("Authorization", basic("bob:nope"))},
		},
		{name: "anonymous: no credentials", set: anon, want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous by username", set: anonName, header: []string{"Authorization", "foobar"}, want: outcome{Status: 200, Identity: anonIdentity, Auth: auth("Authorization", "foobar")}},
		{
			name: "anonymous consumer missing", set: ghost,
			want: outcome{Status: 500, Message: "anonymous consumer ghost is configured but doesn't exist"},
		},
		{
			name: "anonymous consumer missing but credentials right", set: ghost, header: []string{"Authorization", bobKong},
			want: outcome{Status: 200, Identity: bobIdentity("bob"), Auth: auth("Authorization", bobKong)},
		},
		{
			name: "anonymous: already authenticated (logical OR)", set: anon, credential: "earlier",
			want: outcome{Status: 200},
		},
		{
			name: "no anonymous: already authenticated still checked (logical AND)", credential: "earlier",
			want: unauthorized("service"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			hr := httptest.NewRequest(method, "/request", nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				hr.Header.Add(tt.header[i], tt.header[i+1])
			}
			c := &plugin.Ctx{Req: hr, Method: hr.Method, Path: hr.URL.Path, Directory: dir,
				Resp: plugin.Response{Header: http.Header{}}, Credential: tt.credential}
			got := run(t, in, c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if got.Status == 200 && tt.credential == "" && got.Identity["X-Anonymous-Consumer"] == nil {
				if c.Consumer != bob || c.Credential == "" {
					t.Errorf("ctx consumer %v credential %q", c.Consumer, c.Credential)
				}
			}
		})
	}
}

func TestCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newCache(2, time.Minute, func() time.Time { return now })
	h1, h2 := hash(t, "pw"), hash(t, "pw")

	if c.verify(h1, "wrong") || len(c.seen) != 0 {
		t.Fatalf("wrong password: cached %d", len(c.seen))
	}
	if !c.verify(h1, "pw") || len(c.seen) != 1 {
		t.Fatalf("right password: cached %d", len(c.seen))
	}
	// A hit skips bcrypt: a cached entry is honoured even for a hash that
	// would not verify (proving no comparison happened).
	d := c.digest("not-a-hash", "x")
	c.add(d, now.Add(time.Minute))
	if !c.verify("not-a-hash", "x") {
		t.Fatal("cache hit not used")
	}
	// The key covers the hash: the same password under another hash (a
	// changed credential) is verified afresh.
	if c.verify(hash(t, "changed"), "pw") {
		t.Fatal("password accepted for another hash")
	}
	// Expiry.
	now = now.Add(time.Minute)
	if c.verify("not-a-hash", "x") {
		t.Fatal("expired entry used")
	}
	if _, ok := c.seen[d]; ok || len(c.seen) != 1 {
		t.Fatalf("expired entry kept: %d entries", len(c.seen))
	}
	// Bounded: the third success evicts one entry.
	if !c.verify(h2, "pw") || len(c.seen) != 2 {
		t.Fatalf("second hash: cached %d", len(c.seen))
	}
	if !c.verify(hash(t, "pw3"), "pw3") || len(c.seen) != 2 {
		t.Fatalf("bound: cached %d", len(c.seen))
	}
}

func TestUnknownUserCostsABcrypt(t *testing.T) {
	c := newCache(1, time.Minute, time.Now)
	if c.reject("x") {
		t.Fatal("reject accepted")
	}
	if cost, err := bcrypt.Cost(c.dummy); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummy hash cost %d, %v", cost, err)
	}
}

func BenchmarkAccessCached(b *testing.B) {
	dir := newDirectory(b)
	in := mustBuild(b, nil)
	hr := httptest.NewRequest(http.MethodGet, "/request", nil)
	v := basic("bob:kong")
	b.ReportAllocs()
	for b.Loop() {
		hr.Header = http.Header{"Authorization": {v}}
		c := &plugin.Ctx{Req: hr, Directory: dir}
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}
