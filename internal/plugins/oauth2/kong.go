package oauth2

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// maxTTL is the largest refresh_token_ttl Kong accepts (its DAO_MAX_TTL).
const maxTTL = 100000000

// msgFlows is Kong's message when no grant is enabled.
const msgFlows = "at least one of these fields must be true: enable_authorization_code, " +
	"enable_implicit_grant, enable_client_credentials, enable_password_grant"

// checkKong validates Kong's shape as Kong's schema does.
func checkKong(c *Config) plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	nonEmpty := func(path string, v *string) {
		if v != nil && *v == "" {
			add(path, "length must be at least 1")
		}
	}
	for i, s := range c.Scopes {
		if s == "" {
			add("scopes["+strconv.Itoa(i)+"]", "length must be at least 1")
		}
	}
	if c.MandatoryScope && c.Scopes == nil {
		add("scopes", "required field missing")
	}
	if c.AuthHeaderName == "" {
		add("auth_header_name", "length must be at least 1")
	}
	if c.RefreshTokenTTL < 0 || c.RefreshTokenTTL > maxTTL {
		add("refresh_token_ttl", "value should be between 0 and "+strconv.Itoa(maxTTL))
	}
	switch c.PKCE {
	case "none", "lax", "strict":
	default:
		add("pkce", "expected one of: none, lax, strict")
	}
	nonEmpty("anonymous", c.Anonymous)
	nonEmpty("realm", c.Realm)
	if !c.EnableAuthorizationCode && !c.EnableImplicitGrant && !c.EnableClientCredentials && !c.EnablePasswordGrant {
		add("", msgFlows)
	}
	return errs
}

// kong is the instance of Kong's shape: the gateway as the authorization
// server. It answers {route}/oauth2/authorize and /oauth2/token (and the
// revocation and introspection endpoints Kong lacks), and checks the
// tokens it issued on every other request.
type kong struct {
	scopes        map[string]struct{}
	provisionKey  string
	releaseKey    func()
	store         tokens.Store
	releaseStore  func()
	authHeader    plugin.HeaderName
	anonymous     string
	pluginID      string
	tokenTTL      int
	refreshTTL    time.Duration
	reuseRefresh  bool
	pkce          string
	global        bool
	hide          bool
	acceptHTTP    bool
	enableCode    bool
	enableImplict bool
	enableClient  bool
	enablePass    bool
	mandatory     bool
	// Precomputed answers of the access phase.
	missing, invalid *plugin.Exit
	globalOnly       *plugin.Exit
	realm            string
	now              func() time.Time
}

// newKong builds Kong's shape.
func newKong(c *Config, env plugin.Env) (plugin.Instance, error) {
	if errs := checkKong(c); len(errs) > 0 {
		return nil, errs
	}
	k := &kong{
		authHeader:    plugin.NewHeaderName(c.AuthHeaderName),
		pluginID:      env.PluginID,
		tokenTTL:      int(c.TokenExpiration),
		refreshTTL:    time.Duration(c.RefreshTokenTTL) * time.Second,
		reuseRefresh:  c.ReuseRefreshToken || c.PersistentRefresh,
		pkce:          c.PKCE,
		global:        c.GlobalCredentials,
		hide:          c.HideCredentials,
		acceptHTTP:    c.AcceptHTTPIfAlreadyTerminated,
		enableCode:    c.EnableAuthorizationCode,
		enableImplict: c.EnableImplicitGrant,
		enableClient:  c.EnableClientCredentials,
		enablePass:    c.EnablePasswordGrant,
		mandatory:     c.MandatoryScope,
		now:           time.Now,
	}
	if c.Scopes != nil {
		k.scopes = make(map[string]struct{}, len(c.Scopes))
		for _, s := range c.Scopes {
			k.scopes[s] = struct{}{}
		}
	}
	if c.Anonymous != nil {
		k.anonymous = *c.Anonymous
	}
	if c.Realm != nil {
		k.realm = *c.Realm
	}
	store, release, err := tokens.Open(env, c.Redis)
	if err != nil {
		return nil, plugin.Errors{{Path: "redis", Message: err.Error()}}
	}
	k.store, k.releaseStore = store, release
	k.provisionKey, k.releaseKey = provisionKey(c.ProvisionKey, env)
	k.missing = k.bearerExit(http.StatusUnauthorized, "invalid_request", "The access token is missing", "", "")
	k.invalid = k.bearerExit(http.StatusUnauthorized, errInvalidToken, msgInvalidToken, errInvalidToken, msgInvalidToken)
	k.globalOnly = k.bearerExit(http.StatusUnauthorized, errInvalidToken,
		"The access token is global, but the current plugin is configured without 'global_credentials'",
		errInvalidToken, msgInvalidToken)
	return k, nil
}

// Close gives back the store and the provision key.
func (k *kong) Close() {
	k.releaseStore()
	k.releaseKey()
}

const (
	errInvalidToken = "invalid_token"
	msgInvalidToken = "The access token is invalid or has expired"
)

// bearerExit is an answer with Kong's {"error","error_description"} body
// and a Bearer challenge naming challengeCode and challengeDesc.
func (k *kong) bearerExit(status int, code, desc, challengeCode, challengeDesc string) *plugin.Exit {
	return external.ErrorExit(status, http.Header{"Www-Authenticate": {
		external.WWWAuthenticate(k.realm, challengeCode, challengeDesc, "")}}, code, desc)
}

// Access serves the plugin's endpoints when the path ends with one, as
// Kong matches them (a trailing slash allowed), and checks the access
// token on every other request.
func (k *kong) Access(c *plugin.Ctx) error {
	path := c.ClientPath
	if path == "" {
		path = c.Req.URL.Path
	}
	path = strings.TrimSuffix(path, "/")
	if i := strings.LastIndex(path, "/oauth2/"); i >= 0 {
		switch path[i+len("/oauth2/"):] {
		case "token":
			return k.endpoint(c, "token", k.token)
		case "authorize":
			return k.endpoint(c, "authorization", k.authorize)
		case "revoke":
			return k.endpoint(c, "revocation", k.revoke)
		case "introspect":
			return k.endpoint(c, "introspection", k.introspect)
		}
	}
	return plugin.RunAuth(c, k.anonymous, k)
}

// endpoint answers one of the plugin's endpoints, which take POST only.
func (k *kong) endpoint(c *plugin.Ctx, name string, serve func(*plugin.Ctx, *external.Params) *plugin.Exit) error {
	if c.Req.Method != http.MethodPost {
		desc := "The HTTP method " + c.Req.Method + " is invalid for the " + name + " endpoint"
		return k.bearerExit(http.StatusMethodNotAllowed, "invalid_method", desc, "invalid_method", desc)
	}
	return serve(c, external.ReadParams(c))
}

// isHTTPS is Kong's check_https for the endpoints.
func (k *kong) isHTTPS(c *plugin.Ctx) (ok bool, msg string) { return external.IsHTTPS(c, k.acceptHTTP) }

// storeCtx bounds a store call, or the wait for a secret's derivation,
// by the request's lifetime and a few seconds, so that a Redis that
// stopped answering or a queue of derivations does not hold the request.
func storeCtx(c *plugin.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Req.Context(), storeTimeout)
}

const storeTimeout = 5 * time.Second
