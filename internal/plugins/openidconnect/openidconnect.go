package openidconnect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
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
	v         *oidc.Verifier
	discovery singleflight.Group
	// discoveryFailedUntil (Unix ns) is when a request may try discovery
	// again after a failure.
	discoveryFailedUntil atomic.Int64
	// idVerifier checks ID tokens (audience: the client id); made once
	// discovery has found the key set.
	idVerifier atomic.Pointer[gooidc.IDTokenVerifier]

	clientID, clientSecret, redirectURI string
	scopes, audienceParam               []string
	authCode, bearer, introspection     bool
	session, refresh                    bool

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
	// attrs are the cookies' attributes after the value, but Secure,
	// which secure says (nil: when the client's scheme is https).
	attrs                     string
	secure                    *bool
	idling, rolling, absolute int64
	authzTTL                  int64

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
		secure: c.SessionCookieSecure, idling: int64(c.SessionIdlingTimeout), rolling: int64(c.SessionRollingTimeout),
		absolute: int64(c.SessionAbsoluteTimeout), authzTTL: int64(c.AuthorizationRollingTimeout),
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
	in.attrs = cookieAttrs(c)
	if err := in.sealers(c, env); err != nil {
		return nil, err
	}
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
	secret, release := secretFor(c.SessionSecret, env)
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

// Close stops discovery and gives back a generated secret.
func (in *instance) Close() {
	in.v.Close()
	in.release()
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func secretFor(configured *string, env plugin.Env) (string, func()) {
	if configured != nil {
		return *configured, func() {}
	}
	if env.Store == nil || env.Store.Shared == nil {
		return randomString(32), func() {}
	}
	v, release := env.Store.Shared.Acquire("openid-connect-secret\x00"+env.PluginID, func() io.Closer {
		return generated(randomString(32))
	})
	return string(v.(generated)), release
}

type generated string

func (generated) Close() error { return nil }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: it crashes the process instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieAttrs are the attributes after a cookie's value, but Secure.
func cookieAttrs(c *Config) string {
	a := "; Path=" + c.SessionCookiePath
	if c.SessionCookieDomain != nil {
		a += "; Domain=" + *c.SessionCookieDomain
	}
	if c.SessionCookieSameSite != "Default" {
		a += "; SameSite=" + c.SessionCookieSameSite
	}
	if c.SessionCookieHTTPOnly {
		a += "; HttpOnly"
	}
	return a
}

// cookieAttrsFor adds Secure when configured, or when not configured and
// the client came over https.
func (in *instance) cookieAttrsFor(c *plugin.Ctx) string {
	if in.secure != nil && *in.secure || in.secure == nil && c.Scheme == "https" {
		return in.attrs + "; Secure"
	}
	return in.attrs
}

// discoveryBackoff is how long requests fail fast after discovery failed.
const discoveryBackoff = 2 * time.Second

// errProvider says the provider could not be reached or understood.
var errProvider = errors.New("the identity provider is unavailable")

// ready makes sure the provider is discovered (once; concurrent requests
// share one attempt, bounded by the timeout) and returns its metadata.
func (in *instance) ready() (*oidc.Metadata, error) {
	if m := in.v.Metadata(); m != nil {
		return m, nil
	}
	// After a failure requests fail fast for a while (the verifier's
	// background discovery keeps trying) instead of each wave waiting a
	// timeout on a provider that is down.
	if in.now().UnixNano() < in.discoveryFailedUntil.Load() {
		return nil, errProvider
	}
	_, err, _ := in.discovery.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
		defer cancel()
		err := in.v.Discover(ctx)
		if err != nil {
			in.discoveryFailedUntil.Store(in.now().Add(discoveryBackoff).UnixNano())
			in.log.Warn("openid-connect: discovery failed", "error", err.Error())
		}
		return nil, err
	})
	if err != nil {
		return nil, errProvider
	}
	return in.v.Metadata(), nil
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

// providerError answers a request the provider could not serve.
func providerError() error {
	return plugin.NewExit(http.StatusBadGateway, "An invalid response was received from the identity provider")
}
