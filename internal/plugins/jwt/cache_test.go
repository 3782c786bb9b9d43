package jwt

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cached reports whether tok is in in's cache.
func cached(in *instance, tok string, at time.Time) bool {
	k := tokenDigest(tok)
	return in.cache.get(&k, at) != nil
}

func entries(c *cache) int {
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	return n
}

func TestCacheSkipsSignature(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["rs256"], valid("rs256"), nil)
	ok := outcome{Status: 200, Identity: identity(bob, "rs256")}
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, ok) {
		t.Fatalf("got %+v", got)
	}
	if !cached(in, tok, now) {
		t.Fatal("verified token not cached")
	}
	// Proof that a hit does not verify again: the same credential object
	// with its key taken away still accepts the token.
	dir.ByKind[kindName]["rs256"].State.(*verifyKeys).publicKey = nil
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, ok) {
		t.Fatalf("cached token: %+v", got)
	}
	// Failures are not cached.
	bad := sign(t, signer{"HS256", []byte("nope")}, valid("hs256"), nil)
	run(t, in, newCtx(dir, authorize(bad)))
	if cached(in, bad, now) {
		t.Error("a token with a bad signature was cached")
	}
}

// exp, nbf and maximum_expiration are checked on every use of a cached
// token.
func TestCacheChecksTime(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, func(c *Config) { c.ClaimsToVerify, c.MaximumExpiration = []string{"exp", "nbf"}, 300 })
	clock := now
	in.now = func() time.Time { return clock }
	tok := sign(t, signers["es256"], claims{"iss": "es256", "nbf": now.Unix() + 10, "exp": now.Unix() + 400}, nil)
	steps := []struct {
		at   time.Duration
		want outcome
	}{
		{0, claimFail(`{"nbf":"token not valid yet"}`)},
		{50 * time.Second, claimFail(`{"exp":"exceeds maximum allowed expiration"}`)},
		{150 * time.Second, outcome{Status: 200, Identity: identity(bob, "es256")}},
		{400 * time.Second, claimFail(`{"exp":"token expired"}`)},
	}
	for _, s := range steps {
		clock = now.Add(s.at)
		if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, s.want) {
			t.Errorf("at +%v: got %+v, want %+v", s.at, got, s.want)
		}
		if !cached(in, tok, clock) {
			t.Errorf("at +%v: not cached", s.at)
		}
	}
}

// A reload builds new credential objects: a cached token is verified again
// against the new one, and refused when its key changed or it is gone.
func TestCacheAfterReload(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
	same := *dir.ByKind[kindName]["hs256"]
	dir.ByKind[kindName]["hs256"] = &same
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
		t.Fatalf("unchanged credential after reload: %+v", got)
	}
	changed := same
	changed.State = &verifyKeys{secret: "a new secret"}
	dir.ByKind[kindName]["hs256"] = &changed
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("changed secret: %+v", got)
	}
	delete(dir.ByKind[kindName], "hs256")
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, fail("No credentials found for given 'iss'", bearerErr)) {
		t.Errorf("removed credential: %+v", got)
	}
}

func TestCacheTTL(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	run(t, in, newCtx(dir, authorize(tok)))
	if !cached(in, tok, now.Add(cacheTTL-time.Second)) || cached(in, tok, now.Add(cacheTTL)) {
		t.Errorf("entry not kept for exactly %v", cacheTTL)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(64)
	v := &verified{until: now.Add(time.Hour)}
	var first [sha256.Size]byte
	for i := range 1000 {
		k := sha256.Sum256([]byte(strconv.Itoa(i)))
		if i == 0 {
			first = k
		}
		c.put(&k, v)
	}
	if n := entries(c); n > 64 {
		t.Errorf("%d entries, want at most 64", n)
	}
	if c.get(&first, now) != nil {
		t.Error("the oldest entry survived")
	}
	last := sha256.Sum256([]byte("999"))
	if c.get(&last, now) != v {
		t.Error("the newest entry is missing")
	}
	// Putting a key again replaces its value without growing.
	n := entries(c)
	w := &verified{until: now.Add(time.Hour)}
	c.put(&last, w)
	if c.get(&last, now) != w || entries(c) != n {
		t.Error("re-put")
	}
}

func TestCacheDisabled(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, func(c *Config) { c.TokenCacheSize = 0 })
	if in.cache != nil {
		t.Fatal("cache built with size 0")
	}
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	for range 2 {
		if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
			t.Fatalf("got %+v", got)
		}
	}
	// Without a cache every use is verified: a removed key shows at once.
	dir.ByKind[kindName]["hs256"].State.(*verifyKeys).secret = "other"
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 401 {
		t.Errorf("got %+v", got)
	}
}

// After a reload the consumer is the new credential's: a reload that moves
// a key to another consumer moves its cached tokens with it.
func TestCacheConsumerAfterReload(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	run(t, in, newCtx(dir, authorize(tok)))
	// The same directory key now names alice's credential object.
	dir.ByKind[kindName]["hs256"] = credential("x", "hs256", alice, Credential{Algorithm: "HS256", Secret: hsSecret}, nil)
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, outcome{Status: 200, Identity: identity(alice, "hs256")}) {
		t.Errorf("got %+v", got)
	}
}

// The cache is keyed on the token without its signature's padding, so
// both spellings of a token share one entry, and a spelling the decoder
// refuses never finds it.
func TestCacheKeyCanonical(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["es256"], valid("es256"), nil)
	ok := outcome{Status: 200, Identity: identity(bob, "es256")}
	// An ES256 signature is 64 bytes: 86 characters, padded with "==".
	for _, spelling := range []string{tok, tok + "=="} {
		if got := run(t, in, newCtx(dir, authorize(spelling))); !cmp.Equal(got, ok) {
			t.Fatalf("%q: %+v", spelling, got)
		}
	}
	if n := entries(in.cache); n != 1 {
		t.Errorf("%d cache entries for two spellings of one token, want 1", n)
	}
	for _, bad := range []string{tok + "=", tok + "===", tok + "==x", tok + "=x"} {
		if got := run(t, in, newCtx(dir, authorize(bad))); !cmp.Equal(got, fail("Bad token; invalid signature", bearerErr)) {
			t.Errorf("%q: %+v", bad, got)
		}
	}
	if n := entries(in.cache); n != 1 {
		t.Errorf("%d cache entries after refused spellings, want 1", n)
	}
}

func TestUnpadded(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"h.p.abc", "h.p.abc"},
		{"h.p.abc=", "h.p.abc"},
		{"h.p.ab==", "h.p.ab"},
		{"h.p.abcd=", "h.p.abcd="},
		{"h.p.a===", "h.p.a==="},
		{"h.p.abc==", "h.p.abc=="},
		{"h=.p.abc", "h=.p.abc"},
		{"h.p=", "h.p="},
		{"abc=", "abc="},
		{"", ""},
	} {
		if got := unpadded(c.in); got != c.want {
			t.Errorf("unpadded(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
