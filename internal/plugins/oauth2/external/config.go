// Package external is the oauth2 plugin's shape from the patterns guide:
// an external authorization server issues the tokens; the gateway checks
// them (introspection or JWKS) and relays clients' token requests.
package external

import "github.com/turnpikegw/turnpike/internal/plugin"

// Config is the external-server part of the oauth2 plugin's config; the
// oauth2 package embeds it inline, so these are fields of the plugin's
// config beside Kong's.
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
}

// SetDefaults applies the external shape's defaults.
func (c *Config) SetDefaults() {}

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
}

// New builds the instance checking an external server's tokens. Being
// built in issue 17; until then a config of this shape is refused.
func New(*Config, Common, plugin.Env) (plugin.Instance, error) {
	return nil, plugin.Errors{{Path: "token_endpoint", Message: "external authorization servers are not supported yet (issue 17)"}}
}
