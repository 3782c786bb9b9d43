// Package external is the oauth2 plugin's shape from the patterns guide:
// an external authorization server issues the tokens; the gateway checks
// them (introspection or JWKS) and relays clients' token requests.
package external

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is the external-server part of the oauth2 plugin's config; the
// oauth2 package embeds it inline, so these are fields of the plugin's
// config beside Kong's. Names the server's own metadata uses (RFC 8414)
// and Kong's openid-connect plugin uses are kept: audience_required,
// timeout (ms), leeway, cache_ttl_max, cache_ttl_neg.
type Config struct {
	TokenEndpoint         string   `yaml:"token_endpoint"`
	AuthorizationEndpoint string   `yaml:"authorization_endpoint"`
	IntrospectionEndpoint string   `yaml:"introspection_endpoint"`
	RevocationEndpoint    string   `yaml:"revocation_endpoint"`
	Issuer                string   `yaml:"issuer"`
	ClientID              string   `yaml:"client_id"`
	ClientSecret          string   `yaml:"client_secret"`
	LoginRedirectURL      string   `yaml:"login_redirect_url"`
	AllowedTokenMethods   []string `yaml:"allowed_token_methods"`
	RevokeTokenMethod     string   `yaml:"revoke_token_method"`
	// AudienceRequired are the audiences of which a token's `aud` must
	// name one (none: any).
	AudienceRequired []string `yaml:"audience_required"`
	// RedirectURI is sent to the authorization endpoint when a browser is
	// sent to log in.
	RedirectURI string `yaml:"redirect_uri"`
	// Timeout bounds each call to the server, in milliseconds.
	Timeout float64 `yaml:"timeout"`
	// Leeway is the clock skew allowed on exp and nbf, in seconds.
	Leeway float64 `yaml:"leeway"`
	// CacheTTLMax is the longest an accepted token's check is cached, in
	// seconds (never past its exp); 0 checks every request.
	CacheTTLMax float64 `yaml:"cache_ttl_max"`
	// CacheTTLNeg is how long a refused token stays refused without
	// asking the server again, in seconds.
	CacheTTLNeg float64 `yaml:"cache_ttl_neg"`
	// ConsumerClaim names the claims, tried in order, whose value names
	// the request's consumer (Kong openid-connect's consumer_claim); none:
	// tokens map to no consumer.
	ConsumerClaim []string `yaml:"consumer_claim"`
	// ConsumerBy is how a claim's value finds the consumer: by
	// `username`, `custom_id` or `id`, tried in order.
	ConsumerBy []string `yaml:"consumer_by"`
}

// SetDefaults applies the external shape's defaults.
func (c *Config) SetDefaults() {
	c.RevokeTokenMethod = "POST"
	c.Timeout = 10000
	c.CacheTTLMax = 300
	c.CacheTTLNeg = 10
	c.ConsumerBy = []string{"username", "custom_id"}
}

// Enabled says whether the config names an external server.
func (c *Config) Enabled() bool {
	return c.TokenEndpoint != "" || c.IntrospectionEndpoint != "" || c.Issuer != ""
}

// Common are the plugin's fields both shapes read.
type Common struct {
	Scopes          []string
	MandatoryScope  bool
	HideCredentials bool
	Anonymous       *string
	AuthHeaderName  string
	Realm           *string
	// AcceptHTTPIfAlreadyTerminated lets the relayed endpoints trust a
	// trusted peer's X-Forwarded-Proto, as Kong's endpoints do.
	AcceptHTTPIfAlreadyTerminated bool
}

// grants are the grant types a client may ask the relayed token endpoint
// for.
var grants = []string{"client_credentials", "password", "authorization_code", "refresh_token"}

// validate checks the config as a schema would, with field paths.
func (c *Config) validate(com *Common) plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	for _, f := range []struct{ path, v string }{
		{"token_endpoint", c.TokenEndpoint}, {"authorization_endpoint", c.AuthorizationEndpoint},
		{"introspection_endpoint", c.IntrospectionEndpoint}, {"revocation_endpoint", c.RevocationEndpoint},
		{"issuer", c.Issuer}, {"login_redirect_url", c.LoginRedirectURL}, {"redirect_uri", c.RedirectURI},
	} {
		if f.v != "" && !absoluteHTTP(f.v) {
			add(f.path, "missing host in url")
		}
	}
	for i, m := range c.AllowedTokenMethods {
		if !slices.Contains(grants, m) {
			add("allowed_token_methods["+strconv.Itoa(i)+"]", "expected one of: "+strings.Join(grants, ", "))
		}
	}
	if len(c.AllowedTokenMethods) > 0 && c.TokenEndpoint == "" && c.Issuer == "" {
		add("token_endpoint", "required field missing (allowed_token_methods relays to it; an issuer's is discovered)")
	}
	if c.RevokeTokenMethod != "POST" && c.RevokeTokenMethod != "DELETE" {
		add("revoke_token_method", "expected one of: POST, DELETE")
	}
	if c.ClientSecret != "" && c.ClientID == "" {
		add("client_id", "required field missing (client_secret is set)")
	}
	for _, f := range []struct {
		path string
		v    float64
	}{{"timeout", c.Timeout}, {"leeway", c.Leeway}, {"cache_ttl_max", c.CacheTTLMax}, {"cache_ttl_neg", c.CacheTTLNeg}} {
		if f.v < 0 {
			add(f.path, "value must be greater than or equal to 0")
		}
	}
	if c.Timeout == 0 {
		add("timeout", "value must be greater than 0")
	}
	for i, a := range c.AudienceRequired {
		if a == "" {
			add("audience_required["+strconv.Itoa(i)+"]", "length must be at least 1")
		}
	}
	for i, b := range c.ConsumerBy {
		if b != "username" && b != "custom_id" && b != "id" {
			add("consumer_by["+strconv.Itoa(i)+"]", "expected one of: username, custom_id, id")
		}
	}
	for i, n := range c.ConsumerClaim {
		if n == "" {
			add("consumer_claim["+strconv.Itoa(i)+"]", "length must be at least 1")
		}
	}
	errs = append(errs, com.validate()...)
	return errs
}

// validate checks the fields shared with Kong's shape, with Kong's texts.
func (com *Common) validate() plugin.Errors {
	var errs plugin.Errors
	if com.MandatoryScope && len(com.Scopes) == 0 {
		errs = append(errs, plugin.Problem{Path: "scopes", Message: "required field missing"})
	}
	if com.Anonymous != nil && *com.Anonymous == "" {
		errs = append(errs, plugin.Problem{Path: "anonymous", Message: "length must be at least 1"})
	}
	if com.Realm != nil && *com.Realm == "" {
		errs = append(errs, plugin.Problem{Path: "realm", Message: "length must be at least 1"})
	}
	if com.AuthHeaderName == "" {
		errs = append(errs, plugin.Problem{Path: "auth_header_name", Message: "length must be at least 1"})
	} else if !plugin.ValidHeaderName(com.AuthHeaderName) {
		errs = append(errs, plugin.Problem{Path: "auth_header_name", Message: "bad header name '" + com.AuthHeaderName + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"})
	}
	for i, s := range com.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			errs = append(errs, plugin.Problem{Path: "scopes[" + strconv.Itoa(i) + "]", Message: "a scope is one or more printable ASCII characters other than space, '\"' and '\\' (RFC 6749 3.3)"})
		}
	}
	return errs
}

// absoluteHTTP reports whether s is an absolute http(s) URL with a host.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// plainHTTP lists the fields naming a server by plain http off this host:
// the gateway sends the client secret and clients' tokens there
// unencrypted.
func (c *Config) plainHTTP() []string {
	var out []string
	for _, f := range []struct{ path, v string }{
		{"issuer", c.Issuer}, {"token_endpoint", c.TokenEndpoint},
		{"introspection_endpoint", c.IntrospectionEndpoint}, {"revocation_endpoint", c.RevocationEndpoint},
	} {
		u, err := url.Parse(f.v)
		if err != nil || u.Scheme != "http" {
			continue
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			out = append(out, f.path)
		}
	}
	return out
}
