package tokens

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemoryStore(t *testing.T) {
	m := NewMemory(0, 0, 0, nil)
	defer m.Close()
	testStore(t, m)
}

// TestMemoryExpiry: an access token stops working at created_at +
// expires_in, its refresh token at created_at + the refresh TTL, and the
// sweep then drops the record, giving its room back.
func TestMemoryExpiry(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(2, 2, 1, c.now)
	defer m.Close()
	tok := &Token{ID: "a", ExpiresIn: 60, CreatedAt: c.now(), RefreshTTL: 10 * time.Minute}
	if err := m.Put(ctx, tok, "acc", "ref"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, &Token{ID: "forever", CreatedAt: c.now()}, "acc-forever", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, &Token{ID: "b", ExpiresIn: 1}, "acc-b", ""); !errors.Is(err, ErrFull) {
		t.Fatalf("past the cap: %v", err)
	}
	c.advance(59 * time.Second)
	if got, _ := m.ByAccess(ctx, "acc"); got == nil {
		t.Fatal("expired early")
	}
	c.advance(time.Second)
	if got, _ := m.ByAccess(ctx, "acc"); got != nil {
		t.Fatal("access token valid past expires_in")
	}
	if got, _ := m.ByRefresh(ctx, "ref"); got == nil {
		t.Fatal("refresh token expired with the access token")
	}
	if got, _ := m.Get(ctx, "a"); got == nil {
		t.Fatal("record gone while its refresh token lives")
	}
	m.Sweep()
	if m.Len() != 2 {
		t.Fatalf("swept a live record: %d", m.Len())
	}
	c.advance(10 * time.Minute)
	if got, _ := m.ByRefresh(ctx, "ref"); got != nil {
		t.Fatal("refresh token valid past its TTL")
	}
	m.Sweep()
	if m.Len() != 1 {
		t.Fatalf("after sweep: %d tokens", m.Len())
	}
	if got, _ := m.ByAccess(ctx, "acc-forever"); got == nil {
		t.Fatal("a token without expiry expired")
	}
	if err := m.Put(ctx, &Token{ID: "b", ExpiresIn: 1}, "acc-b", ""); err != nil {
		t.Fatalf("room not given back: %v", err)
	}

	if err := m.PutCode(ctx, "code", &Code{}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.PutCode(ctx, "code-2", &Code{}, time.Second); !errors.Is(err, ErrFull) {
		t.Fatalf("codes past the cap: %v", err)
	}
	c.advance(time.Second)
	if got, _ := m.TakeCode(ctx, "code"); got != nil {
		t.Fatal("expired code taken")
	}
	if err := m.PutCode(ctx, "code-2", &Code{}, time.Second); err != nil {
		t.Fatalf("code room not given back: %v", err)
	}
}

// TestMemoryPerClientCap: a client at its cap is refused while the
// others still get tokens, and gets room back as its tokens go (deleted,
// taken by a refresh, or swept).
func TestMemoryPerClientCap(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(100, 3, 0, c.now)
	defer m.Close()
	put := func(client, id string) error {
		return m.Put(ctx, &Token{ID: id, ClientID: client, ExpiresIn: 60, CreatedAt: c.now(), RefreshTTL: time.Minute}, "acc-"+id, "ref-"+id)
	}
	for i := range 3 {
		if err := put("greedy", "g"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("greedy", "g3"); !errors.Is(err, ErrFull) {
		t.Fatalf("past the client's cap: %v", err)
	}
	for i := range 3 {
		if err := put("other", "o"+strconv.Itoa(i)); err != nil {
			t.Fatalf("another client refused: %v", err)
		}
	}
	if m.Len() != 6 {
		t.Fatalf("%d tokens held, want 6", m.Len())
	}
	if ok, _ := m.Delete(ctx, "g0"); !ok {
		t.Fatal("not deleted")
	}
	if err := put("greedy", "g4"); err != nil {
		t.Fatalf("room not given back by Delete: %v", err)
	}
	if got, _ := m.TakeRefresh(ctx, "ref-g1"); got == nil {
		t.Fatal("refresh not taken")
	}
	if err := put("greedy", "g5"); err != nil {
		t.Fatalf("room not given back by TakeRefresh: %v", err)
	}
	c.advance(time.Hour)
	m.Sweep()
	if m.Len() != 0 {
		t.Fatalf("%d tokens after the sweep", m.Len())
	}
	for i := range 3 {
		if err := put("greedy", "s"+strconv.Itoa(i)); err != nil {
			t.Fatalf("room not given back by the sweep: %v", err)
		}
	}
}

// TestMemoryReplacedRefresh: a token issued with the refresh token of a
// deleted one (reuse_refresh_token) keeps it when the old one is swept.
func TestMemoryReplacedRefresh(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(0, 0, 0, nil)
	defer m.Close()
	_ = m.Put(ctx, &Token{ID: "old", ExpiresIn: 60}, "acc-old", "ref")
	_ = m.Put(ctx, &Token{ID: "new", ExpiresIn: 60}, "acc-new", "ref")
	if ok, _ := m.Delete(ctx, "old"); !ok {
		t.Fatal("not deleted")
	}
	if got, _ := m.ByRefresh(ctx, "ref"); got == nil || got.ID != "new" {
		t.Fatalf("refresh token lost: %+v", got)
	}
}

// TestMemoryByAccessAllocs: the request path's lookup allocates nothing.
func TestMemoryByAccessAllocs(t *testing.T) {
	m := NewMemory(0, 0, 0, nil)
	defer m.Close()
	_ = m.Put(context.Background(), &Token{ID: "x", ExpiresIn: 3600}, "some-access-token-of-realistic-length-32", "")
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if got, _ := m.ByAccess(ctx, "some-access-token-of-realistic-length-32"); got == nil {
			t.Fatal("not found")
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkMemoryByAccess(b *testing.B) {
	m := NewMemory(0, 0, 0, nil)
	defer m.Close()
	ctx := context.Background()
	const n = 10000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "access-token-" + strconv.Itoa(i) + "-abcdefghijklmnopqrstuv"
		_ = m.Put(ctx, &Token{ID: strconv.Itoa(i), ExpiresIn: 3600}, keys[i], "")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if got, _ := m.ByAccess(ctx, keys[i%n]); got == nil {
				b.Fatal("not found")
			}
			i++
		}
	})
}

// TestOpenSharesMemory: every instance of a process gets one memory
// store, kept while any holds it.
func TestOpenSharesMemory(t *testing.T) {
	env := plugin.Env{Store: store.NewProvider()}
	a, releaseA, err := Open(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, _ := Open(env, nil)
	if a != b {
		t.Fatal("two memory stores in one process")
	}
	ctx := context.Background()
	_ = a.Put(ctx, &Token{ID: "x", ExpiresIn: 60}, "acc", "")
	releaseA()
	if got, _ := b.ByAccess(ctx, "acc"); got == nil {
		t.Fatal("token lost while the store is held")
	}
	releaseB()
	if env.Store.Shared.Len() != 0 {
		t.Fatal("store not released")
	}
}

// BenchmarkMemoryPut: issuing a token, its client's share counted.
func BenchmarkMemoryPut(b *testing.B) {
	m := NewMemory(0, 0, 0, nil)
	defer m.Close()
	ctx := context.Background()
	tok := &Token{ClientID: "client", ExpiresIn: 3600}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		tok.ID = strconv.Itoa(i)
		if err := m.Put(ctx, tok, tok.ID, ""); err != nil {
			b.Fatal(err)
		}
		if i%50000 == 0 {
			m.Close()
			m = NewMemory(0, 0, 0, nil)
		}
	}
}
