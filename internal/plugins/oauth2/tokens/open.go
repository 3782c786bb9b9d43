package tokens

import (
	"errors"
	"io"

	"github.com/turnpikegw/turnpike/internal/plugin"
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
		return nil, nil, errors.New("tokens: Redis is not built yet (issue 17)")
	}
	if env.Store == nil {
		m := NewMemory(0, 0, nil)
		return m, func() { m.Close() }, nil
	}
	v, release := env.Store.Shared.Acquire(sharedMemory, func() io.Closer { return NewMemory(0, 0, nil) })
	return v.(*Memory), release, nil
}
