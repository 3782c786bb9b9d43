package ratelimiting

import "github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"

// keyPrefix starts every Redis key of the plugin; the namespace follows,
// in the key.
const keyPrefix = "turnpike:ratelimit:"

// redisOptions are the engine's options for the merged redis record.
func redisOptions(s *settings) engine.RedisOptions {
	return engine.RedisOptions{RedisOptions: s.redisCfg.Options(), KeyPrefix: keyPrefix}
}
