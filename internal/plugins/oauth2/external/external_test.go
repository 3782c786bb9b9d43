package external

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
)

func defaults() (*Config, Common) {
	c := &Config{}
	c.SetDefaults()
	return c, Common{AuthHeaderName: "authorization"}
}

func strp(s string) *string { return &s }

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Config, *Common)
		want []string // "path: message" of every problem
	}{
		{"guide's example", func(c *Config, com *Common) {
			com.Scopes, com.MandatoryScope = []string{"read", "write"}, true
			c.TokenEndpoint, c.AuthorizationEndpoint = "https://auth.example.com/oauth/token", "https://auth.example.com/oauth/authorize"
			c.LoginRedirectURL = "https://auth.example.com/login"
			c.AllowedTokenMethods = []string{"client_credentials", "password"}
		}, nil},
		{"issuer and every grant", func(c *Config, _ *Common) {
			c.Issuer, c.ClientID, c.ClientSecret = "https://id.example.com/realm", "gw", "s"
			c.AllowedTokenMethods = grants
			c.RevokeTokenMethod = "DELETE"
			c.AudienceRequired = []string{"api"}
		}, nil},
		{"relative and non-http URLs", func(c *Config, _ *Common) {
			c.TokenEndpoint, c.IntrospectionEndpoint, c.Issuer = "/oauth/token", "ftp://x/introspect", "https://user:pw@id.example.com"
		}, []string{"token_endpoint: missing host in url", "introspection_endpoint: missing host in url", "issuer: missing host in url"}},
		{"unknown grant and revoke method", func(c *Config, _ *Common) {
			c.TokenEndpoint = "https://a.example/token"
			c.AllowedTokenMethods = []string{"client_credentials", "implicit"}
			c.RevokeTokenMethod = "GET"
		}, []string{"allowed_token_methods[1]: expected one of: client_credentials, password, authorization_code, refresh_token",
			"revoke_token_method: expected one of: POST, DELETE"}},
		{"grants without a token endpoint", func(c *Config, _ *Common) {
			c.IntrospectionEndpoint = "https://a.example/introspect"
			c.AllowedTokenMethods = []string{"password"}
		}, []string{"token_endpoint: required field missing (allowed_token_methods relays to it; an issuer's is discovered)"}},
		{"mandatory_scope without scopes (Kong's check)", func(c *Config, com *Common) {
			c.TokenEndpoint, com.MandatoryScope = "https://a.example/token", true
		}, []string{"scopes: required field missing"}},
		{"bad scope, secret without id, negative durations", func(c *Config, com *Common) {
			c.Issuer, c.ClientSecret = "https://a.example", "s"
			com.Scopes = []string{"ok", "two words"}
			c.Leeway, c.CacheTTLMax, c.Timeout = -1, -1, 0
		}, []string{"client_id: required field missing (client_secret is set)", "leeway: value must be greater than or equal to 0",
			"cache_ttl_max: value must be greater than or equal to 0", "timeout: value must be greater than 0",
			`scopes[1]: a scope is one or more printable ASCII characters other than space, '"' and '\' (RFC 6749 3.3)`}},
		{"consumer mapping", func(c *Config, _ *Common) {
			c.Issuer = "https://a.example"
			c.ConsumerClaim, c.ConsumerBy = []string{"sub", ""}, []string{"username", "email"}
		}, []string{"consumer_by[1]: expected one of: username, custom_id, id", "consumer_claim[1]: length must be at least 1"}},
		{"Kong's common fields", func(c *Config, com *Common) {
			c.Issuer = "https://a.example"
			com.Anonymous, com.Realm, com.AuthHeaderName = strp(""), strp(""), "bad header"
		}, []string{"anonymous: length must be at least 1", "realm: length must be at least 1",
			"auth_header_name: bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, com := defaults()
			tc.set(c, &com)
			var got []string
			for _, p := range c.validate(&com) {
				got = append(got, p.Path+": "+p.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestTokenFromHeader(t *testing.T) {
	c, com := defaults()
	c.IntrospectionEndpoint = "http://127.0.0.1:1/introspect"
	inst, err := New(c, com, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	defer in.Close()
	for _, tc := range []struct {
		header      []string
		query, form string
		token       string
		ok          bool
	}{
		{header: nil, ok: true},
		{header: []string{"Bearer abc"}, token: "abc", ok: true},
		{header: []string{"token   abc "}, token: "abc", ok: true},
		{header: []string{"Bearer\tabc"}, token: "abc", ok: true},
		{header: []string{"Basic abc"}},
		{header: []string{"Bearer a b"}},
		{header: []string{"Bearer"}},
		{header: []string{"Bearer a", "Bearer b"}},
		{query: "a=1&access_token=x%2By", token: "x+y", ok: true},
		{query: "access_token=1&access_token=2", ok: true},
		{form: "access_token=from-body", token: "from-body", ok: true},
	} {
		method, body := http.MethodGet, io.Reader(nil)
		if tc.form != "" {
			method, body = http.MethodPost, strings.NewReader(tc.form)
		}
		r := httptest.NewRequest(method, "/?"+tc.query, body)
		if tc.form != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if tc.header != nil {
			r.Header["Authorization"] = tc.header
		}
		tok, ok := in.token(&plugin.Ctx{Req: r, RawQuery: tc.query})
		if ok != tc.ok || ok && tok != tc.token {
			t.Errorf("%q %q %q: %q %v", tc.header, tc.query, tc.form, tok, ok)
		}
	}
}

// BenchmarkAccess compares, in one run, key-auth's access phase with the
// external shape's for a token checked before (the cache's answer): the
// extra per-request cost of an introspected or verified token.
func BenchmarkAccess(b *testing.B) {
	b.Run("key-auth", func(b *testing.B) {
		reg := keyauth.Registration()
		cfg := reg.NewConfig()
		cfg.(interface{ SetDefaults() }).SetDefaults()
		in, err := reg.New(cfg, plugin.Env{})
		if err != nil {
			b.Fatal(err)
		}
		consumer := &plugin.Consumer{ID: "c1", Username: "alice"}
		dir := &plugintest.Directory{Consumers: []*plugin.Consumer{consumer}, ByKind: map[string]map[string]*plugin.Credential{
			"keyauth_credentials": {"secret-key": {ID: "k1", Kind: "key-auth", Consumer: consumer, Key: "secret-key"}},
		}}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header = http.Header{"Apikey": {"secret-key"}}
		c := &plugin.Ctx{Req: r, Directory: dir}
		run(b, in.(plugin.Accessor), c)
	})
	p := oidcop.Start(b, oidcop.Options{Clients: []oidcop.Client{
		{ID: "gateway", Secret: "gw", Introspect: true},
		{ID: "svc", Secret: "s", JWTAccessTokens: true},
		{ID: "opaque", Secret: "s"},
	}})
	for _, tc := range []struct{ name, client string }{{"oauth2-jwt-cached", "svc"}, {"oauth2-introspected-cached", "opaque"}} {
		b.Run(tc.name, func(b *testing.B) {
			cc := clientcredentials.Config{ClientID: tc.client, ClientSecret: "s", TokenURL: p.TokenEndpoint,
				Scopes: []string{"read"}, AuthStyle: oauth2.AuthStyleInHeader}
			tok, err := cc.Token(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			c, com := defaults()
			c.Issuer, c.ClientID, c.ClientSecret = p.Issuer, "gateway", "gw"
			com.Scopes, com.MandatoryScope = []string{"read"}, true
			in, err := New(c, com, plugin.Env{})
			if err != nil {
				b.Fatal(err)
			}
			defer in.(plugin.Closer).Close()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header = http.Header{"Authorization": {"Bearer " + tok.AccessToken}}
			run(b, in.(plugin.Accessor), &plugin.Ctx{Req: r})
			b.ReportMetric(float64(len(tok.AccessToken)), "token-bytes")
		})
	}
}

func run(b *testing.B, in plugin.Accessor, c *plugin.Ctx) {
	if err := in.Access(c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Credential, c.Consumer, c.Claims = "", nil, nil
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoginRedirect(t *testing.T) {
	c, _ := defaults()
	c.AuthorizationEndpoint, c.ClientID, c.RedirectURI = "https://id.example/auth?tenant=1", "gw", "https://app.example/cb"
	l := newLogin(c, []string{"openid", "read"})
	page := func(method, accept, scheme string) *plugin.Exit {
		r := httptest.NewRequest(method, "/", nil)
		r.Header.Set("Accept", accept)
		return l.redirect(&plugin.Ctx{Req: r, Scheme: scheme})
	}
	e := page(http.MethodGet, "text/html,*/*", "https")
	loc := e.Header.Get("Location")
	want := "https://id.example/auth?tenant=1&client_id=gw&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid+read&state="
	if e.Status != 302 || !strings.HasPrefix(loc, want) || len(loc) != len(want)+22 {
		t.Fatalf("%d %q", e.Status, loc)
	}
	if ck := e.Header.Get("Set-Cookie"); !strings.HasPrefix(ck, StateCookie+"="+loc[len(want):]) || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") {
		t.Fatalf("cookie %q", ck)
	}
	if again := page(http.MethodGet, "text/html", "http"); again.Header.Get("Location") == loc || strings.Contains(again.Header.Get("Set-Cookie"), "Secure") {
		t.Fatal("state reused, or Secure over http")
	}
	for _, tc := range [][2]string{{http.MethodPost, "text/html"}, {http.MethodGet, "application/json"}} {
		if page(tc[0], tc[1], "https") != nil {
			t.Errorf("%v redirected", tc)
		}
	}
	c.LoginRedirectURL = "https://id.example/login"
	l = newLogin(c, nil)
	if e := page(http.MethodHead, "text/html", "https"); e.Header.Get("Location") != "https://id.example/login" || e.Header.Get("Set-Cookie") != "" {
		t.Fatalf("%v", e.Header)
	}
}

// consumer_by names the field a claim's value is looked up by: a
// username that is another consumer's id does not stand in for it.
func TestConsumerByField(t *testing.T) {
	const id = "33333333-3333-4333-8333-333333333333"
	byName := &plugin.Consumer{ID: "44444444-4444-4444-8444-444444444444", Username: id}
	byID := &plugin.Consumer{ID: id, Username: "owner", CustomID: "c-1"}
	c := &plugin.Ctx{Directory: &plugintest.Directory{Consumers: []*plugin.Consumer{byName, byID}}}
	claims, err := oidc.ParseClaims([]byte(`{"sub":"` + id + `","cid":"c-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by   []string
		want *plugin.Consumer
	}{
		{[]string{"id"}, byID},
		{[]string{"username"}, byName},
		{[]string{"custom_id", "id"}, byID},
	} {
		m := consumerMap{claims: []string{"sub"}, by: tc.by}
		if got, e := m.find(c, claims); e != nil || got != tc.want {
			t.Errorf("by %v: %+v %v", tc.by, got, e)
		}
	}
	m := consumerMap{claims: []string{"cid"}, by: []string{"username", "id"}}
	if _, e := m.find(c, claims); e == nil || e.Status != http.StatusForbidden {
		t.Fatalf("a custom_id found by username or id: %+v", e)
	}
}

// A server reached by plain http off this host gets the client secret
// unencrypted: the load warns, naming the field.
func TestPlainHTTPWarned(t *testing.T) {
	for url, warn := range map[string]bool{
		"http://auth.example.com/token":  true,
		"http://10.0.0.1/token":          true,
		"https://auth.example.com/token": false,
		"http://127.0.0.1:9/token":       false,
		"http://[::1]:9/token":           false,
		"http://localhost/token":         false,
	} {
		var logs strings.Builder
		c, com := defaults()
		c.TokenEndpoint = url
		in, err := New(c, com, plugin.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		in.(*instance).Close()
		if got := strings.Contains(logs.String(), "field=token_endpoint"); got != warn {
			t.Errorf("%s: warned %v, want %v: %s", url, got, warn, logs.String())
		}
	}
}
