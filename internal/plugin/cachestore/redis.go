package cachestore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/store"
)

//go:embed set.lua
var setLua string

var setScript = redis.NewScript(setLua)

// batch is how many index members one ZSCAN or SCAN step asks for, and
// so how many keys one UNLINK deletes at most.
const batch = 500

// DefaultMaxEntry is Redis.MaxEntry unless the caller sets it: an entry
// is read on the request path from a Redis other nodes (or anyone with
// access to it) write, so a Get must not take in a value of any size;
// 8 MiB is far above a cached response's usual size and still small
// enough to hold in memory per request.
const DefaultMaxEntry = 8 << 20

// Redis is a Store in Redis, shared by every node using it. A namespace
// (the plugin's dictionary, or its id) keeps its keys apart from
// others'; its keys are, with {ns} the namespace as a hash tag so that
// they share a Cluster slot (a '{', '}' or '%' in it percent-encoded):
//
//	turnpike:cache:{ns}:e:<key>    the entry (a string, with PX expiry)
//	turnpike:cache:{ns}:p          path index: a sorted set of
//	                               <path> NUL <key>, scored by expiry (ms)
//	turnpike:cache:{ns}:r:<route>  route index: a sorted set of keys
//	turnpike:cache:{ns}:t:<tag>    tag index: a sorted set of keys
//
// An index expires with its longest-lived entry, and loses the members of
// expired entries as others are added, so indexes do not outgrow the
// entries. A key set again with another path, route or tag stays in its
// old index until it expires there: an invalidation of the old one takes
// it too (more than needed, never less). Keys with a NUL byte are
// refused (the path index splits its members at the last NUL); paths may
// hold any byte.
//
// Every call goes through the client's circuit breaker, so a Redis that
// is down fails calls at once; each round trip is bounded by the
// client's timeout (its dial, pool, read and write timeouts).
type Redis struct {
	// MaxEntry is the largest entry Get returns, in bytes; a longer one
	// is ErrOversized. Set it before the store is used.
	MaxEntry int

	c      *store.RedisClient
	prefix string // turnpike:cache:{ns}:
	index  string // the path index's key
}

// ErrOversized is Get's answer for an entry longer than MaxEntry: the
// caller counts it as a store error (a shared Redis holds a value no
// response of this cache could have made) and goes upstream.
var ErrOversized = errors.New("cachestore: redis: an entry longer than the largest a response may store")

var _ Store = (*Redis)(nil)

// NewRedis makes a store in c's Redis under namespace.
func NewRedis(c *store.RedisClient, namespace string) *Redis {
	ns := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D").Replace(namespace)
	prefix := "turnpike:cache:{" + ns + "}:"
	return &Redis{MaxEntry: DefaultMaxEntry, c: c, prefix: prefix, index: prefix + "p"}
}

// do runs fn through the client's breaker.
func (r *Redis) do(fn func() error) error {
	_, err := r.c.Breaker().Execute(func() (any, error) { return nil, fn() })
	if err != nil {
		return fmt.Errorf("cachestore: redis: %w", err)
	}
	return nil
}

// Get returns the entry under key, nil when there is none, and
// ErrOversized for one longer than MaxEntry.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	var entry []byte
	oversized := false
	err := r.do(func() error {
		// GETRANGE reads at most MaxEntry+1 bytes, one more than an entry
		// may have so that a longer one shows; a missing key is an empty
		// reply (entries are never empty). Bytes hands out the reply's
		// own string's bytes, uncopied.
		b, err := r.c.Client().GetRange(ctx, r.prefix+"e:"+key, 0, int64(r.MaxEntry)).Bytes()
		if err != nil || len(b) == 0 {
			return err
		}
		// Not an error of Redis: the breaker must not count it.
		oversized = len(b) > r.MaxEntry
		if !oversized {
			entry = b
		}
		return nil
	})
	if err == nil && oversized {
		err = ErrOversized
	}
	return entry, err
}

// Set stores entry under key for ttl (rounded up to a millisecond),
// indexed by meta, in one script call.
func (r *Redis) Set(ctx context.Context, key string, entry []byte, ttl time.Duration, meta Meta) error {
	if err := checkMeta(&meta); err != nil {
		return err
	}
	if strings.IndexByte(key, 0) >= 0 {
		return ErrNULInKey
	}
	if ttl <= 0 {
		_, err := r.Invalidate(ctx, Selector{Key: key})
		return err
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	keys := make([]string, 2, 3+len(meta.Tags))
	keys[0], keys[1] = r.prefix+"e:"+key, r.index
	if meta.RouteID != "" {
		keys = append(keys, r.prefix+"r:"+meta.RouteID)
	}
	for _, t := range meta.Tags {
		keys = append(keys, r.prefix+"t:"+t)
	}
	now := time.Now().UnixMilli()
	return r.do(func() error {
		return setScript.Run(ctx, r.c.Client(), keys, entry, int64(ms), now, meta.Path+"\x00"+key, key).Err()
	})
}

// Invalidate deletes the entries sel picks, a batch at a time.
func (r *Redis) Invalidate(ctx context.Context, sel Selector) (int, error) {
	if err := checkSelector(&sel); err != nil {
		return 0, err
	}
	switch {
	case sel.Key != "":
		var n int64
		err := r.do(func() error {
			var err error
			n, err = r.c.Client().Unlink(ctx, r.prefix+"e:"+sel.Key).Result()
			return err
		})
		return int(n), err
	case sel.All:
		return r.invalidateAll(ctx)
	case sel.Pattern != "":
		return r.invalidateIndex(ctx, r.index, sel.Pattern)
	case sel.RouteID != "":
		return r.invalidateIndex(ctx, r.prefix+"r:"+sel.RouteID, "")
	default:
		return r.invalidateIndex(ctx, r.prefix+"t:"+sel.Tag, "")
	}
}

// invalidateIndex deletes the live entries of the sorted set index and
// their members. With a pattern, index is the path index and only the
// members whose path matches go (Redis's MATCH narrows them; Match
// decides, since a '*' of Redis's may run over the NUL).
func (r *Redis) invalidateIndex(ctx context.Context, index, pattern string) (int, error) {
	client := r.c.Client()
	now := time.Now().UnixMilli()
	if err := r.do(func() error {
		return client.ZRemRangeByScore(ctx, index, "-inf", "("+strconv.FormatInt(now, 10)).Err()
	}); err != nil {
		return 0, err
	}
	match := ""
	if pattern != "" {
		match = redisGlob(pattern) + "\x00*"
	}
	var cursor uint64
	total := 0
	for {
		var pairs []string
		if err := r.do(func() error {
			var err error
			pairs, cursor, err = client.ZScan(ctx, index, cursor, match, batch).Result()
			return err
		}); err != nil {
			return total, err
		}
		var entries []string
		var members []any
		for i := 0; i+1 < len(pairs); i += 2 {
			member := pairs[i]
			key := member
			if pattern != "" {
				cut := strings.LastIndexByte(member, 0)
				if cut < 0 || !Match(pattern, member[:cut]) {
					continue
				}
				key = member[cut+1:]
			}
			entries = append(entries, r.prefix+"e:"+key)
			members = append(members, member)
		}
		n, err := r.unlink(ctx, index, entries, members)
		total += n
		if err != nil || cursor == 0 {
			return total, err
		}
	}
}

// unlink deletes entries and removes members from index, in one round
// trip; it returns how many entries there were.
func (r *Redis) unlink(ctx context.Context, index string, entries []string, members []any) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	var n *redis.IntCmd
	err := r.do(func() error {
		_, err := r.c.Client().TxPipelined(ctx, func(p redis.Pipeliner) error {
			n = p.Unlink(ctx, entries...)
			p.ZRem(ctx, index, members...)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n.Val()), nil
}

// invalidateAll deletes the namespace's keys, a SCAN batch at a time.
// On a cluster only the master of the namespace's slot has any (they
// share its hash tag), so only it is scanned.
func (r *Redis) invalidateAll(ctx context.Context) (int, error) {
	node := r.c.Client()
	if cc, ok := node.(*redis.ClusterClient); ok {
		var err error
		if err = r.do(func() error {
			node, err = cc.MasterForKey(ctx, r.prefix)
			return err
		}); err != nil {
			return 0, err
		}
	}
	match := literalGlob(r.prefix) + "*"
	entryPrefix := r.prefix + "e:"
	var cursor uint64
	total := 0
	for {
		var keys []string
		if err := r.do(func() error {
			var err error
			keys, cursor, err = node.Scan(ctx, cursor, match, batch).Result()
			return err
		}); err != nil {
			return total, err
		}
		var entries, indexes []string
		for _, k := range keys {
			if strings.HasPrefix(k, entryPrefix) {
				entries = append(entries, k)
			} else {
				indexes = append(indexes, k)
			}
		}
		n, err := r.unlinkKeys(ctx, node, entries, indexes)
		total += n
		if err != nil || cursor == 0 {
			return total, err
		}
	}
}

// unlinkKeys deletes entries and indexes on node in one round trip and
// returns how many entries there were.
func (r *Redis) unlinkKeys(ctx context.Context, node redis.Cmdable, entries, indexes []string) (int, error) {
	if len(entries)+len(indexes) == 0 {
		return 0, nil
	}
	var n *redis.IntCmd
	err := r.do(func() error {
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			if len(entries) > 0 {
				n = p.Unlink(ctx, entries...)
			}
			if len(indexes) > 0 {
				p.Unlink(ctx, indexes...)
			}
			return nil
		})
		return err
	})
	if err != nil || n == nil {
		return 0, err
	}
	return int(n.Val()), nil
}
