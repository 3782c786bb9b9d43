package external

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// instance checks the tokens of one external authorization server.
type instance struct {
	v         *oidc.Verifier
	log       *slog.Logger
	scopes    []string
	mandatory bool
	hide      bool
	anonymous string
	header    plugin.HeaderName
	// Per-answer texts, rendered once.
	wwwMissing, wwwInvalid, wwwScope string
	relay                            relay
	login                            login
	consumers                        consumerMap
}

// New validates the config and builds the instance checking the server's
// tokens: by discovery from issuer; by introspection_endpoint alone; or,
// with token_endpoint alone (the guide's example), by discovery from the
// token endpoint's origin.
func New(c *Config, com Common, env plugin.Env) (plugin.Instance, error) {
	if errs := c.validate(&com); len(errs) > 0 {
		return nil, errs
	}
	o := oidc.Options{
		Issuer:                c.Issuer,
		IntrospectionEndpoint: c.IntrospectionEndpoint,
		ClientID:              c.ClientID,
		ClientSecret:          c.ClientSecret,
		Audience:              c.AudienceRequired,
		Leeway:                seconds(c.Leeway),
		CacheTTL:              seconds(c.CacheTTLMax),
		NegativeTTL:           seconds(c.CacheTTLNeg),
		Timeout:               time.Duration(c.Timeout * float64(time.Millisecond)),
		HTTPClient:            env.HTTPClient,
		Logger:                env.Logger,
	}
	if c.Issuer == "" && c.IntrospectionEndpoint == "" {
		u, _ := url.Parse(c.TokenEndpoint)
		o.DiscoveryURLs = oidc.DiscoveryURLs(u.Scheme + "://" + u.Host)
	}
	in := &instance{
		v:         oidc.New(o),
		log:       env.Logger,
		scopes:    com.Scopes,
		mandatory: com.MandatoryScope,
		hide:      com.HideCredentials,
		header:    plugin.NewHeaderName(com.AuthHeaderName),
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	for _, f := range c.plainHTTP() {
		in.log.Warn("oauth2: "+f+" is plain http: the client secret and clients' tokens cross the network unencrypted; use https",
			"field", f)
	}
	if com.Anonymous != nil {
		in.anonymous = *com.Anonymous
	}
	realm := ""
	if com.Realm != nil {
		realm = *com.Realm
	}
	in.wwwMissing = WWWAuthenticate(realm, "", "", "")
	in.wwwInvalid = WWWAuthenticate(realm, "invalid_token", msgInvalid, "")
	in.wwwScope = WWWAuthenticate(realm, "insufficient_scope", msgScope, strings.Join(com.Scopes, " "))
	in.relay = relay{v: in.v, tokenEndpoint: c.TokenEndpoint, revocationEndpoint: c.RevocationEndpoint,
		revokeMethod: c.RevokeTokenMethod, allowed: c.AllowedTokenMethods, acceptHTTP: com.AcceptHTTPIfAlreadyTerminated}
	in.login = newLogin(c, com.Scopes)
	in.consumers = consumerMap{claims: c.ConsumerClaim, by: c.ConsumerBy}
	return in, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Start discovers the server's metadata in the background: a request
// before it is known is answered 503, never let through unchecked.
func (in *instance) Start() { in.v.Start() }

// Close stops discovery and the cache's goroutine; requests still in
// flight are checked by calls.
func (in *instance) Close() { in.v.Close() }

// Access answers the relayed endpoints and checks the token of every
// other request, with Kong's rules for combining auth plugins.
func (in *instance) Access(c *plugin.Ctx) error {
	if e := in.relay.serve(c); e != nil {
		return e
	}
	return plugin.RunAuth(c, in.anonymous, in)
}

// CheckCredentials checks the request's bearer token (plugin.RunAuth
// adds the anonymous-consumer rules).
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	token, ok := in.token(c)
	if !ok {
		return in.unauthorized(in.wwwInvalid, errInvalidToken, msgInvalid)
	}
	if token == "" {
		if e := in.login.redirect(c); e != nil {
			return e
		}
		return in.unauthorized(in.wwwMissing, errInvalidRequest, msgMissing)
	}
	claims, err := in.v.Verify(c.Req.Context(), token)
	switch {
	case errors.Is(err, oidc.ErrInvalidToken):
		return in.unauthorized(in.wwwInvalid, errInvalidToken, msgInvalid)
	case err != nil:
		return ErrorExit(http.StatusServiceUnavailable, nil, errUnavailable, msgUnavailable)
	}
	if in.mandatory && !hasOne(claims, in.scopes) {
		return ErrorExit(http.StatusForbidden, http.Header{"Www-Authenticate": {in.wwwScope}}, errScope, msgScope)
	}
	consumer, e := in.consumers.find(c, claims)
	if e != nil {
		return e
	}
	in.authenticate(c, claims, consumer)
	return nil
}

// authenticate sets what Kong's oauth2 sets: the client id as the
// credential's identifier, the token's scope and user, and the consumer's
// headers when consumer_claim named one (none otherwise). The gateway
// removed client-sent copies before any plugin ran.
func (in *instance) authenticate(c *plugin.Ctx, claims *oidc.Claims, consumer *plugin.Consumer) {
	h := c.Req.Header
	sub, cid, scope := claims.HeaderValues()
	c.Consumer = consumer
	c.Claims = claims
	c.Credential = claims.ClientID
	if c.Credential == "" {
		c.Credential = claims.Subject
	}
	if c.Credential == "" {
		c.Credential = "oauth2"
	}
	setOrDelete(h, "X-Credential-Identifier", cid)
	setOrDelete(h, "X-Authenticated-Scope", scope)
	setOrDelete(h, "X-Authenticated-Userid", sub)
	delete(h, "X-Anonymous-Consumer")
	if consumer == nil {
		delete(h, "X-Consumer-Id")
		delete(h, "X-Consumer-Custom-Id")
		delete(h, "X-Consumer-Username")
		return
	}
	setOrDelete(h, "X-Consumer-Id", []string{consumer.ID})
	setOrDelete(h, "X-Consumer-Custom-Id", headerIf(consumer.CustomID))
	setOrDelete(h, "X-Consumer-Username", headerIf(consumer.Username))
}

func headerIf(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func setOrDelete(h http.Header, key string, v []string) {
	if v == nil {
		delete(h, key)
		return
	}
	h[key] = v
}

// token finds the access token as Kong's oauth2 does (AccessToken: the
// auth header, else the access_token argument of the query or body,
// removed with hide_credentials). ok is false for an auth header of
// another scheme, or given twice, which is refused without asking the
// server: its value may be another credential.
func (in *instance) token(c *plugin.Ctx) (token string, ok bool) {
	if _, vs := in.header.Values(c.Req.Header); len(vs) > 1 {
		return "", false
	}
	return AccessToken(c, in.header, in.hide)
}

func hasOne(c *oidc.Claims, scopes []string) bool {
	for _, s := range scopes {
		if c.HasScope(s) {
			return true
		}
	}
	return false
}
