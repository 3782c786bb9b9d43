package openidconnect

import (
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
)

func build(t testing.TB, mod func(*Config)) (*instance, error) {
	t.Helper()
	c := &Config{}
	c.SetDefaults()
	c.Issuer = "https://idp.example.com"
	c.ClientID = "web"
	c.ClientSecret = []any{"s"}
	if mod != nil {
		mod(c)
	}
	in, err := New(c, plugin.Env{})
	if err != nil {
		return nil, err
	}
	t.Cleanup(in.(*instance).Close)
	return in.(*instance), nil
}

func TestDefaults(t *testing.T) {
	in, err := build(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.clientID != "web" || in.clientSecret != "s" || in.sessionName != "session" || in.authzName != "authorization" ||
		in.life != cookie.NewLifetime(900, 3600, 86400) || in.tokenHeader != "Authorization" ||
		in.tokenPrefix != "Bearer " || !in.authCode || !in.bearer || !in.introspection || !in.session ||
		strings.Join(in.scopes, " ") != "openid" || strings.Join(in.consumerBy, ",") != "username,custom_id" ||
		in.sessionAttrs != [2]string{"; Path=/; SameSite=Lax; HttpOnly", "; Path=/; SameSite=Lax; Secure; HttpOnly"} ||
		in.authzAttrs != [2]string{"; Path=/; HttpOnly", "; Path=/; Secure; HttpOnly"} || in.unauthorizedMsg != "Unauthorized" {
		t.Fatalf("defaults: %+v", in)
	}
}

func TestConfigAccepted(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"client_id array":      func(c *Config) { c.ClientID = []any{"a", "b"} },
		"issuer discovery url": func(c *Config) { c.Issuer = "https://idp/.well-known/openid-configuration" },
		"bearer only":          func(c *Config) { c.AuthMethods = []string{"bearer"}; c.ClientID = nil },
		"kong's other methods": func(c *Config) { c.AuthMethods = []string{"password", "session", "bearer"} },
		"logout":               func(c *Config) { c.LogoutURISuffix = str("/logout"); c.LogoutMethods = []string{"GET"} },
		"timeouts off":         func(c *Config) { c.SessionIdlingTimeout, c.SessionRollingTimeout = 0, 0 },
		"redirect uris":        func(c *Config) { c.RedirectURI = "https://gw/cb"; c.LogoutRedirectURI = []any{"https://gw/bye"} },
		"headers": func(c *Config) {
			c.UpstreamHeadersClaims, c.UpstreamHeadersNames = []string{"email"}, []string{"X-Email"}
		},
		"consumer by":           func(c *Config) { c.ConsumerClaim, c.ConsumerBy = []string{"sub"}, []string{"id", "custom_id"} },
		"no access token upstr": func(c *Config) { c.UpstreamAccessTokenHeader = nil },
		"strict cookies":        func(c *Config) { c.SessionCookieSameSite, c.AuthorizationCookieSameSite = "Strict", "Lax" },
	} {
		if _, err := build(t, mod); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		path string
		msg  string
	}{
		{func(c *Config) { c.Issuer = "" }, "issuer", "required field missing"},
		{func(c *Config) { c.Issuer = "idp.example.com" }, "issuer", "missing host in url"},
		{func(c *Config) { c.ClientID = nil }, "client_id", "required field missing"},
		{func(c *Config) { c.ClientID = 5 }, "client_id", "expected a string or an array of strings"},
		{func(c *Config) { c.ClientID = []any{"a", 3} }, "client_id[1]", "expected a non-empty string"},
		{func(c *Config) { c.RedirectURI = []any{"https://gw/cb", "/relative"} }, "redirect_uri[1]", "missing host in url"},
		{func(c *Config) { c.AuthMethods = []string{"bearer", "magic"} }, "auth_methods[1]", "expected one of: authorization_code"},
		{func(c *Config) { c.AuthMethods = []string{"password"} }, "auth_methods", "list at least one of them"},
		{func(c *Config) { c.ConsumerBy = []string{"email"} }, "consumer_by[0]", "expected one of: id, username, custom_id"},
		{func(c *Config) {
			c.UpstreamHeadersClaims = []string{"a", "b"}
			c.UpstreamHeadersNames = []string{"X-A"}
		}, "upstream_headers_names", "as many entries"},
		{func(c *Config) { c.UpstreamHeadersClaims, c.UpstreamHeadersNames = []string{"a"}, []string{"X A"} }, "upstream_headers_names[0]", "bad header name 'X A'"},
		{func(c *Config) { c.SessionCookieName = "a;b" }, "session_cookie_name", "must be non-empty"},
		{func(c *Config) { c.AuthorizationCookieName = "session" }, "authorization_cookie_name", "must differ"},
		{func(c *Config) { c.SessionCookieSameSite = "lax" }, "session_cookie_same_site", "expected one of: Strict, Lax, None, Default"},
		{func(c *Config) { c.AuthorizationCookieSameSite = "" }, "authorization_cookie_same_site", "expected one of: Strict, Lax, None, Default"},
		{func(c *Config) { c.SessionIdlingTimeout = -1 }, "session_idling_timeout", "at least 0"},
		{func(c *Config) { c.SessionAbsoluteTimeout = 0.5 }, "session_absolute_timeout", "0 (off) or at least 1 second"},
		{func(c *Config) { c.AuthorizationRollingTimeout = 0 }, "authorization_rolling_timeout", "at least 1"},
		{func(c *Config) { c.LogoutMethods = []string{"PUT"} }, "logout_methods[0]", "expected one of: POST, GET, DELETE"},
		{func(c *Config) { c.LogoutQueryArg = str("") }, "logout_query_arg", "length must be at least 1"},
		{func(c *Config) { c.SessionSecret = str("") }, "session_secret", "length must be at least 1"},
		{func(c *Config) { c.Timeout = 0 }, "timeout", "value should be between"},
		{func(c *Config) { c.TokenEndpoint = str("nope") }, "token_endpoint", "missing host in url"},
		{func(c *Config) { c.ConsumerClaim = []string{"a", "b"} }, "consumer_claim", "one claim name"},
	} {
		_, err := build(t, tc.mod)
		errs, _ := err.(plugin.Errors)
		found := false
		for _, e := range errs {
			found = found || e.Path == tc.path && strings.Contains(e.Message, tc.msg)
		}
		if !found {
			t.Errorf("want %s: %q; got %v", tc.path, tc.msg, err)
		}
	}
}
