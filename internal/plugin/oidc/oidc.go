// Package oidc checks the access tokens of an external OAuth 2.0 /
// OpenID Connect authorization server for auth plugins (oauth2's external
// shape, openid-connect): discovery of the server's metadata, JWT access
// tokens verified against its key set (go-oidc's remote key set, which
// refetches the set when a token names a key it does not hold: key
// rotation) when an audience is required, other tokens by RFC 7662
// introspection, and bounded caches of the answers keyed by the token's
// SHA-256, so that a token checked once costs a hash and a lookup until
// it expires.
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
	// name one. Only then are JWTs verified against the key set: without
	// it any JWT the issuer signs (another application's ID token, say)
	// would pass, so they go to introspection, or are refused when there
	// is none.
	Audience []string
	// AnyAudienceJWT verifies JWTs against the key set without Audience:
	// openid-connect's bearer tokens, whose audience_required the plugin
	// checks itself, as Kong's does.
	AnyAudienceJWT bool
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
	// CacheBytes bounds the memory the cached accepted answers take,
	// their claims counted (64 MiB when 0): an introspection answer may
	// be large. Refusals are cached apart, in an eighth of it, so that a
	// flood of made-up tokens cannot evict accepted ones.
	CacheBytes int
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
	refused   *otter.Cache[[sha256.Size]byte, entry]
	group     singleflight.Group
	done      chan struct{}
	closeOnce sync.Once
	// lastTry is when a request last started a discovery (Unix ns), so
	// that requests while the server is down try at most once a second.
	lastTry atomic.Int64
	// lastWarn is when a failed call was last logged (Unix ns): a server
	// that is down fails every request, and one line per 10 s says so.
	lastWarn atomic.Int64
	// unchecked logs, once, why a JWT was refused unchecked.
	unchecked sync.Once
}

// warn logs a failed call to the server, at most once per 10 s.
func (v *Verifier) warn(msg string, args ...any) {
	now, last := time.Now().UnixNano(), v.lastWarn.Load()
	if now-last < int64(10*time.Second) || !v.lastWarn.CompareAndSwap(last, now) {
		return
	}
	v.log.Warn(msg, args...)
}

// state is what discovery found.
type state struct {
	meta          *Metadata
	provider      *gooidc.Provider
	verifier      *gooidc.IDTokenVerifier
	introspection string
}

// entry is a cached answer: claims of an accepted token (in cache) or
// the error of a refused one (in refused), with how long to keep it.
type entry struct {
	claims *Claims
	err    error
	ttl    time.Duration
}

// entryOverhead is what a cached answer costs beyond its claims' text:
// key, entry, map slot.
const entryOverhead = 160

// New makes a verifier; it calls nobody (Start or Discover does). With
// no discovery to do it is ready at once.
func New(o Options) *Verifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
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
		// Redirects are not followed: a token request would be replayed,
		// credentials and all, wherever the answer points.
		client: &http.Client{Transport: t, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		log:     o.Logger,
		done:    make(chan struct{}),
		cache:   newCache(o.CacheBytes),
		refused: newCache(max(o.CacheBytes/8, 64*entryOverhead)),
	}
	if len(o.DiscoveryURLs) == 0 {
		v.state.Store(&state{meta: &Metadata{}, introspection: o.IntrospectionEndpoint})
	}
	return v
}

// newCache is a cache of answers weighing at most maxBytes.
func newCache(maxBytes int) *otter.Cache[[sha256.Size]byte, entry] {
	return otter.Must(&otter.Options[[sha256.Size]byte, entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ [sha256.Size]byte, e entry) uint32 {
			if e.claims == nil {
				return entryOverhead
			}
			return entryOverhead + uint32(e.claims.size)
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[[sha256.Size]byte, entry]) time.Duration {
			return e.Value.ttl
		}),
	})
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

// Discovered is the server's metadata, discovering it now (as Verify
// does) when the background discovery has not succeeded yet; nil when it
// cannot be had.
func (v *Verifier) Discovered(ctx context.Context) *Metadata {
	st := v.state.Load()
	if st == nil {
		st = v.discoverNow(ctx)
	}
	if st == nil {
		return nil
	}
	return st.meta
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
		v.refused.StopAllGoroutines()
	})
}

// Verify checks token: from the caches, else as a JWT when the server
// publishes a key set, token is one and an audience is required (or
// AnyAudienceJWT), else by introspection.
// Concurrent checks of one token share one check. ctx bounds the wait,
// not the shared check (Timeout does).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	st := v.state.Load()
	if st == nil {
		if st = v.discoverNow(ctx); st == nil {
			return nil, ErrNotReady
		}
	}
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if e, ok := v.cache.GetIfPresent(key); ok {
		return e.claims, nil
	}
	if e, ok := v.refused.GetIfPresent(key); ok {
		return nil, e.err
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

// discoverNow discovers for a request that came before the background
// discovery succeeded (the first requests after a start), sharing one
// attempt among the requests that wait and starting at most one a second.
func (v *Verifier) discoverNow(ctx context.Context) *state {
	now, last := v.opts.Now().UnixNano(), v.lastTry.Load()
	if now-last < int64(time.Second) || !v.lastTry.CompareAndSwap(last, now) {
		ch := v.group.DoChan("discover", func() (any, error) { return nil, nil })
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return v.state.Load()
	}
	ch := v.group.DoChan("discover", func() (any, error) {
		return nil, v.Discover(context.Background())
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return v.state.Load()
}

// remember caches an answer: an accepted token until its `exp` and at
// most CacheTTL, a refused one for NegativeTTL, a failed call not at all.
func (v *Verifier) remember(key [sha256.Size]byte, c *Claims, err error) {
	switch {
	case err != nil && errors.Is(err, ErrInvalidToken):
		if v.opts.NegativeTTL > 0 {
			v.refused.Set(key, entry{err: err, ttl: v.opts.NegativeTTL})
		}
		return
	case err != nil:
		return
	}
	ttl := v.opts.CacheTTL
	if !c.Expiry.IsZero() {
		ttl = min(ttl, c.Expiry.Add(v.opts.Leeway).Sub(v.opts.Now()))
	}
	if ttl > 0 {
		v.cache.Set(key, entry{claims: c, ttl: ttl})
	}
}

func (v *Verifier) check(st *state, token string) (*Claims, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.opts.Timeout)
	defer cancel()
	var (
		c   *Claims
		err error
	)
	jwt := st.verifier != nil && isJWT(token)
	switch {
	case jwt && (len(v.opts.Audience) > 0 || v.opts.AnyAudienceJWT):
		c, err = v.verifyJWT(ctx, st, token)
	case st.introspection != "":
		c, err = v.introspect(ctx, st.introspection, token)
	case jwt:
		v.unchecked.Do(func() {
			v.log.Warn("JWT access tokens are refused: set audience_required to verify them against the " +
				"server's key set (without it any token the server signs, for any application, would pass), " +
				"or client_id and client_secret to introspect them")
		})
		return nil, invalid("a JWT, but no audience to check it for and no introspection endpoint")
	default:
		return nil, invalid("not a JWT, and the server has no introspection endpoint")
	}
	if err == nil {
		err = v.checkClaims(c)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// checkClaims checks what both kinds of answer carry, once: the audience
// and, with Leeway, `exp` and `nbf` (go-oidc's own check allows a fixed
// 5 min on `nbf` whatever the leeway, so it is skipped).
func (v *Verifier) checkClaims(c *Claims) error {
	if len(v.opts.Audience) > 0 && !c.hasAudience(v.opts.Audience) {
		return invalid("the token is not for this audience")
	}
	now := v.opts.Now()
	if !c.Expiry.IsZero() && now.After(c.Expiry.Add(v.opts.Leeway)) {
		return invalid("the token has expired")
	}
	if !c.NotBefore.IsZero() && now.Add(v.opts.Leeway).Before(c.NotBefore) {
		return invalid("the token is not valid yet")
	}
	return nil
}

func (v *Verifier) verifyJWT(ctx context.Context, st *state, token string) (*Claims, error) {
	t, err := st.verifier.Verify(ctx, token)
	if err != nil {
		// go-oidc says "fetching keys" only when the key set could not
		// be fetched: the server's failure, not the token's.
		if strings.Contains(err.Error(), "fetching keys") {
			v.warn("authorization server key set unavailable", "error", err.Error())
			return nil, ErrUnavailable
		}
		return nil, invalid("the token's signature or claims do not check out")
	}
	var raw rawJSON
	if err := t.Claims(&raw); err != nil {
		return nil, invalid("the token's claims are malformed")
	}
	c, _, err := parseClaims(raw)
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
