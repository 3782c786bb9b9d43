package tokens

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/store"
)

const (
	// redisPrefix starts every key. Its hash tag puts them all in one
	// Redis Cluster slot: a token's keys are written in one MULTI and
	// the admin API's SCAN reads one node.
	redisPrefix = "{turnpike:oauth2}:"
	// revokeChannel carries the access-token digests of revoked tokens
	// (Redis pub/sub ignores databases: gateways sharing a server share
	// it, and a digest found nowhere is harmless).
	revokeChannel = "turnpike:oauth2:revoked"
	// cacheTTL bounds how long a node trusts its copy of a token without
	// asking Redis: the longest a revocation takes to reach a node that
	// missed its message.
	cacheTTL = 30 * time.Second
	// cacheMax bounds the node-local cache.
	cacheMax = 1 << 16
	// maxScans bounds the SCAN calls of one admin page, over a database
	// full of other keys.
	maxScans = 100
)

// Redis keeps tokens and codes in Redis so that every node finds what any
// node issued. Under the prefix: t:<id> is a token's record, a:<sha256 of
// the access token> and r:<sha256 of the refresh token> are copies of it
// expiring with those tokens, c:<sha256 of the code> a code; each with
// its TTL. In front of a:, a bounded node-local cache keeps a token for
// at most 30 s (never past its expiry); Delete publishes the revocation
// and every node drops its copy on the message.
type Redis struct {
	c   *store.RedisClient
	now func() time.Time

	cache  shards[cached]
	cached atomic.Int64
	// gen counts invalidations: a lookup that raced with one does not
	// put what it read into the cache.
	gen atomic.Uint64

	ps   *redis.PubSub
	done chan struct{}
}

type cached struct {
	t   *Token
	exp int64
}

// redisRecord is a token as stored: the token and its keys' digests.
type redisRecord struct {
	T       *Token `json:"t"`
	Access  string `json:"a"`
	Refresh string `json:"r,omitempty"`
}

// NewRedis makes a store on c and subscribes to revocations. Close ends
// the subscription.
func NewRedis(c *store.RedisClient) *Redis {
	s := &Redis{c: c, now: time.Now, done: make(chan struct{})}
	s.cache.init()
	// The dial happens on the reading goroutine: a Redis that is down
	// only delays the subscription.
	s.ps = c.Client().Subscribe(context.Background())
	go s.read()
	return s
}

// Close ends the subscription and waits for its goroutine.
func (s *Redis) Close() {
	s.ps.Close()
	<-s.done
}

// read drops the cached copy of each revoked token, and the whole cache
// each time the subscription is (re)made: messages published while it
// was down are lost.
func (s *Redis) read() {
	defer close(s.done)
	_ = s.ps.Subscribe(context.Background(), revokeChannel)
	for m := range s.ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			s.clearCache()
		case *redis.Message:
			var k digest
			if len(m.Payload) == 2*len(k) {
				if _, err := hex.Decode(k[:], []byte(m.Payload)); err == nil {
					s.uncache(k)
				}
			}
		}
	}
}

func (s *Redis) uncache(k digest) {
	s.gen.Add(1)
	s.cache.deleteIf(k, func(cached) bool { s.cached.Add(-1); return true })
}

func (s *Redis) clearCache() {
	s.gen.Add(1)
	for i := range s.cache {
		sh := &s.cache[i]
		sh.mu.Lock()
		s.cached.Add(-int64(len(sh.m)))
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// remember caches t under k until exp, unless an invalidation happened
// since gen. A full cache drops the shard's entries to make room:
// bounded work, and the dropped tokens are only read from Redis again.
func (s *Redis) remember(k digest, t *Token, exp int64, gen uint64) {
	sh := s.cache.of(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.gen.Load() != gen {
		return
	}
	if s.cached.Load() >= cacheMax {
		s.cached.Add(-int64(len(sh.m)))
		clear(sh.m)
	}
	if _, ok := sh.m[k]; !ok {
		s.cached.Add(1)
	}
	sh.m[k] = cached{t: t, exp: exp}
}

// do runs fn through the client's breaker; a missing key is no error.
func (s *Redis) do(fn func(redis.UniversalClient) error) error {
	_, err := s.c.Breaker().Execute(func() (any, error) {
		if err := fn(s.c.Client()); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("tokens: redis: %w", err)
	}
	return nil
}

func key(kind string, k digest) string { return redisPrefix + kind + hex.EncodeToString(k[:]) }

func idKey(id string) string { return redisPrefix + "t:" + id }

// ttl is the time left until exp (Unix ns; 0: none, which SET reads as
// no expiry); at least a millisecond, since SET refuses 0.
func ttl(exp, now int64) time.Duration {
	if exp == 0 {
		return 0
	}
	return max(time.Duration(exp-now), time.Millisecond)
}

// Put implements Store: the record and its copies in one transaction.
func (s *Redis) Put(ctx context.Context, t *Token, accessToken, refreshToken string) error {
	now := s.now()
	r := newRecord(t, accessToken, refreshToken, now)
	rec := redisRecord{T: r.t, Access: hex.EncodeToString(r.access[:])}
	if r.t.HasRefresh {
		rec.Refresh = hex.EncodeToString(r.refresh[:])
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	n := now.UnixNano()
	return s.do(func(c redis.UniversalClient) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, idKey(r.t.ID), b, ttl(r.until(), n))
			p.Set(ctx, key("a:", r.access), b, ttl(r.accessExp, n))
			if r.t.HasRefresh {
				p.Set(ctx, key("r:", r.refresh), b, ttl(r.refreshExp, n))
			}
			return nil
		})
		return err
	})
}

// get reads and decodes the record under k, nil when there is none.
func (s *Redis) get(ctx context.Context, k string) (*redisRecord, error) {
	return s.load(ctx, k, false)
}

// load reads and decodes the record under k, nil when there is none;
// with take, it deletes it in the same command (GETDEL).
func (s *Redis) load(ctx context.Context, k string, take bool) (*redisRecord, error) {
	var b []byte
	if err := s.do(func(c redis.UniversalClient) error {
		var err error
		if take {
			b, err = c.GetDel(ctx, k).Bytes()
		} else {
			b, err = c.Get(ctx, k).Bytes()
		}
		return err
	}); err != nil || b == nil {
		return nil, err
	}
	var rec redisRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.T == nil {
		return nil, fmt.Errorf("tokens: redis: malformed record under %s", k)
	}
	return &rec, nil
}

// ByAccess implements Store: from the node-local cache when it holds the
// token, else from Redis, then cached.
func (s *Redis) ByAccess(ctx context.Context, accessToken string) (*Token, error) {
	k := sum(accessToken)
	now := s.now().UnixNano()
	if c, ok := s.cache.get(k); ok && now < c.exp {
		return c.t, nil
	}
	gen := s.gen.Load()
	rec, err := s.get(ctx, key("a:", k))
	if err != nil || rec == nil {
		return nil, err
	}
	exp := now + int64(cacheTTL)
	if rec.T.ExpiresIn > 0 {
		accessExp := rec.T.CreatedAt.UnixNano() + int64(rec.T.ExpiresIn)*int64(time.Second)
		if now >= accessExp {
			return nil, nil
		}
		exp = min(exp, accessExp)
	}
	s.remember(k, rec.T, exp, gen)
	return rec.T, nil
}

// ByRefresh implements Store.
func (s *Redis) ByRefresh(ctx context.Context, refreshToken string) (*Token, error) {
	rec, err := s.get(ctx, key("r:", sum(refreshToken)))
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.T, nil
}

// TakeRefresh implements Store with GETDEL on the refresh token's copy:
// one command, so one request of any node takes it; the record and its
// access token's copy go after, and every node is told.
func (s *Redis) TakeRefresh(ctx context.Context, refreshToken string) (*Token, error) {
	rec, err := s.load(ctx, key("r:", sum(refreshToken)), true)
	if err != nil || rec == nil {
		return nil, err
	}
	if _, err := s.drop(ctx, rec); err != nil {
		return nil, err
	}
	return rec.T, nil
}

// Get implements Store.
func (s *Redis) Get(ctx context.Context, id string) (*Token, error) {
	rec, err := s.get(ctx, idKey(id))
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.T, nil
}

// Delete implements Store: the record and its copies go, and every node
// is told to drop its cached copy.
func (s *Redis) Delete(ctx context.Context, id string) (bool, error) {
	rec, err := s.get(ctx, idKey(id))
	if err != nil || rec == nil {
		return false, err
	}
	return s.drop(ctx, rec)
}

// drop deletes rec's record and copies in one transaction, publishes the
// revocation and drops this node's cached copy; true when the record was
// still there.
func (s *Redis) drop(ctx context.Context, rec *redisRecord) (bool, error) {
	id := rec.T.ID
	var access digest
	if len(rec.Access) != 2*len(access) {
		return false, fmt.Errorf("tokens: redis: malformed record under %s", idKey(id))
	}
	if _, err := hex.Decode(access[:], []byte(rec.Access)); err != nil {
		return false, fmt.Errorf("tokens: redis: malformed record under %s", idKey(id))
	}
	var deleted *redis.IntCmd
	err := s.do(func(c redis.UniversalClient) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			deleted = p.Del(ctx, idKey(id))
			p.Del(ctx, redisPrefix+"a:"+rec.Access)
			if rec.Refresh != "" {
				p.Del(ctx, redisPrefix+"r:"+rec.Refresh)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return c.Publish(ctx, revokeChannel, rec.Access).Err()
	})
	s.uncache(access)
	if err != nil {
		return false, err
	}
	return deleted.Val() > 0, nil
}

// List implements Store by SCAN over the records. The offset is SCAN's
// cursor and how many records of that cursor's batch were listed, so a
// page never holds more than size.
func (s *Redis) List(ctx context.Context, offset string, size int) ([]*Token, string, error) {
	if size <= 0 {
		size = 100
	}
	cursor, skip, err := parseOffset(offset)
	if err != nil {
		return nil, "", err
	}
	var page []*Token
	for range maxScans {
		var keys []string
		var next uint64
		if err := s.do(func(c redis.UniversalClient) error {
			n, err := scanNode(ctx, c)
			if err != nil {
				return err
			}
			keys, next, err = n.Scan(ctx, cursor, redisPrefix+"t:*", int64(size)).Result()
			return err
		}); err != nil {
			return nil, "", err
		}
		keys = keys[min(skip, len(keys)):]
		take := min(len(keys), size-len(page))
		if err := s.mget(ctx, keys[:take], &page); err != nil {
			return nil, "", err
		}
		if take < len(keys) {
			return page, strconv.FormatUint(cursor, 10) + ":" + strconv.Itoa(skip+take), nil
		}
		cursor, skip = next, 0
		if cursor == 0 {
			return page, "", nil
		}
		if len(page) == size {
			break
		}
	}
	return page, strconv.FormatUint(cursor, 10) + ":0", nil
}

// scanNode is the client that holds the prefix's slot: the cluster's
// node, or the one server.
func scanNode(ctx context.Context, c redis.UniversalClient) (redis.Cmdable, error) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, redisPrefix)
	}
	return c, nil
}

// mget appends the tokens under keys to page (those that expired since
// the scan are left out).
func (s *Redis) mget(ctx context.Context, keys []string, page *[]*Token) error {
	if len(keys) == 0 {
		return nil
	}
	var vals []any
	if err := s.do(func(c redis.UniversalClient) error {
		var err error
		vals, err = c.MGet(ctx, keys...).Result()
		return err
	}); err != nil {
		return err
	}
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var rec redisRecord
		if json.Unmarshal([]byte(str), &rec) == nil && rec.T != nil {
			*page = append(*page, rec.T)
		}
	}
	return nil
}

// ErrOffset is List's error for an offset it did not hand out.
var ErrOffset = errors.New("tokens: invalid offset")

func parseOffset(offset string) (cursor uint64, skip int, err error) {
	if offset == "" {
		return 0, 0, nil
	}
	c, sk, ok := strings.Cut(offset, ":")
	if !ok {
		return 0, 0, ErrOffset
	}
	if cursor, err = strconv.ParseUint(c, 10, 64); err != nil {
		return 0, 0, ErrOffset
	}
	if skip, err = strconv.Atoi(sk); err != nil || skip < 0 {
		return 0, 0, ErrOffset
	}
	return cursor, skip, nil
}

// PutCode implements Store.
func (s *Redis) PutCode(ctx context.Context, code string, c *Code, ttl time.Duration) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.do(func(cl redis.UniversalClient) error {
		return cl.Set(ctx, key("c:", sum(code)), b, max(ttl, time.Millisecond)).Err()
	})
}

// TakeCode implements Store with GETDEL: one command, so a code is taken
// once across every node.
func (s *Redis) TakeCode(ctx context.Context, code string) (*Code, error) {
	var b []byte
	k := key("c:", sum(code))
	if err := s.do(func(c redis.UniversalClient) error {
		var err error
		b, err = c.GetDel(ctx, k).Bytes()
		return err
	}); err != nil || b == nil {
		return nil, err
	}
	var c Code
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("tokens: redis: malformed code under %s", k)
	}
	return &c, nil
}

var _ Store = (*Redis)(nil)
