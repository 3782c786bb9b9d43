// Package oidc checks the access tokens of an external OAuth 2.0 /
// OpenID Connect authorization server for auth plugins (oauth2's external
// shape, openid-connect): discovery of the server's metadata, JWT access
// tokens verified against its key set (go-oidc's remote key set, which
// refetches the set when a token names a key it does not hold: key
// rotation), opaque tokens by RFC 7662 introspection, and a bounded cache
// of the answers keyed by the token's SHA-256, so that a token checked
// once costs a hash and a lookup until it expires.
package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// Errors of Verify. A token error wraps ErrInvalidToken with the reason;
// the others say the server could not be asked, and are never cached.
var (
	ErrInvalidToken = errors.New("invalid token")
	ErrNotReady     = errors.New("the authorization server's metadata is not known yet")
	ErrUnavailable  = errors.New("the authorization server could not check the token")
)

// Options configure a Verifier.
type Options struct {
	// Issuer is the server's issuer: discovery asks it for its metadata,
	// which must name the same issuer; JWTs must carry it as `iss`.
	Issuer string
	// DiscoveryURLs are the metadata documents to ask, in order
	// (DiscoveryURLs(Issuer) when empty and Issuer is set). None and no
	// Issuer: tokens are checked by introspection only.
	DiscoveryURLs []string
	// IntrospectionEndpoint is the RFC 7662 endpoint; empty: the one
	// discovery finds.
	IntrospectionEndpoint string
	// ClientID and ClientSecret authenticate introspection calls
	// (client_secret_basic).
	ClientID, ClientSecret string
	// Audience, when set, is the audiences of which a token's `aud` must
	// name one.
	Audience []string
	// Leeway is the clock skew allowed on `exp` and `nbf`.
	Leeway time.Duration
	// CacheTTL is the longest an accepted token's answer is kept (never
	// past the token's `exp`); 0 keeps none.
	CacheTTL time.Duration
	// NegativeTTL is how long a refused token stays refused without
	// asking again; 0 keeps none.
	NegativeTTL time.Duration
	// Timeout bounds each call to the server.
	Timeout time.Duration
	// CacheSize is the most answers kept (10000 when 0).
	CacheSize int
	// HTTPClient makes the calls (its Transport is used; its Timeout is
	// replaced by Timeout). Nil: http.DefaultTransport.
	HTTPClient *http.Client
	// KeySetRefetch is the least time between two fetches of the key set
	// (5 s when 0).
	KeySetRefetch time.Duration
	Logger        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verifier checks tokens of one authorization server. It is safe for
// concurrent use.
type Verifier struct {
	opts      Options
	client    *http.Client
	transport *limitedTransport
	log       *slog.Logger
	state     atomic.Pointer[state]
	cache     *otter.Cache[[sha256.Size]byte, entry]
	group     singleflight.Group
	done      chan struct{}
	closeOnce sync.Once
}

// state is what discovery found.
type state struct {
	meta          *Metadata
	provider      *gooidc.Provider
	verifier      *gooidc.IDTokenVerifier
	introspection string
}

// entry is a cached answer: claims of an accepted token or the error of
// a refused one, with how long to keep it.
type entry struct {
	claims *Claims
	err    error
	ttl    time.Duration
}

// New makes a verifier; it calls nobody (Start or Discover does). With
// no discovery to do it is ready at once.
func New(o Options) *Verifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.KeySetRefetch <= 0 {
		o.KeySetRefetch = 5 * time.Second
	}
	if len(o.DiscoveryURLs) == 0 && o.Issuer != "" {
		o.DiscoveryURLs = DiscoveryURLs(o.Issuer)
	}
	base := http.DefaultTransport
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		base = o.HTTPClient.Transport
	}
	t := &limitedTransport{base: base, minFetch: o.KeySetRefetch, now: o.Now}
	v := &Verifier{
		opts:      o,
		transport: t,
		client:    &http.Client{Transport: t, Timeout: o.Timeout},
		log:       o.Logger,
		done:      make(chan struct{}),
		cache: otter.Must(&otter.Options[[sha256.Size]byte, entry]{
			MaximumSize: o.CacheSize,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[[sha256.Size]byte, entry]) time.Duration {
				return e.Value.ttl
			}),
		}),
	}
	if len(o.DiscoveryURLs) == 0 {
		v.state.Store(&state{meta: &Metadata{}, introspection: o.IntrospectionEndpoint})
	}
	return v
}

// Client is the verifier's HTTP client: calls bounded by Timeout, answers
// by MaxResponseBytes. Plugins relay clients' requests to the server with
// it.
func (v *Verifier) Client() *http.Client { return v.client }

// Metadata is what discovery found (nil before it succeeded).
func (v *Verifier) Metadata() *Metadata {
	if st := v.state.Load(); st != nil {
		return st.meta
	}
	return nil
}

// Provider is go-oidc's view of the server, for ID tokens and the
// authorization code flow (nil before discovery, or when the server
// publishes no key set).
func (v *Verifier) Provider() *gooidc.Provider {
	if st := v.state.Load(); st != nil {
		return st.provider
	}
	return nil
}

// Close stops discovery and the cache's clean-up goroutine. Verify still
// answers afterwards, from the cache and by calls.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		close(v.done)
		v.cache.StopAllGoroutines()
	})
}

// Verify checks token: from the cache, else as a JWT when the server
// publishes a key set and token is one, else by introspection.
// Concurrent checks of one token share one check. ctx bounds the wait,
// not the shared check (Timeout does).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	st := v.state.Load()
	if st == nil {
		return nil, ErrNotReady
	}
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if e, ok := v.cache.GetIfPresent(key); ok {
		return e.claims, e.err
	}
	return v.load(ctx, st, key, token)
}

// load checks a token the cache does not hold. It is apart from Verify
// so that the key, which its closure keeps, escapes only on a miss.
func (v *Verifier) load(ctx context.Context, st *state, key [sha256.Size]byte, token string) (*Claims, error) {
	ch := v.group.DoChan(string(key[:]), func() (any, error) {
		c, err := v.check(st, token)
		v.remember(key, c, err)
		return c, err
	})
	select {
	case r := <-ch:
		c, _ := r.Val.(*Claims)
		return c, r.Err
	case <-ctx.Done():
		return nil, ErrUnavailable
	}
}

// remember caches an answer: an accepted token until its `exp` and at
// most CacheTTL, a refused one for NegativeTTL, a failed call not at all.
func (v *Verifier) remember(key [sha256.Size]byte, c *Claims, err error) {
	ttl := v.opts.CacheTTL
	switch {
	case err != nil && errors.Is(err, ErrInvalidToken):
		ttl = v.opts.NegativeTTL
	case err != nil:
		return
	case !c.Expiry.IsZero():
		ttl = min(ttl, c.Expiry.Add(v.opts.Leeway).Sub(v.opts.Now()))
	}
	if ttl > 0 {
		v.cache.Set(key, entry{claims: c, err: err, ttl: ttl})
	}
}

func (v *Verifier) check(st *state, token string) (*Claims, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.opts.Timeout)
	defer cancel()
	var (
		c   *Claims
		err error
	)
	switch {
	case st.verifier != nil && isJWT(token):
		c, err = v.verifyJWT(ctx, st, token)
	case st.introspection != "":
		c, err = v.introspect(ctx, st.introspection, token)
	default:
		return nil, invalid("not a JWT, and the server has no introspection endpoint")
	}
	if err != nil {
		return nil, err
	}
	if len(v.opts.Audience) > 0 && !c.hasAudience(v.opts.Audience) {
		return nil, invalid("the token is not for this audience")
	}
	return c, nil
}

func (v *Verifier) verifyJWT(ctx context.Context, st *state, token string) (*Claims, error) {
	t, err := st.verifier.Verify(ctx, token)
	if err != nil {
		// go-oidc says "fetching keys" only when the key set could not
		// be fetched: the server's failure, not the token's.
		if strings.Contains(err.Error(), "fetching keys") {
			v.log.Warn("authorization server key set unavailable", "error", err.Error())
			return nil, ErrUnavailable
		}
		var exp *gooidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, invalid("the token has expired")
		}
		return nil, invalid("the token's signature or claims do not check out")
	}
	var raw rawJSON
	if err := t.Claims(&raw); err != nil {
		return nil, invalid("the token's claims are malformed")
	}
	c, err := parseClaims(raw)
	if err != nil {
		return nil, invalid("the token's claims are malformed")
	}
	return c, nil
}

// rawJSON receives a token's payload as is.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// isJWT reports whether token has a JWS compact form's shape: three
// base64url parts.
func isJWT(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	for i := 0; i < len(token); i++ {
		b := token[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

type invalidError string

func (e invalidError) Error() string { return "invalid token: " + string(e) }
func (e invalidError) Unwrap() error { return ErrInvalidToken }

func invalid(reason string) error { return invalidError(reason) }
