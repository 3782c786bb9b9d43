package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	gojwt "github.com/golang-jwt/jwt/v5"
)

// maxJWKSBytes bounds a JWK Set document; a larger one fails to load.
const maxJWKSBytes = 1 << 20

type jwksOptions struct {
	// refresh is the background refresh interval; unknownKID the least
	// time between the end of a fetch a token caused and the start of the
	// next one; timeout bounds a fetch and a request's wait for keys.
	refresh, unknownKID, timeout time.Duration
	logger                       *slog.Logger
	// outbound is the gateway's client for outbound calls, whose
	// transport (connection pool) the sets use (nil: one of their own).
	outbound *http.Client
}

// jwksSets are an instance's JWK Sets, one per jwks_uri, each created on
// first use. Every set has one refresher goroutine, which makes all of its
// fetches, one at a time: the first, one every opts.refresh, and the ones
// asked for by tokens the keys do not verify and by reloads. Fetches run
// on the set's own context, never a request's, so a client that goes away
// cannot cut one short; requests only wait for them, within their budget.
type jwksSets struct {
	opts      jwksOptions
	ctx       context.Context
	cancel    context.CancelFunc
	transport *http.Transport // the sets' own, nil on the gateway's
	client    *http.Client
	// refreshers counts the running refresher goroutines.
	refreshers sync.WaitGroup

	mu   sync.Mutex
	sets map[string]*jwksSet
	// retired are the keys of the sets the last reload closed, for a set
	// of one of their URLs created before the next reload: a request of
	// the configuration the reload replaced, or of the one in force after
	// a dry run (compiled the same way) that does not name it.
	retired map[string]*keySet
	closed  bool
}

// jwksSet is the JWK Set of one URL.
type jwksSet struct {
	uri string
	// stop ends the set's refresher.
	stop context.CancelFunc
	// kick asks the refresher for a fetch now (buffered: one is enough).
	kick chan struct{}
	// keys are the keys of the last successful fetch; nil before one.
	keys atomic.Pointer[keySet]

	mu sync.Mutex
	// pending is closed when the fetch that runs, or is asked for, ends;
	// nil when there is none.
	pending chan struct{}
	// hold makes requests wait for pending before they use the keys: the
	// first fetch, and the one a reload asks for (the keys held may be
	// ones the identity provider withdrew).
	hold bool
	// demanded marks a pending fetch a token asked for: when it ends, the
	// next such fetch may start no earlier than opts.unknownKID later.
	demanded bool
	next     time.Time
	closed   bool
}

// keySet is a fetched JWK Set, read-only once stored.
type keySet []jwksKey

// jwksKey is a JWK with what verification needs read out once.
type jwksKey struct {
	kid string
	alg string
	use jwkset.USE
	// public is the key (the public half of a private one).
	public any
}

func newJWKSSets(o jwksOptions) *jwksSets {
	ctx, cancel := context.WithCancel(context.Background())
	j := &jwksSets{opts: o, ctx: ctx, cancel: cancel, sets: map[string]*jwksSet{}}
	var rt http.RoundTripper
	if o.outbound != nil && o.outbound.Transport != nil {
		rt = o.outbound.Transport
	} else {
		j.transport = http.DefaultTransport.(*http.Transport).Clone()
		rt = j.transport
	}
	// The set's own timeout (jwks_timeout) bounds a fetch, not the
	// gateway client's.
	j.client = &http.Client{Timeout: o.timeout, Transport: limitBody{rt}}
	return j
}

// close stops every refresher, waits for them to end and forgets idle
// connections; later lookups find no keys.
func (j *jwksSets) close() {
	j.mu.Lock()
	j.closed = true
	for _, s := range j.sets {
		s.close()
	}
	j.sets, j.retired = nil, nil
	j.mu.Unlock()
	j.cancel()
	j.refreshers.Wait()
	if j.transport != nil {
		j.transport.CloseIdleConnections()
	}
}

// reload applies a new configuration whose jwt credentials name uris: the
// sets of other URLs are closed (their keys kept until the next reload, in
// retired), and the others fetched again now, with requests waiting for
// that fetch (within their budget) before they trust the keys held.
func (j *jwksSets) reload(uris []string) {
	named := make(map[string]bool, len(uris))
	for _, u := range uris {
		named[u] = true
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	retired := map[string]*keySet{}
	for uri, s := range j.sets {
		if !named[uri] {
			s.close()
			delete(j.sets, uri)
			if ks := s.keys.Load(); ks != nil {
				retired[uri] = ks
			}
			continue
		}
		s.refetch()
	}
	j.retired = retired
}

// set returns the JWK Set of uri, starting it on first use; nil once the
// instance is closed. Requests wait for a new set's first fetch, unless
// it starts with the keys the last reload retired.
func (j *jwksSets) set(uri string) *jwksSet {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	s, ok := j.sets[uri]
	if !ok {
		ctx, stop := context.WithCancel(j.ctx)
		s = &jwksSet{uri: uri, stop: stop, kick: make(chan struct{}, 1), pending: make(chan struct{})}
		if ks := j.retired[uri]; ks != nil {
			s.keys.Store(ks)
			delete(j.retired, uri)
		} else {
			s.hold = true
		}
		j.sets[uri] = s
		j.refreshers.Add(1)
		go j.refresher(ctx, s)
	}
	return s
}

// refresher makes every fetch of s until s is closed.
func (j *jwksSets) refresher(ctx context.Context, s *jwksSet) {
	defer j.refreshers.Done()
	t := time.NewTicker(j.opts.refresh)
	defer t.Stop()
	for {
		j.fetch(ctx, s)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			if s.pending != nil {
				close(s.pending)
				s.pending = nil
			}
			s.mu.Unlock()
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// fetch gets s's document and, when it is a JWK Set, replaces the keys
// with it; a failure is logged and keeps the keys held. Requests that ask
// for a fetch while this one runs share it.
func (j *jwksSets) fetch(ctx context.Context, s *jwksSet) {
	s.mu.Lock()
	if s.pending == nil {
		s.pending = make(chan struct{})
	}
	s.mu.Unlock()
	ks, err := j.get(ctx, s.uri)
	if err == nil {
		s.keys.Store(&ks)
	} else if ctx.Err() == nil {
		j.opts.logger.Warn("jwt: cannot fetch JWK Set", "jwks_uri", redact(s.uri), "error", err)
	}
	s.mu.Lock()
	if s.demanded {
		s.next = time.Now().Add(j.opts.unknownKID)
	}
	close(s.pending)
	s.pending, s.hold, s.demanded = nil, false, false
	s.mu.Unlock()
}

// get fetches and parses the JWK Set at uri. Keys of a type jwkset does
// not support are skipped; any other bad key fails the whole document.
func (j *jwksSets) get(ctx context.Context, uri string) (keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc jwkset.JWKSMarshal
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	ks := make(keySet, 0, len(doc.Keys))
	for _, m := range doc.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			return nil, err
		}
		km := k.Marshal()
		pub := k.Key()
		if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
			pub = p.Public()
		}
		ks = append(ks, jwksKey{kid: km.KID, alg: string(km.ALG), use: km.USE, public: pub})
	}
	return ks, nil
}

// close ends s's refresher; requests that hold s find no more fetches.
// The caller holds the jwksSets lock.
func (s *jwksSet) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
}

// refetch asks for a fetch that requests wait for (a reload).
func (s *jwksSet) refetch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.hold = true
	s.ask()
}

// ask makes sure a fetch is pending. The caller holds s.mu.
func (s *jwksSet) ask() {
	if s.pending != nil {
		return
	}
	s.pending = make(chan struct{})
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// current returns the keys held, after waiting, while ctx lasts, for a
// fetch that requests must wait for.
func (s *jwksSet) current(ctx context.Context) keySet {
	s.mu.Lock()
	p := s.pending
	if !s.hold {
		p = nil
	}
	s.mu.Unlock()
	if p != nil {
		select {
		case <-p:
		case <-ctx.Done():
		}
	}
	if ks := s.keys.Load(); ks != nil {
		return *ks
	}
	return nil
}

// refresh asks for a fetch because of a token the keys held do not
// verify, and waits for it while ctx lasts: it joins a fetch already
// pending; else one may start once opts.unknownKID has passed since the
// end of the last such fetch, which the request waits for when that comes
// before ctx's deadline. It reports whether a fetch ended.
func (s *jwksSet) refresh(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false
		}
		p := s.pending
		wait := time.Until(s.next)
		if p == nil && wait <= 0 {
			s.demanded = true
			s.ask()
			p = s.pending
		}
		s.mu.Unlock()
		if p != nil {
			select {
			case <-p:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if d, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(d) {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// verify checks t's signature with a key of cred's JWK Set fit for the
// credential's algorithm: the keys with the token's `kid`, or without a
// `kid` every key of the set. When the set has no key of that `kid`, or
// without a `kid` none verifies, the set is fetched again (rate limited)
// and the check repeated. All waiting (for the set's first fetch or a
// reload's, for the rate limit, for a fetch) together takes at most
// opts.timeout, and ends with the request.
func (j *jwksSets) verify(ctx context.Context, cred *Credential, m gojwt.SigningMethod, t *token) bool {
	kid, hasKID := "", false
	if raw, ok := t.header.get("kid"); ok {
		s, isString := jsonString(raw)
		if !isString {
			return false
		}
		kid, hasKID = s, true
	}
	s := j.set(cred.JWKSURI)
	if s == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, j.opts.timeout)
	defer cancel()
	ok, found := s.current(ctx).check(t, kid, hasKID, cred.Algorithm, m)
	if ok || (hasKID && found) {
		// Verified, or the key it names is there and did not verify it.
		return ok
	}
	if !s.refresh(ctx) {
		return false
	}
	ok, _ = s.current(ctx).check(t, kid, hasKID, cred.Algorithm, m)
	return ok
}

// check verifies t with the keys of ks fit for alg: those with kid when
// hasKID, else all. found reports whether ks has a key with kid.
func (ks keySet) check(t *token, kid string, hasKID bool, alg string, m gojwt.SigningMethod) (ok, found bool) {
	for i := range ks {
		k := &ks[i]
		if hasKID && k.kid != kid {
			continue
		}
		found = true
		if k.usable(alg) && m.Verify(t.signed, t.sig, k.public) == nil {
			return true, true
		}
	}
	return false, found
}

// usable reports whether a JWK may verify alg: its "alg", when given, is
// alg; its "use", when given, is "sig"; and the key is of the type (and
// curve) alg needs. A symmetric ("oct") key never is.
func (k *jwksKey) usable(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	if k.use != "" && k.use != jwkset.UseSig {
		return false
	}
	return keyFits(k.public, alg)
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
