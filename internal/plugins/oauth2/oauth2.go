// Package oauth2 is the oauth2 plugin in its two shapes: Kong's, where
// the gateway is the authorization server (consumers' oauth2_credentials,
// the {route}/oauth2/authorize and /oauth2/token endpoints, tokens in the
// shared store), and the patterns guide's, where an external authorization
// server issues the tokens and the gateway checks them (subpackage
// external). A config naming an external server (token_endpoint,
// introspection_endpoint or issuer) is the guide's shape.
package oauth2

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
)

// Config is Kong's oauth2 schema plus the guide's external-server fields.
type Config struct {
	Scopes                        []string `yaml:"scopes"`
	MandatoryScope                bool     `yaml:"mandatory_scope"`
	ProvisionKey                  string   `yaml:"provision_key"`
	TokenExpiration               float64  `yaml:"token_expiration"`
	EnableAuthorizationCode       bool     `yaml:"enable_authorization_code"`
	EnableImplicitGrant           bool     `yaml:"enable_implicit_grant"`
	EnableClientCredentials       bool     `yaml:"enable_client_credentials"`
	EnablePasswordGrant           bool     `yaml:"enable_password_grant"`
	HideCredentials               bool     `yaml:"hide_credentials"`
	AcceptHTTPIfAlreadyTerminated bool     `yaml:"accept_http_if_already_terminated"`
	// Anonymous is a consumer id or username.
	Anonymous         *string `yaml:"anonymous"`
	GlobalCredentials bool    `yaml:"global_credentials"`
	AuthHeaderName    string  `yaml:"auth_header_name"`
	RefreshTokenTTL   float64 `yaml:"refresh_token_ttl"`
	ReuseRefreshToken bool    `yaml:"reuse_refresh_token"`
	PKCE              string  `yaml:"pkce"`
	Realm             *string `yaml:"realm"`
	PersistentRefresh bool    `yaml:"persistent_refresh_token"`
	// Redis, when set, keeps the tokens and codes there, shared by every
	// node (tokens.Open); it must name a server.
	Redis           *plugin.RedisConfig `yaml:"redis"`
	external.Config `yaml:",inline"`
}

// SetDefaults applies Kong's defaults and the external shape's.
func (c *Config) SetDefaults() {
	c.TokenExpiration = 7200
	c.AuthHeaderName = "authorization"
	c.RefreshTokenTTL = 1209600
	c.PKCE = "lax"
	c.Config.SetDefaults()
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        "oauth2",
		Priority:    1400,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
		Secrets:     secrets,
		Admin:       adminRoutes(),
	}
}

// New builds the instance of the shape the config names.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	if c.Redis != nil {
		if errs := c.Redis.Validate("tokens", true).Under("redis"); len(errs) > 0 {
			return nil, errs
		}
	}
	if c.Config.Enabled() {
		return external.New(&c.Config, external.Common{
			Scopes:          c.Scopes,
			MandatoryScope:  c.MandatoryScope,
			HideCredentials: c.HideCredentials,
			Anonymous:       c.Anonymous,
			AuthHeaderName:  c.AuthHeaderName,
			Realm:           c.Realm,

			AcceptHTTPIfAlreadyTerminated: c.AcceptHTTPIfAlreadyTerminated,
		}, env)
	}
	return newKong(c, env)
}
