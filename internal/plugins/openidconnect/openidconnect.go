package openidconnect

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

const name = "openid-connect"

// Registration describes the plugin to the registry: Kong's priority.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   1050,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

var (
	_ plugin.Accessor     = (*instance)(nil)
	_ plugin.HeaderFilter = (*instance)(nil)
	_ plugin.Starter      = (*instance)(nil)
	_ plugin.Closer       = (*instance)(nil)
)

type instance struct {
	v *oidc.Verifier
	// discoveryFailed (Unix ns) is when a discovery a request waited for
	// last failed. The verifier starts at most one attempt a second,
	// counted from the attempt's start: after an attempt that took longer
	// (timeout over 500 ms, two documents), each request would wait on
	// the provider again.
	discoveryFailed atomic.Int64
	// idVerifier checks ID tokens (audience: the client id); made once
	// discovery has found the key set.
	idVerifier atomic.Pointer[gooidc.IDTokenVerifier]

	clientID, clientSecret, redirectURI string
	// redirectPath is redirect_uri's path, where the provider's redirect
	// back is expected ("": anywhere).
	redirectPath                    string
	scopes, audienceParam           []string
	authCode, bearer, introspection bool
	session, refresh                bool

	audienceRequired []string
	scopesRequired   [][]string
	consumerClaim    string
	consumerBy       []string
	consumerOptional bool
	anonymous        string
	headerClaims     []string
	// headerNames are upstream_headers_names, canonical.
	headerNames []string
	// tokenHeader and tokenPrefix pass a session's access token upstream
	// (upstream_access_token_header); "" passes none.
	tokenHeader, tokenPrefix string
	hideCredentials          bool

	sessionSeal, authzSeal *cookie.Sealer
	sessionName, authzName string
	// sessionAttrs and authzAttrs are the cookies' attributes after the
	// value, without and with Secure, which secure picks (nil: Secure
	// when the client's scheme is https).
	sessionAttrs, authzAttrs [2]string
	secure                   *bool
	life                     cookie.Lifetime
	authzTTL                 int64
	// claims caches the parsed claims of sessions' ID tokens: a session
	// request otherwise parses the token's JSON every time.
	claims *otter.Cache[claimsKey, *oidc.Claims]
	// refreshes shares one token refresh among the requests of a session
	// that carry one refresh token; refreshed keeps its result a while for
	// the requests that come after it with the old cookie (a rotating
	// refresh token works once).
	refreshes singleflight.Group
	refreshed *otter.Cache[string, *refreshResult]

	logoutSuffix, logoutQuery string
	logoutMethods             []string
	logoutRedirect            string
	logoutRevoke              bool
	unauthorizedRedirect      string
	unauthorizedMsg           string
	forbiddenMsg              string

	authURL, tokenURL, endSessionURL, revocationURL string
	timeout                                         time.Duration
	leeway                                          time.Duration
	log                                             *slog.Logger
	now                                             func() time.Time
	release                                         func()
}

// New validates the config and prepares the instance; it calls nobody:
// discovery runs in the background from Start, or on the first request
// that needs it.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	s, errs := c.validate()
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{
		authCode: c.has("authorization_code"), bearer: c.has("bearer"), introspection: c.has("introspection"),
		session: c.has("session"), refresh: c.has("refresh_token"),
		scopes: c.Scopes, audienceParam: c.Audience, audienceRequired: c.AudienceRequired,
		consumerBy: c.ConsumerBy, consumerOptional: c.ConsumerOptional,
		headerClaims:    c.UpstreamHeadersClaims,
		hideCredentials: c.HideCredentials, sessionName: c.SessionCookieName, authzName: c.AuthorizationCookieName,
		secure: c.SessionCookieSecure, authzTTL: int64(c.AuthorizationRollingTimeout),
		life:          cookie.NewLifetime(int64(c.SessionIdlingTimeout), int64(c.SessionRollingTimeout), int64(c.SessionAbsoluteTimeout)),
		logoutMethods: c.LogoutMethods, logoutRevoke: c.LogoutRevoke,
		unauthorizedMsg: c.UnauthorizedErrorMessage, forbiddenMsg: c.ForbiddenErrorMessage,
		timeout: time.Duration(c.Timeout) * time.Millisecond, leeway: time.Duration(c.Leeway * float64(time.Second)),
		log: env.Logger, now: time.Now,
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.clientID, in.clientSecret = first(s.clientIDs), first(s.clientSecrets)
	in.redirectURI, in.logoutRedirect = first(s.redirectURIs), first(s.logoutRedirectURIs)
	in.unauthorizedRedirect = first(s.unauthorizedRedirectURIs)
	if in.redirectURI != "" {
		u, _ := url.Parse(in.redirectURI) // validate checked it
		in.redirectPath = u.EscapedPath()
		if in.redirectPath == "" {
			in.redirectPath = "/"
		}
	}
	for _, n := range c.UpstreamHeadersNames {
		in.headerNames = append(in.headerNames, http.CanonicalHeaderKey(n))
	}
	for _, entry := range c.ScopesRequired {
		in.scopesRequired = append(in.scopesRequired, strings.Fields(entry))
	}
	if len(c.ConsumerClaim) > 0 {
		in.consumerClaim = c.ConsumerClaim[0]
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	if c.LogoutURISuffix != nil {
		in.logoutSuffix = *c.LogoutURISuffix
	}
	if c.LogoutQueryArg != nil {
		in.logoutQuery = *c.LogoutQueryArg
	}
	if h := c.UpstreamAccessTokenHeader; h != nil && *h != "" {
		n, kind, _ := strings.Cut(*h, ":")
		in.tokenHeader = http.CanonicalHeaderKey(n)
		if strings.EqualFold(kind, "bearer") {
			in.tokenPrefix = "Bearer "
		}
	}
	for _, e := range []struct {
		dst *string
		v   *string
	}{{&in.authURL, c.AuthorizationEndpoint}, {&in.tokenURL, c.TokenEndpoint},
		{&in.endSessionURL, c.EndSessionEndpoint}, {&in.revocationURL, c.RevocationEndpoint}} {
		if e.v != nil {
			*e.dst = *e.v
		}
	}
	in.cookieAttrs(c)
	if err := in.sealers(c, env); err != nil {
		return nil, err
	}
	in.caches()
	issuer := strings.TrimSuffix(strings.TrimSuffix(c.Issuer, "/.well-known/openid-configuration"), "/")
	opts := oidc.Options{
		Issuer: issuer, ClientID: in.clientID, ClientSecret: in.clientSecret,
		Leeway: in.leeway, CacheTTL: time.Minute, NegativeTTL: 10 * time.Second, Timeout: in.timeout,
		HTTPClient: env.HTTPClient, Logger: in.log, AnyAudienceJWT: true,
	}
	if c.IntrospectionEndpoint != nil {
		opts.IntrospectionEndpoint = *c.IntrospectionEndpoint
	}
	in.v = oidc.New(opts)
	return in, nil
}

// sealers derive the session and authorization cookies' keys from
// session_secret (or a random secret per node, kept across reloads, as
// Kong draws one), bound to the issuer and client.
func (in *instance) sealers(c *Config, env plugin.Env) error {
	secret, release := cookie.Secret(deref(c.SessionSecret), env, name)
	bind := "\x00" + c.Issuer + "\x00" + in.clientID
	var err error
	in.sessionSeal, err = cookie.NewSealer(secret, "turnpike openid-connect session v1", in.sessionName+bind,
		cookie.MaxChunks*cookie.ChunkSize)
	if err == nil {
		in.authzSeal, err = cookie.NewSealer(secret, "turnpike openid-connect authorization v1", in.authzName+bind,
			cookie.ChunkSize)
	}
	if err != nil {
		release()
		return err
	}
	in.release = release
	return nil
}

// Start discovers the provider in the background.
func (in *instance) Start() { in.v.Start() }

// Close stops discovery and the caches' goroutines, and gives back a
// generated secret.
func (in *instance) Close() {
	in.v.Close()
	in.claims.StopAllGoroutines()
	in.refreshed.StopAllGoroutines()
	in.release()
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// cookieAttrs prepares the cookies' attributes. The authorization cookie
// has its own SameSite (Kong's authorization_cookie_same_site): it must
// come back on the provider's cross-site redirect, which a Strict
// session cookie does not.
func (in *instance) cookieAttrs(c *Config) {
	a := cookie.Attrs{Path: c.SessionCookiePath, Domain: deref(c.SessionCookieDomain),
		SameSite: c.SessionCookieSameSite, HTTPOnly: c.SessionCookieHTTPOnly}
	authz := a
	authz.SameSite = c.AuthorizationCookieSameSite
	for i, secure := range []bool{false, true} {
		a.Secure, authz.Secure = secure, secure
		in.sessionAttrs[i], in.authzAttrs[i] = a.String(), authz.String()
	}
}

// secureIndex picks the attributes with Secure when configured, or when
// not configured and the client came over https.
func (in *instance) secureIndex(c *plugin.Ctx) int {
	if in.secure != nil && *in.secure || in.secure == nil && c.Scheme == "https" {
		return 1
	}
	return 0
}

// errProvider says the provider could not be reached or understood.
var errProvider = errors.New("the identity provider is unavailable")

// discoveryBackoff is how long requests fail at once after a discovery
// failed (the background discovery keeps trying).
const discoveryBackoff = 2 * time.Second

// providerDown reports whether discovery has not succeeded and failed
// within discoveryBackoff.
func (in *instance) providerDown() bool {
	return in.v.Metadata() == nil && in.now().UnixNano()-in.discoveryFailed.Load() < int64(discoveryBackoff)
}

// idTokens returns the ID token verifier, made on first use.
func (in *instance) idTokens() (*gooidc.IDTokenVerifier, error) {
	if v := in.idVerifier.Load(); v != nil {
		return v, nil
	}
	p := in.v.Provider()
	if p == nil {
		return nil, errProvider
	}
	v := p.VerifierContext(gooidc.ClientContext(context.Background(), in.v.Client()), &gooidc.Config{
		ClientID: in.clientID,
		Now:      func() time.Time { return in.now().Add(-in.leeway) },
	})
	in.idVerifier.Store(v)
	return v, nil
}

// providerError answers a request the provider could not serve: 502,
// but for a client that left while it waited, whom nobody answers and
// who is no provider failure (499, as nginx logs it).
func providerError(c *plugin.Ctx) error {
	if c.Req.Context().Err() != nil {
		return &plugin.Exit{Status: statusClientClosed, Body: []byte{}}
	}
	return plugin.NewExit(http.StatusBadGateway, "An invalid response was received from the identity provider")
}

// statusClientClosed is nginx's status for a request whose client closed
// the connection before the answer.
const statusClientClosed = 499
