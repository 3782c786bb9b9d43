package cachestore

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

// newRedisClient is a client of srv with a short timeout, closed when
// the test ends.
func newRedisClient(t testing.TB, srv *gwtest.Redis) *store.RedisClient {
	t.Helper()
	c, err := store.NewRedisClient(store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: 500 * time.Millisecond, BreakerCooldown: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRedisStore(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := newRedisClient(t, srv)
	r := NewRedis(c, "plugin-1")
	storeContract(t, r)
	// An entry set again with another path stays in the old path's
	// index until it expires: more goes than needed, never less.
	r.Set(ctx, "k", []byte("x"), time.Minute, Meta{Path: "/old"})
	r.Set(ctx, "k", []byte("x"), time.Minute, Meta{Path: "/new"})
	if n, _ := r.Invalidate(ctx, Selector{Pattern: "/old"}); n != 1 {
		t.Fatal("the old path did not take the entry")
	}
	if err := NewRedis(c, "n").Set(ctx, "a\x00b", []byte("x"), time.Minute, Meta{}); err != ErrNULInKey {
		t.Fatalf("a key with a NUL: %v", err)
	}
}

// TestRedisMaxEntry: Get reads no more than MaxEntry+1 bytes of an
// entry, and one longer than MaxEntry is ErrOversized.
func TestRedisMaxEntry(t *testing.T) {
	srv := gwtest.StartRedis(t)
	r := NewRedis(newRedisClient(t, srv), "ns")
	if r.MaxEntry != DefaultMaxEntry {
		t.Fatalf("MaxEntry %d", r.MaxEntry)
	}
	r.MaxEntry = 4
	for _, e := range []string{"1234", "12345", "123456789"} {
		if err := r.Set(ctx, e, []byte(e), time.Minute, Meta{Path: "/"}); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range map[string]string{"1234": "1234", "12345": "", "123456789": "", "absent": ""} {
		b, err := r.Get(ctx, key)
		wantErr := len(key) > 4 && key != "absent"
		if string(b) != want || (want == "") != (b == nil) || errors.Is(err, ErrOversized) != wantErr || (!wantErr && err != nil) {
			t.Errorf("Get %q = %q, %v; want %q (oversized %v)", key, b, err, want, wantErr)
		}
	}
	// Oversized entries are not Redis failures: the breaker stays shut.
	if r.c.BreakerOpen() {
		t.Error("oversized entries opened the circuit breaker")
	}
}

func TestRedisExpiry(t *testing.T) {
	srv := gwtest.StartRedis(t)
	expiryContract(t, NewRedis(newRedisClient(t, srv), "plugin-1"))
}

// TestRedisIndexesStayBounded: the members of expired entries leave the
// indexes as others are added, and the indexes expire with their last
// entry, so keys a client makes up do not pile up in Redis.
func TestRedisIndexesStayBounded(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := newRedisClient(t, srv)
	r := NewRedis(c, "ns")
	// A longer-lived entry keeps the indexes: the expired entries'
	// members must leave them.
	if err := r.Set(ctx, "long", []byte("x"), 500*time.Millisecond, Meta{Path: "/long", RouteID: "r", Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := r.Set(ctx, "k"+strconv.Itoa(i), []byte("x"), 50*time.Millisecond, Meta{Path: "/p/" + strconv.Itoa(i), RouteID: "r", Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := r.Set(ctx, "last", []byte("x"), 200*time.Millisecond, Meta{Path: "/last", RouteID: "r", Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	for _, index := range []string{r.index, r.prefix + "r:r", r.prefix + "t:t"} {
		if n := c.Client().ZCard(ctx, index).Val(); n != 2 {
			t.Errorf("%q holds %d members, want the live entries' only", index, n)
		}
		if ttl := c.Client().PTTL(ctx, index).Val(); ttl <= 200*time.Millisecond || ttl > 500*time.Millisecond {
			t.Errorf("%q expires in %v", index, ttl)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if keys := c.Client().Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Errorf("keys left after every entry expired: %q", keys)
	}
}

// TestRedisInvalidateInBatches invalidates more entries than one ZSCAN or
// SCAN step returns, and leaves other namespaces and keys alone.
func TestRedisInvalidateInBatches(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := newRedisClient(t, srv)
	r := NewRedis(c, "a{b}*")
	other := NewRedis(c, "a")
	c.Client().Set(ctx, "unrelated", "v", 0)
	const n = 3*batch + 7
	for i := range n {
		key := "k" + strconv.Itoa(i)
		meta := Meta{Path: "/api/items/" + strconv.Itoa(i), RouteID: "route", Tags: []string{"items"}}
		if err := r.Set(ctx, key, []byte("x"), time.Minute, meta); err != nil {
			t.Fatal(err)
		}
		if err := other.Set(ctx, key, []byte("x"), time.Minute, meta); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range c.Client().Keys(ctx, "turnpike:cache:*").Val() {
		if !strings.HasPrefix(k, "turnpike:cache:{a%7Bb%7D*}:") && !strings.HasPrefix(k, "turnpike:cache:{a}:") {
			t.Fatalf("key %q outside the namespaces' hash tags", k)
		}
	}
	if got, err := r.Invalidate(ctx, Selector{Pattern: "/api/items/1*"}); err != nil || got != 1+10+100+min(1000, n-1000) {
		t.Fatalf("pattern: %d, %v", got, err)
	}
	if got, err := r.Invalidate(ctx, Selector{Tag: "items"}); err != nil || got != n-1-10-100-(n-1000) {
		t.Fatalf("tag: %d, %v", got, err)
	}
	if got, err := other.Invalidate(ctx, Selector{RouteID: "route"}); err != nil || got != n {
		t.Fatalf("route: %d, %v", got, err)
	}
	for i := range n {
		if err := other.Set(ctx, "k"+strconv.Itoa(i), []byte("x"), time.Minute, Meta{Path: "/x", RouteID: "r", Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := r.Invalidate(ctx, Selector{All: true}); err != nil || got != 0 {
		t.Fatalf("all of an empty namespace: %d, %v", got, err)
	}
	if got, err := other.Invalidate(ctx, Selector{All: true}); err != nil || got != n {
		t.Fatalf("all: %d, %v", got, err)
	}
	if keys := c.Client().Keys(ctx, "*").Val(); len(keys) != 1 || keys[0] != "unrelated" {
		t.Fatalf("keys after invalidating both namespaces: %d (%.3q)", len(keys), keys)
	}
}

// TestRedisDownFailsFast: with Redis gone, calls fail, and once the
// breaker opens they fail without a round trip; after a restart the
// store works again.
func TestRedisDownFailsFast(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := newRedisClient(t, srv)
	r := NewRedis(c, "ns")
	if err := r.Set(ctx, "k", []byte("x"), time.Minute, Meta{Path: "/k"}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 3 {
		if _, err := r.Get(ctx, "k"); err == nil {
			t.Fatal("Get with Redis down did not fail")
		}
	}
	start := time.Now()
	_, err := r.Get(ctx, "k")
	if !errors.Is(err, gobreaker.ErrOpenState) || time.Since(start) > 10*time.Millisecond {
		t.Fatalf("with the breaker open: %v after %v", err, time.Since(start))
	}
	if err := r.Set(ctx, "k", []byte("x"), time.Minute, Meta{}); !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("Set with the breaker open: %v", err)
	}
	if _, err := r.Invalidate(ctx, Selector{All: true}); !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("Invalidate with the breaker open: %v", err)
	}
	srv.Restart()
	time.Sleep(time.Second)
	if err := r.Set(ctx, "k", []byte("y"), time.Minute, Meta{}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if b, err := r.Get(ctx, "k"); string(b) != "y" || err != nil {
		t.Fatalf("after the restart: %q, %v", b, err)
	}
}

func BenchmarkRedisGet(b *testing.B) {
	srv := gwtest.StartRedis(b)
	r := NewRedis(newRedisClient(b, srv), "bench")
	key := hexKey(1)
	if err := r.Set(ctx, key, make([]byte, 1024), time.Hour, Meta{Path: "/p", RouteID: "r"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if e, err := r.Get(ctx, key); e == nil || err != nil {
			b.Fatal("miss", err)
		}
	}
}

func BenchmarkRedisSet(b *testing.B) {
	srv := gwtest.StartRedis(b)
	r := NewRedis(newRedisClient(b, srv), "bench")
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = hexKey(i)
	}
	entry := make([]byte, 1024)
	meta := Meta{Path: "/api/v1/products", RouteID: "r", Tags: []string{"products"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := r.Set(ctx, keys[i&1023], entry, time.Hour, meta); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
