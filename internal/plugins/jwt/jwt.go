package jwt

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's jwt schema, plus Turnpike's claims_to_headers,
// token_cache_size and jwks_* settings. Anonymous and Realm are pointers
// because Kong tells an absent value from a present one.
type Config struct {
	URIParamNames  []string `yaml:"uri_param_names"`
	CookieNames    []string `yaml:"cookie_names"`
	HeaderNames    []string `yaml:"header_names"`
	KeyClaimName   string   `yaml:"key_claim_name"`
	SecretIsBase64 bool     `yaml:"secret_is_base64"`
	ClaimsToVerify []string `yaml:"claims_to_verify"`
	// MaximumExpiration limits how far in the future `exp` may be, in
	// seconds (0: no limit).
	MaximumExpiration float64 `yaml:"maximum_expiration"`
	// Anonymous is a consumer id or username.
	Anonymous      *string `yaml:"anonymous"`
	RunOnPreflight bool    `yaml:"run_on_preflight"`
	Realm          *string `yaml:"realm"`

	// ClaimsToHeaders copies claims of a verified token to upstream
	// request headers.
	ClaimsToHeaders []ClaimHeader `yaml:"claims_to_headers"`
	// TokenCacheSize bounds the verified-token cache (0 disables it).
	TokenCacheSize int `yaml:"token_cache_size"`
	// JWKSRefreshInterval is how often, in seconds, JWK Sets are fetched
	// again in the background.
	JWKSRefreshInterval int `yaml:"jwks_refresh_interval"`
	// JWKSUnknownKIDInterval is the least time, in seconds, between two
	// fetches of one JWK Set caused by tokens with an unknown `kid`.
	JWKSUnknownKIDInterval int `yaml:"jwks_unknown_kid_refresh_interval"`
	// JWKSTimeout bounds one JWK Set fetch, and how long a request waits
	// for the first one, in seconds.
	JWKSTimeout int `yaml:"jwks_timeout"`
}

// ClaimHeader names a claim and the upstream header it is copied to.
type ClaimHeader struct {
	Claim  string `yaml:"claim"`
	Header string `yaml:"header"`
}

// SetDefaults applies Kong's defaults and Turnpike's.
func (c *Config) SetDefaults() {
	c.URIParamNames = []string{"jwt"}
	c.CookieNames = []string{}
	c.HeaderNames = []string{"authorization"}
	c.KeyClaimName = "iss"
	c.RunOnPreflight = true
	c.TokenCacheSize = 10000
	c.JWKSRefreshInterval = 3600
	c.JWKSUnknownKIDInterval = 300
	c.JWKSTimeout = 5
}

const name = "jwt"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        name,
		Priority:    1450,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
		Secrets: func(cfg any) (headers, query []string) {
			c := cfg.(*Config)
			return c.HeaderNames, c.URIParamNames
		},
	}
}

const (
	// maxExpiration is the largest maximum_expiration Kong accepts.
	maxExpiration = 31536000
	// maxCacheSize bounds token_cache_size.
	maxCacheSize = 1000000
	// cacheTTL is the longest a verified token is trusted without checking
	// its signature again (keys from a JWK Set may be withdrawn).
	cacheTTL = 5 * time.Minute
)

// reservedHeaders may not be set from claims: the consumer identity and
// client address the gateway sets, and headers that frame or route the
// upstream request.
var reservedHeaders = []string{
	"X-Consumer-Id", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Credential-Identifier",
	"X-Anonymous-Consumer", "X-Consumer-Groups", "X-Authenticated-Groups",
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Path",
	"X-Forwarded-Prefix", "X-Real-Ip", "Forwarded", "Via",
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer",
	"Keep-Alive", "Proxy-Connection", "Content-Type",
}

// claimCheck is one entry of claims_to_verify.
type claimCheck uint8

const (
	checkExp claimCheck = iota
	checkNbf
)

type claimHeader struct {
	claim  string
	header string // canonical
}

type instance struct {
	queryNames  []string
	cookieNames []string
	headerNames []plugin.HeaderName
	keyClaim    string
	base64      bool
	checks      []claimCheck
	maxExp      float64
	anonymous   string
	preflight   bool
	headers     []claimHeader
	cache       *cache
	jwks        *jwksSets
	now         func() time.Time

	// The failures every request may meet, rendered once.
	unauthorized, multiple, unrecognizable, noKeyClaim, emptyKeyClaim, noCredentials,
	badAlgorithm, badKey, badSignature, tooLate, badIssuer, badAudience *failure
	badToken map[string]*failure
	// wwwAuth and wwwAuthErr are the WWW-Authenticate values without and
	// with error="invalid_token".
	wwwAuth, wwwAuthErr string
}

var (
	_ plugin.Accessor          = (*instance)(nil)
	_ plugin.CredentialChecker = (*instance)(nil)
	_ plugin.Closer            = (*instance)(nil)
)

// New validates the config as Kong's schema does, and Turnpike's fields.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	nonEmpty := func(field string, list []string) {
		for i, s := range list {
			if s == "" {
				add(field+"["+strconv.Itoa(i)+"]", "length must be at least 1")
			}
		}
	}
	nonEmpty("uri_param_names", c.URIParamNames)
	nonEmpty("cookie_names", c.CookieNames)
	nonEmpty("header_names", c.HeaderNames)
	if c.KeyClaimName == "" {
		add("key_claim_name", "length must be at least 1")
	}
	var checks []claimCheck
	for i, s := range c.ClaimsToVerify {
		var k claimCheck
		switch s {
		case "exp":
			k = checkExp
		case "nbf":
			k = checkNbf
		default:
			add("claims_to_verify["+strconv.Itoa(i)+"]", "expected one of: exp, nbf")
			continue
		}
		if !slices.Contains(checks, k) {
			checks = append(checks, k)
		}
	}
	if c.MaximumExpiration < 0 || c.MaximumExpiration > maxExpiration {
		add("maximum_expiration", "value should be between 0 and 31536000")
	} else if c.MaximumExpiration > 0 && !slices.Contains(c.ClaimsToVerify, "exp") {
		add("claims_to_verify", "expected to contain: exp")
	}
	// Kong's strings must be non-empty unless the schema says otherwise.
	if c.Anonymous != nil && *c.Anonymous == "" {
		add("anonymous", "length must be at least 1")
	}
	if c.Realm != nil && *c.Realm == "" {
		add("realm", "length must be at least 1")
	}
	headers := make([]claimHeader, 0, len(c.ClaimsToHeaders))
	for i, ch := range c.ClaimsToHeaders {
		p := "claims_to_headers[" + strconv.Itoa(i) + "]"
		if ch.Claim == "" {
			add(p+".claim", "required field missing")
		}
		h := textproto.CanonicalMIMEHeaderKey(ch.Header)
		switch {
		case ch.Header == "":
			add(p+".header", "required field missing")
		case !plugin.ValidHeaderName(ch.Header):
			add(p+".header", "bad header name '"+ch.Header+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		case slices.Contains(reservedHeaders, h):
			add(p+".header", "'"+ch.Header+"' cannot be set from a claim")
		case slices.ContainsFunc(headers, func(o claimHeader) bool { return o.header == h }):
			add(p+".header", "duplicate header '"+ch.Header+"'")
		default:
			headers = append(headers, claimHeader{claim: ch.Claim, header: h})
		}
	}
	between := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			add(field, "value should be between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
		}
	}
	between("token_cache_size", c.TokenCacheSize, 0, maxCacheSize)
	between("jwks_refresh_interval", c.JWKSRefreshInterval, 1, 7*24*3600)
	between("jwks_unknown_kid_refresh_interval", c.JWKSUnknownKIDInterval, 1, 24*3600)
	between("jwks_timeout", c.JWKSTimeout, 1, 60)
	if len(errs) > 0 {
		return nil, errs
	}

	in := &instance{
		queryNames:  c.URIParamNames,
		cookieNames: c.CookieNames,
		keyClaim:    c.KeyClaimName,
		base64:      c.SecretIsBase64,
		checks:      checks,
		maxExp:      c.MaximumExpiration,
		preflight:   c.RunOnPreflight,
		headers:     headers,
		now:         time.Now,
		wwwAuth:     "Bearer",
		wwwAuthErr:  `Bearer error="invalid_token"`,
	}
	for _, h := range c.HeaderNames {
		in.headerNames = append(in.headerNames, plugin.NewHeaderName(h))
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	if c.Realm != nil {
		in.wwwAuth = `Bearer realm="` + *c.Realm + `"`
		in.wwwAuthErr = in.wwwAuth + `, error="invalid_token"`
	}
	if c.TokenCacheSize > 0 {
		in.cache = newCache(c.TokenCacheSize)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in.jwks = newJWKSSets(jwksOptions{
		refresh:    time.Duration(c.JWKSRefreshInterval) * time.Second,
		unknownKID: time.Duration(c.JWKSUnknownKIDInterval) * time.Second,
		timeout:    time.Duration(c.JWKSTimeout) * time.Second,
		logger:     logger,
		outbound:   env.HTTPClient,
	})
	in.renderFailures()
	return in, nil
}

// Close stops the JWK Set refreshers. Requests still in flight get 401s
// for credentials whose JWK Set they would have had to fetch.
func (in *instance) Close() { in.jwks.close() }

// Reloaded is called when a reload keeps the instance (same scope and
// config). The instance's JWK Sets of URLs no jwt credential of the new
// configuration names are closed; the others are fetched again at once,
// and requests wait for that fetch (within jwks_timeout) before they
// trust the keys held: a reload is how an operator makes the gateway drop
// a key the identity provider withdrew.
func (in *instance) Reloaded(next plugin.Reload) {
	in.jwks.reload(jwksURIs(next.Directory.Credentials(kindName)))
}

// jwksURIs lists the distinct jwks_uri of creds, in their order.
func jwksURIs(creds []*plugin.Credential) []string {
	var uris []string
	seen := map[string]bool{}
	for _, c := range creds {
		if u := c.Fields.(*Credential).JWKSURI; u != "" && !seen[u] {
			seen[u] = true
			uris = append(uris, u)
		}
	}
	return uris
}

// Access authenticates the request. Headers filled from claims are removed
// first, whatever happens next, so a client cannot send its own copies
// upstream (also not as the anonymous consumer).
func (in *instance) Access(c *plugin.Ctx) error {
	if len(in.headers) > 0 {
		in.stripClaimHeaders(c.Req.Header)
	}
	if !in.preflight && c.Req.Method == http.MethodOptions {
		return nil
	}
	return plugin.RunAuth(c, in.anonymous, in)
}

// stripClaimHeaders removes every request header that names a
// claims_to_headers header, ignoring case and reading '_' as '-': an
// upstream behind a CGI-style interface sees `X-User_Email` and
// `X-User-Email` as the same HTTP_X_USER_EMAIL.
func (in *instance) stripClaimHeaders(h http.Header) {
	for name := range h {
		for i := range in.headers {
			if plugin.SameDashFold(name, in.headers[i].header) {
				delete(h, name)
				break
			}
		}
	}
}

// CheckCredentials is Kong's do_authentication (plugin.RunAuth adds the
// anonymous-consumer rules).
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	var f found
	in.retrieve(c, &f)
	switch {
	case f.n > 1 || f.n == 1 && f.flag:
		return in.exit(c, in.multiple)
	case f.n == 0 && f.flag:
		return in.exit(c, in.unrecognizable)
	case f.n == 0:
		return in.exit(c, in.unauthorized)
	}
	now := in.now()
	var (
		v   *verified
		key [sha256.Size]byte
	)
	if in.cache != nil {
		key = tokenDigest(unpadded(f.token))
		if e := in.cache.get(&key, now); e != nil && current(c, e) {
			v = e
		}
	}
	if v == nil {
		var fail *failure
		v, fail = in.verify(c, f.token)
		if fail != nil {
			return in.exit(c, fail)
		}
		if in.cache != nil {
			v.until = now.Add(cacheTTL)
			in.cache.put(&key, v)
		}
	}
	return in.accept(c, v, now)
}

// current reports whether the credential a cached token was verified for
// is still the one the configuration names for its key. A reload builds
// new credential objects, so every token is verified again after one.
func current(c *plugin.Ctx, v *verified) bool {
	if c.Directory == nil {
		return false
	}
	cred, ok := c.Directory.Credential(kindName, v.key)
	return ok && cred == v.cred
}

// accept checks the time-dependent claims of a verified token and
// authenticates its consumer.
func (in *instance) accept(c *plugin.Ctx, v *verified, now time.Time) *plugin.Exit {
	t := float64(now.Unix()) // Kong compares with ngx.time(), whole seconds
	var errs []claimError
	for _, k := range in.checks {
		switch {
		case k == checkExp && !v.exp.isNumber:
			errs = append(errs, claimError{"exp", "must be a number"})
		case k == checkExp && v.exp.value <= t:
			errs = append(errs, claimError{"exp", "token expired"})
		case k == checkNbf && !v.nbf.isNumber:
			errs = append(errs, claimError{"nbf", "must be a number"})
		case k == checkNbf && v.nbf.value > t:
			errs = append(errs, claimError{"nbf", "token not valid yet"})
		}
	}
	if len(errs) > 0 {
		return in.exit(c, claimsFailure(errs))
	}
	if in.maxExp > 0 && (!v.exp.isNumber || v.exp.value-t > in.maxExp) {
		return in.exit(c, in.tooLate)
	}
	cred := v.cred
	if cred.Consumer == nil {
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	plugin.Authenticate(c, cred)
	c.Claims = v
	h := c.Req.Header
	// Kong's jwt identifies the credential by its key.
	h["X-Credential-Identifier"] = []string{cred.Key}
	for i, val := range v.headers {
		if val != "" {
			h[in.headers[i].header] = []string{val}
		}
	}
	return nil
}
