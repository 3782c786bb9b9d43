package configstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

func newTestStore(t *testing.T, addr string, maxSize int64, poll time.Duration) *Redis {
	t.Helper()
	s, err := NewRedis(RedisOptions{Conn: store.RedisOptions{Addrs: []string{addr}}, MaxSize: maxSize, Poll: poll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func doc(i int) []byte { return fmt.Appendf(nil, "_format_version: \"3.0\"\n# %d\n", i) }

func TestRedisPutCompareAndSet(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := newTestStore(t, srv.Addr, 0, 0)
	ctx := context.Background()
	if d, err := s.Load(ctx); err != nil || d.Version != 0 || d.Data != nil {
		t.Fatalf("empty store: %+v, %v", d, err)
	}
	v, err := s.Put(ctx, doc(1), 0, "alice")
	if err != nil || v != 1 {
		t.Fatalf("first put: %d, %v", v, err)
	}
	if _, err := s.Put(ctx, doc(2), 0, "bob"); !errors.Is(err, ErrConflict) {
		t.Fatalf("put from a stale version: %v, want ErrConflict", err)
	}
	if v, err = s.Put(ctx, doc(2), 1, "bob"); err != nil || v != 2 {
		t.Fatalf("second put: %d, %v", v, err)
	}
	d, err := s.Load(ctx)
	if err != nil || d.Version != 2 || string(d.Data) != string(doc(2)) || d.Who != "bob" {
		t.Fatalf("load: %+v, %v", d, err)
	}
	m, err := s.Meta(ctx)
	if err != nil || m.Version != 2 || m.Who != "bob" || len(m.Hash) != 32 || time.Since(m.When) > time.Minute {
		t.Fatalf("meta: %+v, %v", m, err)
	}
}

// Versions above 2^53, where a Lua number is no longer exact, compare and
// increment exactly.
func TestRedisVersionsPast2To53(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	s := newTestStore(t, srv.Addr, 0, 0)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	const big = 1<<53 + 1
	if err := c.Set(ctx, s.keys.version, strconv.FormatUint(big, 10), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, doc(1), big-1, "t"); !errors.Is(err, ErrConflict) {
		t.Fatalf("put from 2^53 onto 2^53+1: %v, want ErrConflict", err)
	}
	if v, err := s.Put(ctx, doc(2), big, "t"); err != nil || v != big+1 {
		t.Fatalf("put from 2^53+1: %d, %v, want %d", v, err, uint64(big+1))
	}
	if d, err := s.Load(ctx); err != nil || d.Version != big+1 || string(d.Data) != string(doc(2)) {
		t.Fatalf("load: %d %q, %v", d.Version, d.Data, err)
	}
	if ok, err := s.Restore(ctx, doc(3), big, "t"); err != nil || ok {
		t.Fatalf("restore of an older version: %v, %v", ok, err)
	}
	if ok, err := s.Restore(ctx, doc(4), big+2, "t"); err != nil || !ok {
		t.Fatalf("restore of a newer version: %v, %v", ok, err)
	}
	if ok, err := s.Restore(ctx, doc(5), 99, "t"); err != nil || ok {
		t.Fatalf("restore of a shorter version: %v, %v", ok, err)
	}
	if v, err := s.Version(ctx); err != nil || v != big+2 {
		t.Fatalf("version %d, %v", v, err)
	}
}

// Writers racing from one version: exactly one wins, every other gets
// ErrConflict, and the stored document is the winner's.
func TestRedisConcurrentWritersOneWins(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	setup := newTestStore(t, srv.Addr, 0, 0)
	if _, err := setup.Put(ctx, doc(0), 0, "seed"); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		const writers = 4
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for i := range writers {
			w := newTestStore(t, srv.Addr, 0, 0)
			wg.Go(func() {
				<-start
				_, errs[i] = w.Put(ctx, doc(100*round+i), uint64(round+1), fmt.Sprint("w", i))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		d, _ := setup.Load(ctx)
		if d.Version != uint64(round+2) || string(d.Data) != string(doc(100*round+winner)) {
			t.Fatalf("round %d: stored %d %q, want the winner's", round, d.Version, d.Data)
		}
	}
}

// collect runs Watch and hands its deliveries over a channel.
func collect(t *testing.T, s *Redis) <-chan Doc {
	t.Helper()
	ch := make(chan Doc, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, func(d Doc) { ch <- d })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func next(t *testing.T, ch <-chan Doc, within time.Duration) Doc {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(within):
		t.Fatalf("nothing delivered within %v", within)
		return Doc{}
	}
}

func TestRedisWatchInOrder(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	w := newTestStore(t, srv.Addr, 0, time.Hour)
	s := newTestStore(t, srv.Addr, 0, 0)
	if _, err := s.Put(ctx, doc(1), 0, "t"); err != nil {
		t.Fatal(err)
	}
	ch := collect(t, w)
	if d := next(t, ch, 5*time.Second); d.Version != 1 || string(d.Data) != string(doc(1)) {
		t.Fatalf("first delivery: %+v, want the current version", d)
	}
	const n = 50
	for i := 2; i <= n; i++ {
		if _, err := s.Put(ctx, doc(i), uint64(i-1), "t"); err != nil {
			t.Fatal(err)
		}
	}
	// The poll is an hour away: the messages alone bring the changes.
	var last uint64 = 1
	for last < n {
		d := next(t, ch, 5*time.Second)
		if d.Version <= last {
			t.Fatalf("version %d delivered after %d", d.Version, last)
		}
		if string(d.Data) != string(doc(int(d.Version))) {
			t.Fatalf("version %d carries %q", d.Version, d.Data)
		}
		last = d.Version
	}
}

// A version stored without its message (as after a lost message) is
// found by the poll.
func TestRedisWatchPollHealsMissedMessage(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	w := newTestStore(t, srv.Addr, 0, 300*time.Millisecond)
	ch := collect(t, w)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer raw.Close()
	time.Sleep(100 * time.Millisecond)
	if err := raw.MSet(ctx, w.keys.version, "7", w.keys.data, string(doc(7))).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := next(t, ch, 3*time.Second)
	if d.Version != 7 || string(d.Data) != string(doc(7)) {
		t.Fatalf("delivered %+v", d)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("the poll took %v", time.Since(start))
	}
}

// Watch survives Redis going away and coming back (empty): it follows
// the versions stored after.
func TestRedisWatchAcrossRestart(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	w := newTestStore(t, srv.Addr, 0, 300*time.Millisecond)
	s := newTestStore(t, srv.Addr, 0, 0)
	ch := collect(t, w)
	if _, err := s.Put(ctx, doc(1), 0, "t"); err != nil {
		t.Fatal(err)
	}
	next(t, ch, 3*time.Second)
	srv.Stop()
	if _, err := s.Put(ctx, doc(2), 1, "t"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put with Redis down: %v, want ErrUnavailable", err)
	}
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	if ok, err := s.Restore(ctx, doc(1), 1, "t"); !ok || err != nil {
		t.Fatalf("restore into the empty Redis: %v, %v", ok, err)
	}
	if ok, _ := s.Restore(ctx, doc(0), 1, "t"); ok {
		t.Fatal("restore over an equal version")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.Put(ctx, doc(2), 1, "t"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := next(t, ch, 5*time.Second); d.Version != 2 || string(d.Data) != string(doc(2)) {
		t.Fatalf("after the restart: %+v", d)
	}
}

func TestRedisSizeBound(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	s := newTestStore(t, srv.Addr, 64, 200*time.Millisecond)
	big := []byte("_format_version: \"3.0\"\n#" + strings.Repeat("x", 64))
	if _, err := s.Put(ctx, big, 0, "t"); err == nil || !strings.Contains(err.Error(), "larger than the limit of 64 bytes") {
		t.Fatalf("put over the bound: %v", err)
	}
	if d, _ := s.Load(ctx); d.Version != 0 {
		t.Fatalf("stored anyway: %+v", d)
	}
	// Stored by a node with a larger bound: not read, not delivered.
	other := newTestStore(t, srv.Addr, 0, 0)
	if _, err := other.Put(ctx, big, 0, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("load over the bound: %v", err)
	}
	ch := collect(t, s)
	select {
	case d := <-ch:
		t.Fatalf("delivered a document over the bound: %d bytes", len(d.Data))
	case <-time.After(700 * time.Millisecond):
	}
	if _, err := other.Put(ctx, doc(2), 1, "t"); err != nil {
		t.Fatal(err)
	}
	if d := next(t, ch, 3*time.Second); d.Version != 2 {
		t.Fatalf("after the big one: %+v", d)
	}
}

func TestRedisNodes(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	s := newTestStore(t, srv.Addr, 0, 0)
	now := time.Now()
	if v, err := s.Heartbeat(ctx, Node{ID: "a", Hostname: "h1", ConfigVersion: 3, Health: HealthOK, LastSeen: now}, time.Minute); err != nil || v != 0 {
		t.Fatalf("heartbeat on an empty store: %d, %v", v, err)
	}
	if _, err := s.Put(ctx, doc(1), 0, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx, Node{ID: "b", Hostname: "h2", FailedVersion: 4, FailedError: strings.Repeat("e", 5000),
		Health: HealthFailed, LastSeen: now.Add(time.Millisecond)}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The heartbeat reads the stored version in its round trip.
	if v, err := s.Heartbeat(ctx, Node{ID: "a", Hostname: "h1", ConfigVersion: 3, Health: HealthOK, LastSeen: now}, time.Minute); err != nil || v != 1 {
		t.Fatalf("heartbeat: version %d, %v", v, err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].ID != "b" || nodes[1].ID != "a" {
		t.Fatalf("nodes: %+v, %v", nodes, err)
	}
	if len(nodes[0].FailedError) > maxNodeError+3 || nodes[0].FailedVersion != 4 || nodes[1].ConfigVersion != 3 {
		t.Fatalf("records: %+v", nodes)
	}
	time.Sleep(500 * time.Millisecond)
	if nodes, _ = s.Nodes(ctx); len(nodes) != 1 || nodes[0].ID != "a" {
		t.Fatalf("after b's record expired: %+v", nodes)
	}
}

// A record over maxNodeRecord in Redis is skipped, not read; a node's own
// record, however long its error, fits the bound.
func TestRedisNodesSkipsHugeRecords(t *testing.T) {
	srv := gwtest.StartRedis(t)
	ctx := context.Background()
	s := newTestStore(t, srv.Addr, 0, 0)
	now := time.Now()
	if _, err := s.Heartbeat(ctx, Node{ID: "ok", FailedError: strings.Repeat("\x01", 5000), Health: HealthFailed, LastSeen: now}, time.Minute); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	huge := `{"id":"huge","hostname":"` + strings.Repeat("h", 1<<20) + `"}`
	c.Set(ctx, s.keys.nodePrefix+"huge", huge, time.Minute)
	c.ZAdd(ctx, s.keys.nodes, redis.Z{Score: float64(now.Add(time.Second).UnixMilli()), Member: "huge"})
	c.HSet(ctx, s.keys.nodePrefix+"hash", "f", "v")
	c.ZAdd(ctx, s.keys.nodes, redis.Z{Score: float64(now.UnixMilli()), Member: "hash"})
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "ok" || nodes[0].FailedError == "" {
		t.Fatalf("nodes: %d records, %v", len(nodes), err)
	}
}

// BenchmarkRedisPutLoad is one change as a node sees it: the
// compare-and-set with its publish, then the versioned read a watcher
// makes, of a 64 KiB document.
func BenchmarkRedisPutLoad(b *testing.B) {
	srv := gwtest.StartRedis(b)
	s, err := NewRedis(RedisOptions{Conn: store.RedisOptions{Addrs: []string{srv.Addr}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	data := []byte("_format_version: \"3.0\"\n#" + strings.Repeat("x", 64<<10))
	var v uint64
	b.ReportAllocs()
	for b.Loop() {
		if v, err = s.Put(ctx, data, v, "bench"); err != nil {
			b.Fatal(err)
		}
		if d, err := s.Load(ctx); err != nil || d.Version != v {
			b.Fatal(d.Version, err)
		}
	}
}

// Load and Meta read at most maxWho bytes of the writer's name, whatever
// the store holds (here a name set by hand), and never a character cut in
// two.
func TestRedisReadsBoundWriter(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := newTestStore(t, srv.Addr, 0, 0)
	ctx := context.Background()
	if _, err := s.Put(ctx, doc(1), 0, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Set(ctx, s.keys.who, "a"+strings.Repeat("é", 1<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	bounded := func(who string) bool {
		return len(who) == maxWho-1 && strings.HasPrefix(who, "aé") && strings.ToValidUTF8(who, "?") == who
	}
	d, err := s.Load(ctx)
	if err != nil || d.Version != 1 || !bounded(d.Who) {
		t.Fatalf("load: %d bytes of writer, %v", len(d.Who), err)
	}
	m, err := s.Meta(ctx)
	if err != nil || m.Version != 1 || len(m.Hash) != 32 || !bounded(m.Who) {
		t.Fatalf("meta: version %d, %d bytes of writer, %v", m.Version, len(m.Who), err)
	}
}

// Put and Restore store a long writer's name cut once, within maxWho, so
// Load and Meta read it whole, its mark included.
func TestRedisWritesCutWriter(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := newTestStore(t, srv.Addr, 0, 0)
	ctx := context.Background()
	long := "a" + strings.Repeat("é", 1<<20)
	check := func(step string, v uint64) {
		t.Helper()
		if n, err := s.c.StrLen(ctx, s.keys.who).Result(); err != nil || n > maxWho {
			t.Fatalf("%s: stored %d bytes of writer, %v", step, n, err)
		}
		d, err := s.Load(ctx)
		if err != nil || d.Version != v || d.Who != storedWho(long) || !strings.HasSuffix(d.Who, "…") {
			t.Fatalf("%s: load version %d, %d bytes of writer, %v", step, d.Version, len(d.Who), err)
		}
		if m, err := s.Meta(ctx); err != nil || m.Who != d.Who {
			t.Fatalf("%s: meta %d bytes of writer, %v", step, len(m.Who), err)
		}
	}
	if _, err := s.Put(ctx, doc(1), 0, long); err != nil {
		t.Fatal(err)
	}
	check("put", 1)
	if ok, err := s.Restore(ctx, doc(5), 5, long); err != nil || !ok {
		t.Fatal(ok, err)
	}
	check("restore", 5)
}

// Load, Version and Meta read at most maxField+1 bytes of the version,
// hash and time, and refuse a longer one (set by hand here) rather than
// read it whole.
func TestRedisReadsBoundFields(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := newTestStore(t, srv.Addr, 0, 0)
	ctx := context.Background()
	if _, err := s.Put(ctx, doc(1), 0, "alice"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("1", 1<<20)
	for _, key := range []string{s.keys.hash, s.keys.when} {
		saved, _ := s.c.Get(ctx, key).Result()
		if err := s.c.Set(ctx, key, long, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Meta(ctx); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("meta with a long %s: %v", key, err)
		}
		s.c.Set(ctx, key, saved, 0)
	}
	if err := s.c.Set(ctx, s.keys.version, long, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("load: %v", err)
	}
	if _, err := s.Version(ctx); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("version: %v", err)
	}
	if _, err := s.Meta(ctx); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("meta: %v", err)
	}
}
