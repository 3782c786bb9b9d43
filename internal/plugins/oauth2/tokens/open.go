package tokens

import (
	"io"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/store"
)

// sharedMemory keys the process's memory store among env.Store's shared
// values.
const sharedMemory = "oauth2:tokens:memory"

// Open returns the store an oauth2 instance keeps its tokens in, and the
// function that gives it back when the instance closes. Without Redis
// settings it is the process's memory store, one for every instance (of
// this configuration and the next after a reload), so a token one route
// issued is found by another with global_credentials and a reload does
// not log every client out. With them it is the Redis store of those
// settings, shared by every instance naming the same server.
func Open(env plugin.Env, redis *plugin.RedisConfig) (Store, func(), error) {
	if redis != nil && redis.Configured() {
		return openRedis(env, redis.Options())
	}
	if env.Store == nil {
		m := NewMemory(0, 0, 0, nil)
		return m, func() { m.Close() }, nil
	}
	v, release := env.Store.Shared.Acquire(sharedMemory, func() io.Closer { return NewMemory(0, 0, 0, nil) })
	return v.(*Memory), release, nil
}

type redisKey struct{}

// openRedis returns the Redis store of the client for opts: one per
// client, so the instances naming one server share its cache and its
// subscription, closed with the client.
func openRedis(env plugin.Env, opts store.RedisOptions) (Store, func(), error) {
	var c *store.RedisClient
	var release func()
	if env.Store != nil {
		var err error
		if c, release, err = env.Store.Redis.Acquire(opts); err != nil {
			return nil, nil, err
		}
	} else {
		var err error
		if c, err = store.NewRedisClient(opts); err != nil {
			return nil, nil, err
		}
		release = c.Close
	}
	s := c.Extension(redisKey{}, func(c *store.RedisClient) store.Extension { return NewRedis(c) }).(*Redis)
	return s, release, nil
}
