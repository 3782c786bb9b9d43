package openidconnect

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
)

// Config holds the fields of Kong's openid-connect schema that Turnpike
// implements, with Kong's names and defaults. Kong types client_id,
// client_secret, redirect_uri, logout_redirect_uri and
// unauthorized_redirect_uri as arrays; a string is accepted too (the
// first entry is the one used, as in Kong without client_arg).
type Config struct {
	Issuer                string  `yaml:"issuer"`
	ClientID              any     `yaml:"client_id"`
	ClientSecret          any     `yaml:"client_secret"`
	RedirectURI           any     `yaml:"redirect_uri"`
	AuthorizationEndpoint *string `yaml:"authorization_endpoint"`
	TokenEndpoint         *string `yaml:"token_endpoint"`
	IntrospectionEndpoint *string `yaml:"introspection_endpoint"`
	EndSessionEndpoint    *string `yaml:"end_session_endpoint"`
	RevocationEndpoint    *string `yaml:"revocation_endpoint"`

	Scopes      []string `yaml:"scopes"`
	AuthMethods []string `yaml:"auth_methods"`
	Audience    []string `yaml:"audience"`

	AudienceRequired []string `yaml:"audience_required"`
	AudienceClaim    []string `yaml:"audience_claim"`
	ScopesRequired   []string `yaml:"scopes_required"`
	ScopesClaim      []string `yaml:"scopes_claim"`

	ConsumerClaim    []string `yaml:"consumer_claim"`
	ConsumerBy       []string `yaml:"consumer_by"`
	ConsumerOptional bool     `yaml:"consumer_optional"`
	Anonymous        *string  `yaml:"anonymous"`

	UpstreamHeadersClaims     []string `yaml:"upstream_headers_claims"`
	UpstreamHeadersNames      []string `yaml:"upstream_headers_names"`
	UpstreamAccessTokenHeader *string  `yaml:"upstream_access_token_header"`
	HideCredentials           bool     `yaml:"hide_credentials"`

	SessionSecret          *string `yaml:"session_secret"`
	SessionCookieName      string  `yaml:"session_cookie_name"`
	SessionCookiePath      string  `yaml:"session_cookie_path"`
	SessionCookieDomain    *string `yaml:"session_cookie_domain"`
	SessionCookieSameSite  string  `yaml:"session_cookie_same_site"`
	SessionCookieHTTPOnly  bool    `yaml:"session_cookie_http_only"`
	SessionCookieSecure    *bool   `yaml:"session_cookie_secure"`
	SessionRollingTimeout  float64 `yaml:"session_rolling_timeout"`
	SessionAbsoluteTimeout float64 `yaml:"session_absolute_timeout"`
	SessionIdlingTimeout   float64 `yaml:"session_idling_timeout"`

	AuthorizationCookieName     string  `yaml:"authorization_cookie_name"`
	AuthorizationCookieSameSite string  `yaml:"authorization_cookie_same_site"`
	AuthorizationRollingTimeout float64 `yaml:"authorization_rolling_timeout"`

	LogoutURISuffix   *string  `yaml:"logout_uri_suffix"`
	LogoutMethods     []string `yaml:"logout_methods"`
	LogoutQueryArg    *string  `yaml:"logout_query_arg"`
	LogoutRedirectURI any      `yaml:"logout_redirect_uri"`
	LogoutRevoke      bool     `yaml:"logout_revoke"`

	UnauthorizedRedirectURI  any    `yaml:"unauthorized_redirect_uri"`
	UnauthorizedErrorMessage string `yaml:"unauthorized_error_message"`
	ForbiddenErrorMessage    string `yaml:"forbidden_error_message"`

	// Timeout is the provider calls' timeout in milliseconds.
	Timeout float64 `yaml:"timeout"`
	// Leeway is the clock skew allowed on exp and nbf, in seconds.
	Leeway float64 `yaml:"leeway"`
}

// Kong's auth methods; implemented are the ones Turnpike does, the others
// (client_credentials, password, userinfo, kong_oauth2) are accepted, as
// Kong's default lists them, and do nothing.
var (
	kongAuthMethods = []string{"authorization_code", "bearer", "client_credentials", "introspection",
		"kong_oauth2", "password", "refresh_token", "session", "userinfo"}
	implementedAuthMethods = []string{"authorization_code", "bearer", "introspection", "refresh_token", "session"}
	consumerBys            = []string{"id", "username", "custom_id"}
	sameSites              = []string{"Strict", "Lax", "None", "Default"}
	logoutMethods          = []string{"POST", "GET", "DELETE"}
)

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.Scopes = []string{"openid"}
	c.AuthMethods = append([]string(nil), kongAuthMethods...)
	c.AudienceClaim = []string{"aud"}
	c.ScopesClaim = []string{"scope"}
	c.ConsumerBy = []string{"username", "custom_id"}
	c.UpstreamAccessTokenHeader = str("authorization:bearer")
	c.SessionCookieName = "session"
	c.SessionCookiePath = "/"
	c.SessionCookieSameSite = "Lax"
	c.SessionCookieHTTPOnly = true
	c.SessionRollingTimeout = 3600
	c.SessionAbsoluteTimeout = 86400
	c.SessionIdlingTimeout = 900
	c.AuthorizationCookieName = "authorization"
	c.AuthorizationCookieSameSite = "Default"
	c.AuthorizationRollingTimeout = 600
	c.LogoutMethods = []string{"POST", "DELETE"}
	c.UnauthorizedErrorMessage = "Unauthorized"
	c.ForbiddenErrorMessage = "Forbidden"
	c.Timeout = 10000
}

func str(s string) *string { return &s }

// settings is the config once checked: the array-or-string fields as
// lists, ready for the instance.
type settings struct {
	clientIDs, clientSecrets, redirectURIs, logoutRedirectURIs, unauthorizedRedirectURIs []string
}

// validate reports every bad value with its path, Kong's texts where Kong
// has them.
func (c *Config) validate() (settings, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	var s settings
	s.clientIDs = stringList(c.ClientID, "client_id", add)
	s.clientSecrets = stringList(c.ClientSecret, "client_secret", add)
	s.redirectURIs = stringList(c.RedirectURI, "redirect_uri", add)
	s.logoutRedirectURIs = stringList(c.LogoutRedirectURI, "logout_redirect_uri", add)
	s.unauthorizedRedirectURIs = stringList(c.UnauthorizedRedirectURI, "unauthorized_redirect_uri", add)

	if c.Issuer == "" {
		add("issuer", "required field missing")
	} else if !absoluteURL(c.Issuer) {
		add("issuer", "missing host in url")
	}
	for _, f := range []struct {
		path string
		v    *string
	}{{"authorization_endpoint", c.AuthorizationEndpoint}, {"token_endpoint", c.TokenEndpoint},
		{"introspection_endpoint", c.IntrospectionEndpoint}, {"end_session_endpoint", c.EndSessionEndpoint},
		{"revocation_endpoint", c.RevocationEndpoint}} {
		if f.v != nil && !absoluteURL(*f.v) {
			add(f.path, "missing host in url")
		}
	}
	for _, l := range []struct {
		path string
		v    []string
	}{{"redirect_uri", s.redirectURIs}, {"logout_redirect_uri", s.logoutRedirectURIs},
		{"unauthorized_redirect_uri", s.unauthorizedRedirectURIs}} {
		for i, u := range l.v {
			if !absoluteURL(u) {
				add(l.path+"["+strconv.Itoa(i)+"]", "missing host in url")
			}
		}
	}
	c.checkMethods(s, add)
	c.checkSession(add)
	return s, errs
}

// checkMethods checks the auth methods and what they need, the claims
// and the consumer mapping.
func (c *Config) checkMethods(s settings, add func(path, msg string)) {
	implemented := false
	for i, m := range c.AuthMethods {
		switch {
		case !contains(kongAuthMethods, m):
			add("auth_methods["+strconv.Itoa(i)+"]", "expected one of: "+strings.Join(kongAuthMethods, ", "))
		case contains(implementedAuthMethods, m):
			implemented = true
		}
	}
	if !implemented && len(c.AuthMethods) > 0 {
		add("auth_methods", "Turnpike implements "+strings.Join(implementedAuthMethods, ", ")+
			" of Kong's methods: list at least one of them")
	}
	if len(s.clientIDs) == 0 && (c.has("authorization_code") || c.has("introspection")) {
		add("client_id", "required field missing (authorization_code and introspection need it)")
	}
	// Turnpike reads the standard claims: aud, and scope (or scp).
	if len(c.AudienceClaim) != 1 || c.AudienceClaim[0] != "aud" {
		add("audience_claim", "Turnpike reads the audience from the 'aud' claim only")
	}
	if len(c.ScopesClaim) != 1 || c.ScopesClaim[0] != "scope" {
		add("scopes_claim", "Turnpike reads the scopes from the 'scope' claim (or 'scp') only")
	}
	// Kong reads a longer list as a path into nested claims; Turnpike
	// reads top-level claims.
	if len(c.ConsumerClaim) > 1 {
		add("consumer_claim", "Turnpike reads one claim name (a top-level claim), not a path into nested claims")
	}
	for i, b := range c.ConsumerBy {
		if !contains(consumerBys, b) {
			add("consumer_by["+strconv.Itoa(i)+"]", "expected one of: "+strings.Join(consumerBys, ", "))
		}
	}
	if len(c.UpstreamHeadersClaims) != len(c.UpstreamHeadersNames) {
		add("upstream_headers_names", "must have as many entries as upstream_headers_claims")
	}
	for i, n := range c.UpstreamHeadersNames {
		if !plugin.ValidHeaderName(n) {
			add("upstream_headers_names["+strconv.Itoa(i)+"]", "bad header name '"+n+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		}
	}
	if h := c.UpstreamAccessTokenHeader; h != nil {
		name, _, _ := strings.Cut(*h, ":")
		if !plugin.ValidHeaderName(name) {
			add("upstream_access_token_header", "bad header name '"+name+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		}
	}
}

// checkSession checks the cookies, timeouts, logout and the rest.
func (c *Config) checkSession(add func(path, msg string)) {
	for _, f := range []struct{ path, v string }{
		{"session_cookie_name", c.SessionCookieName}, {"session_cookie_path", c.SessionCookiePath},
		{"authorization_cookie_name", c.AuthorizationCookieName},
	} {
		if !cookie.ValidName(f.v) {
			add(f.path, "must be non-empty, without ';', ',', '=', quotes or white space")
		}
	}
	if c.SessionCookieDomain != nil && !cookie.ValidName(*c.SessionCookieDomain) {
		add("session_cookie_domain", "must be non-empty, without ';', ',', '=', quotes or white space")
	}
	if c.SessionCookieName == c.AuthorizationCookieName {
		add("authorization_cookie_name", "must differ from session_cookie_name")
	}
	for _, f := range []struct{ path, v string }{
		{"session_cookie_same_site", c.SessionCookieSameSite}, {"authorization_cookie_same_site", c.AuthorizationCookieSameSite},
	} {
		if !contains(sameSites, f.v) {
			add(f.path, "expected one of: "+strings.Join(sameSites, ", "))
		}
	}
	for _, t := range []struct {
		path string
		v    float64
	}{{"session_rolling_timeout", c.SessionRollingTimeout}, {"session_absolute_timeout", c.SessionAbsoluteTimeout},
		{"session_idling_timeout", c.SessionIdlingTimeout}, {"authorization_rolling_timeout", c.AuthorizationRollingTimeout}} {
		switch {
		case t.v < 0:
			add(t.path, "value must be at least 0 (0 turns the timeout off)")
		case t.v > 0 && t.v < 1:
			add(t.path, "value must be 0 (off) or at least 1 second")
		}
	}
	if c.AuthorizationRollingTimeout == 0 {
		add("authorization_rolling_timeout", "value must be at least 1 (a login must not wait forever)")
	}
	for i, m := range c.LogoutMethods {
		if !contains(logoutMethods, m) {
			add("logout_methods["+strconv.Itoa(i)+"]", "expected one of: "+strings.Join(logoutMethods, ", "))
		}
	}
	for _, f := range []struct {
		path string
		v    *string
	}{{"logout_uri_suffix", c.LogoutURISuffix}, {"logout_query_arg", c.LogoutQueryArg}, {"session_secret", c.SessionSecret}} {
		if f.v != nil && *f.v == "" {
			add(f.path, "length must be at least 1")
		}
	}
	if c.Timeout <= 0 {
		add("timeout", "value should be between 0 and 2147483646")
	}
	if c.Leeway < 0 {
		add("leeway", "value must be at least 0")
	}
	if c.Anonymous != nil && *c.Anonymous == "" {
		add("anonymous", "length must be at least 1")
	}
}

// stringList reads a field Kong types as an array of strings, also
// accepting one string.
func stringList(v any, path string, add func(string, string)) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		if v == "" {
			add(path, "length must be at least 1")
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok || s == "" {
				add(path+"["+strconv.Itoa(i)+"]", "expected a non-empty string")
				continue
			}
			out = append(out, s)
		}
		return out
	}
	add(path, "expected a string or an array of strings")
	return nil
}

func (c *Config) has(method string) bool { return contains(c.AuthMethods, method) }

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
