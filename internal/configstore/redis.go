package configstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/store"
)

// DefaultPoll is how often Watch reads the stored version besides
// listening for the change messages, so that a message lost (Redis
// restarted, the subscription broken) delays a change by at most this.
const DefaultPoll = 2 * time.Second

// DefaultPrefix names the keys: every key is under the hash tag
// {turnpike}, so a Redis Cluster keeps them on one slot and the scripts
// can touch them together.
const DefaultPrefix = "turnpike"

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Conn is the connection (ParseRedisURL makes it from a URL).
	Conn store.RedisOptions
	// Prefix is the hash tag of the keys (empty: DefaultPrefix); clusters
	// sharing one Redis use one prefix each.
	Prefix string
	// MaxSize bounds the stored document in bytes, read and written
	// (the loader's --config-max-size); 0: no bound.
	MaxSize int64
	// Poll is Watch's version poll (0: DefaultPoll).
	Poll time.Duration
}

// Redis keeps the config as a versioned document in Redis: the keys
// data, version, hash, who and when, changed together by one script that
// also publishes the new version on the channel changes.
type Redis struct {
	conn    *store.RedisClient
	c       redis.UniversalClient
	keys    redisKeys
	maxSize int64
	poll    time.Duration
}

type redisKeys struct {
	version, data, hash, who, when, nodes, changes string
	nodePrefix                                     string
}

func newKeys(prefix string) redisKeys {
	tag := "{" + prefix + "}:"
	return redisKeys{
		version: tag + "config:version", data: tag + "config:data", hash: tag + "config:hash",
		who: tag + "config:who", when: tag + "config:when",
		nodes: tag + "nodes", nodePrefix: tag + "node:", changes: tag + "config:changes",
	}
}

// putScript is the compare-and-set: the new version is stored, and
// announced, only if the version is still the one the change was made
// from; it answers the new version, or 0 on a conflict. Versions stay
// strings in the script (Lua numbers are doubles, exact only to 2^53):
// compared as strings, incremented by INCR and read back with GET.
var putScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or '0'
if cur ~= ARGV[1] then return 0 end
redis.call('INCR', KEYS[1])
local v = redis.call('GET', KEYS[1])
redis.call('MSET', KEYS[2], ARGV[2], KEYS[3], ARGV[3], KEYS[4], ARGV[4], KEYS[5], ARGV[5])
redis.call('PUBLISH', ARGV[6], v)
return v
`)

// loadScript reads version, document and writer together, and only the
// document's length when it is over the bound, so a document stored by a
// node with a larger bound (or by hand) is never read into memory; of the
// version, at most maxField+1 bytes (storedField refuses more), and of the
// writer's name, at most maxWho bytes.
var loadScript = redis.NewScript(`
local v = redis.call('GETRANGE', KEYS[1], 0, ARGV[3])
if v == '' and redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local n = redis.call('STRLEN', KEYS[2])
local max = tonumber(ARGV[1])
if max > 0 and n > max then return {v, n} end
return {v, n, redis.call('GET', KEYS[2]), redis.call('GETRANGE', KEYS[3], 0, ARGV[2] - 1)}
`)

// maxWho bounds the writer's name: Put and Restore store at most this
// many bytes of it, and Load and Meta read at most this many, since the
// store may hold anything (a name written by hand or by an older node).
const maxWho = 256

// maxField bounds the version, hash and time as read, for the same
// reason: what Turnpike writes is far shorter (20 digits, 32 hex digits,
// an RFC 3339 time), so the scripts read one byte more than this and a
// longer value is known not to be Turnpike's.
const maxField = 64

// metaScript reads the version, hash, writer (at most maxWho bytes) and
// time together, as Meta shows them.
var metaScript = redis.NewScript(`
return {redis.call('GETRANGE', KEYS[1], 0, ARGV[2]), redis.call('GETRANGE', KEYS[2], 0, ARGV[2]),
	redis.call('GETRANGE', KEYS[3], 0, ARGV[1] - 1), redis.call('GETRANGE', KEYS[4], 0, ARGV[2])}
`)

// storedField is a version, hash or time as a script read it (a missing
// key reads as ""), or an error when it is longer than maxField: a value
// written by hand or by something else sharing the prefix.
func storedField(name string, v any) (string, error) {
	s, _ := v.(string)
	if len(s) > maxField {
		return "", fmt.Errorf("config store: the stored %s is longer than %d bytes, so not one a Turnpike node wrote", name, maxField)
	}
	return s, nil
}

// storedWho cuts a writer's name (a credential's name, of any length) once
// when written, the mark included within maxWho, so reading it back never
// cuts it again.
func storedWho(who string) string {
	return config.Shorten(who, maxWho-len("…"))
}

// restoreScript puts a node's version back into a store that lost it (a
// Redis restarted empty, or failed over to a replica behind): only when
// the stored version is older, so the versions never go back and, of
// several nodes restoring, the newest version wins. The versions are
// compared as decimal strings, longer first (see putScript).
var restoreScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or '0'
if #cur > #ARGV[1] or #cur == #ARGV[1] and cur >= ARGV[1] then return 0 end
redis.call('MSET', KEYS[1], ARGV[1], KEYS[2], ARGV[2], KEYS[3], ARGV[3], KEYS[4], ARGV[4], KEYS[5], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[1])
return 1
`)

// ErrUnavailable wraps the errors of a store that cannot be reached: the
// change was not stored (the admin API answers 503).
var ErrUnavailable = errors.New("the configuration store is unavailable")

// NewRedis makes a store; it does not dial until used.
func NewRedis(opts RedisOptions) (*Redis, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Conn.PoolSize <= 0 {
		// Load, Put and the heartbeat may overlap; the subscription has a
		// connection of its own.
		opts.Conn.PoolSize = 4
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	conn, err := store.NewRedisClient(opts.Conn)
	if err != nil {
		return nil, err
	}
	return &Redis{conn: conn, c: conn.Client(), keys: newKeys(opts.Prefix), maxSize: opts.MaxSize, poll: opts.Poll}, nil
}

// Load reads the current version; Version 0 when nothing is stored.
func (r *Redis) Load(ctx context.Context) (Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	res, err := loadScript.Run(ctx, r.c, []string{r.keys.version, r.keys.data, r.keys.who}, r.maxSize, maxWho, maxField).Slice()
	if err != nil {
		return Doc{}, unavailable(err)
	}
	v, err := parseVersion(res[0])
	if err != nil || v == 0 {
		return Doc{}, err
	}
	if len(res) < 3 {
		return Doc{}, fmt.Errorf("config store: version %d is %v bytes, larger than the limit of %d bytes (--config-max-size)", v, res[1], r.maxSize)
	}
	data, _ := res[2].(string)
	who, _ := res[3].(string)
	return Doc{Data: []byte(data), Version: v, Who: strings.ToValidUTF8(who, "")}, nil
}

// Put stores data as the version after prev, announcing it to every
// node, or answers ErrConflict when prev is no longer the current one.
func (r *Redis) Put(ctx context.Context, data []byte, prev uint64, who string) (uint64, error) {
	if r.maxSize > 0 && int64(len(data)) > r.maxSize {
		return 0, fmt.Errorf("config store: the configuration is larger than the limit of %d bytes (--config-max-size)", r.maxSize)
	}
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	k := r.keys
	res, err := putScript.Run(ctx, r.c, []string{k.version, k.data, k.hash, k.who, k.when},
		prev, data, config.SourceHash(data), storedWho(who), time.Now().UTC().Format(time.RFC3339Nano), k.changes).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	if n, ok := res.(int64); ok && n == 0 {
		return 0, ErrConflict
	}
	return parseVersion(res)
}

// Restore stores data as version v if the stored version is older (none
// included), and announces it; it reports whether it did.
func (r *Redis) Restore(ctx context.Context, data []byte, v uint64, who string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	k := r.keys
	n, err := restoreScript.Run(ctx, r.c, []string{k.version, k.data, k.hash, k.who, k.when},
		v, data, config.SourceHash(data), storedWho(who), time.Now().UTC().Format(time.RFC3339Nano), k.changes).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Version reads the stored version alone (0: none).
func (r *Redis) Version(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	// A missing key reads as "", as does an empty value: both are no
	// version to follow.
	s, err := r.c.GetRange(ctx, r.keys.version, 0, maxField).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	if s == "" {
		return 0, nil
	}
	return parseVersion(s)
}

// unavailable wraps a Redis error: ErrUnavailable when Redis could not
// serve, as is otherwise (a script error).
func unavailable(err error) error {
	if store.Unreachable(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return fmt.Errorf("config store: %w", err)
}

// Meta describes the stored version without its document: GET
// /clustering/status shows it, so an operator sees who changed the
// cluster's configuration last, and when.
type Meta struct {
	Version uint64    `json:"version"`
	Hash    string    `json:"configuration_hash,omitempty"`
	Who     string    `json:"changed_by,omitempty"`
	When    time.Time `json:"changed_at,omitzero"`
}

// Meta reads the stored version, its hash, who stored it, and when.
func (r *Redis) Meta(ctx context.Context) (Meta, error) {
	ctx, cancel := context.WithTimeout(ctx, r.conn.Timeout())
	defer cancel()
	k := r.keys
	vals, err := metaScript.Run(ctx, r.c, []string{k.version, k.hash, k.who, k.when}, maxWho, maxField).Slice()
	if err != nil {
		return Meta{}, unavailable(err)
	}
	if vals[0] == "" {
		return Meta{}, nil
	}
	v, err := parseVersion(vals[0])
	if err != nil {
		return Meta{}, err
	}
	m := Meta{Version: v}
	if m.Hash, err = storedField("hash", vals[1]); err != nil {
		return Meta{}, err
	}
	who, _ := vals[2].(string)
	m.Who = strings.ToValidUTF8(who, "")
	when, err := storedField("time", vals[3])
	if err != nil {
		return Meta{}, err
	}
	if when != "" {
		m.When, _ = time.Parse(time.RFC3339Nano, when)
	}
	return m, nil
}

// Watch calls fn with the current version, then with every later one, in
// order, until ctx ends (its error then). A change message wakes it at
// once; besides, it reads the version every Poll, so a lost message or a
// broken subscription only delays a change. A version fn cannot be given
// (Redis down, over the size bound) is retried at the next wake-up; fn
// runs on Watch's goroutine, and versions stored meanwhile are skipped
// to the latest.
func (r *Redis) Watch(ctx context.Context, fn func(Doc)) error {
	ps := r.c.Subscribe(ctx, r.keys.changes)
	// A receive does not watch ctx, only its own timeout: closing the
	// subscription is what ends one in progress.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	defer ps.Close()
	var last uint64
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if v, err := r.Version(ctx); err == nil && v > last {
			if doc, err := r.Load(ctx); err == nil && doc.Version > last {
				last = doc.Version
				fn(doc)
			}
		}
		if err := r.wait(ctx, ps, last); err != nil && ctx.Err() == nil {
			// The subscription is broken (Redis down): go-redis dials it
			// again on the next receive; pace the attempts.
			select {
			case <-ctx.Done():
			case <-time.After(min(r.poll, time.Second)):
			}
		}
	}
}

// wait returns when a message announces a version after last, or when
// the poll interval has passed.
func (r *Redis) wait(ctx context.Context, ps *redis.PubSub, last uint64) error {
	deadline := time.Now().Add(r.poll)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		msg, err := ps.ReceiveTimeout(ctx, left)
		if err != nil {
			if isTimeout(err) {
				return nil
			}
			return err
		}
		if m, ok := msg.(*redis.Message); ok {
			if v, err := strconv.ParseUint(m.Payload, 10, 64); err == nil && v > last {
				return nil
			}
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Close closes the connections; a Watch in progress ends.
func (r *Redis) Close() error {
	r.conn.Close()
	return nil
}

func parseVersion(v any) (uint64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return uint64(max(v, 0)), nil
	case string:
		if _, err := storedField("version", v); err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("config store: the stored version %q is not a number", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("config store: unexpected version %T", v)
}
