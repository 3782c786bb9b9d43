package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	gojwt "github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxJWKSBytes bounds a JWK Set document; a larger one fails to load.
const maxJWKSBytes = 1 << 20

type jwksOptions struct {
	// refresh is the background refresh interval; unknownKID the least
	// time between refreshes caused by unknown key ids; timeout bounds a
	// fetch and a request's wait for the first one.
	refresh, unknownKID, timeout time.Duration
	logger                       *slog.Logger
}

// jwksSets are an instance's JWK Sets, one per jwks_uri, each created on
// first use and refreshed in the background until Close.
type jwksSets struct {
	opts      jwksOptions
	ctx       context.Context
	cancel    context.CancelFunc
	transport *http.Transport
	client    *http.Client

	mu     sync.Mutex
	sets   map[string]*jwksSet
	closed bool
}

type jwksSet struct {
	// ready is closed once the first fetch has ended, either way.
	ready chan struct{}
	// kf is nil when the set could not be created.
	kf keyfunc.Keyfunc
}

func newJWKSSets(o jwksOptions) *jwksSets {
	ctx, cancel := context.WithCancel(context.Background())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &jwksSets{
		opts:      o,
		ctx:       ctx,
		cancel:    cancel,
		transport: tr,
		client:    &http.Client{Timeout: o.timeout, Transport: limitBody{tr}},
		sets:      map[string]*jwksSet{},
	}
}

// close stops every refresher and forgets idle connections; later lookups
// find no keys.
func (j *jwksSets) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.cancel()
	j.transport.CloseIdleConnections()
}

// storage returns the JWK Set of uri, starting it on first use and waiting
// for its first fetch while ctx lasts; nil when there is none.
func (j *jwksSets) storage(ctx context.Context, uri string) jwkset.Storage {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	s, ok := j.sets[uri]
	if !ok {
		s = &jwksSet{ready: make(chan struct{})}
		j.sets[uri] = s
		go j.start(uri, s)
	}
	j.mu.Unlock()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	if s.kf == nil {
		return nil
	}
	return s.kf.Storage()
}

// start creates the keyfunc of uri: a first fetch now, a refresh every
// opts.refresh, and a refresh when a token names an unknown key id, at
// most once per opts.unknownKID. A failed fetch is logged; the set then
// stays empty until a refresh succeeds.
func (j *jwksSets) start(uri string, s *jwksSet) {
	defer close(s.ready)
	shown := redact(uri)
	kf, err := keyfunc.NewDefaultOverrideCtx(j.ctx, []string{uri}, keyfunc.Override{
		Client:           j.client,
		HTTPTimeout:      j.opts.timeout,
		RateLimitWaitMax: j.opts.timeout,
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				j.opts.logger.Warn("jwt: cannot fetch JWK Set", "jwks_uri", shown, "error", err)
			}
		},
		RefreshInterval:   j.opts.refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(j.opts.unknownKID), 1),
	})
	if err != nil {
		j.opts.logger.Warn("jwt: cannot use JWK Set", "jwks_uri", shown, "error", err)
		return
	}
	s.kf = kf
}

// verify checks t's signature with a key of cred's JWK Set: the key named
// by the token's `kid` (refreshing the set, rate limited, when it does not
// know it), or without a `kid` each key of the set in turn. Only keys fit
// for the credential's algorithm are used. Waiting for the set, for the
// rate limit and for a refresh together take at most the fetch timeout.
func (j *jwksSets) verify(ctx context.Context, cred *plugin.Credential, m gojwt.SigningMethod, t *token) bool {
	ctx, cancel := context.WithTimeout(ctx, j.opts.timeout)
	defer cancel()
	store := j.storage(ctx, cred.JWKSURI)
	if store == nil {
		return false
	}
	var candidates []jwkset.JWK
	if raw, ok := t.header.get("kid"); ok {
		kid, isString := jsonString(raw)
		if !isString {
			return false
		}
		k, err := store.KeyRead(ctx, kid)
		if err != nil {
			return false
		}
		candidates = []jwkset.JWK{k}
	} else {
		all, err := store.KeyReadAll(ctx)
		if err != nil {
			return false
		}
		candidates = all
	}
	for _, k := range candidates {
		if key, ok := usable(k, cred.Algorithm); ok && m.Verify(t.signed, t.sig, key) == nil {
			return true
		}
	}
	return false
}

// usable returns a JWK's public key when it may verify alg: its "alg",
// when given, is alg; its "use", when given, is "sig"; and the key is of
// the type (and curve) alg needs. A symmetric ("oct") key never is.
func usable(k jwkset.JWK, alg string) (any, bool) {
	mk := k.Marshal()
	if mk.ALG != "" && string(mk.ALG) != alg {
		return nil, false
	}
	if mk.USE != "" && mk.USE != jwkset.UseSig {
		return nil, false
	}
	key := k.Key()
	if p, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = p.Public()
	}
	return key, keyFits(key, alg)
}

func keyFits(key any, alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		_, ok := key.(*rsa.PublicKey)
		return ok
	case "ES256", "ES384", "ES512":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		}
		return k.Curve == elliptic.P521()
	case "EdDSA":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// redact hides a password in a URL for logs.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Redacted()
}

// limitBody bounds the size of JWK Set responses.
type limitBody struct{ base http.RoundTripper }

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err == nil {
		resp.Body = http.MaxBytesReader(nil, resp.Body, maxJWKSBytes)
	}
	return resp, err
}
