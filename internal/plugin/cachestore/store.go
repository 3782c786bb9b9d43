// Package cachestore keeps the response cache's entries: in this
// process's memory (a dictionary with a byte budget, shared by the cache
// plugins that name it) or in Redis (shared by every node), with the
// indexes invalidation by path pattern, route and tag needs, and a purge
// bus over Redis pub/sub that carries invalidations to other nodes'
// memory caches.
package cachestore

import (
	"context"
	"time"
)

// Meta is what an entry is indexed by, for invalidation.
type Meta struct {
	// Path is the client's request path, without the query.
	Path    string
	RouteID string
	// Tags are the response's Surrogate-Key / Cache-Tag values.
	Tags []string
}

// Selector picks the entries to invalidate; exactly one field is set.
type Selector struct {
	Key string
	// Pattern is a glob over Meta.Path: '*' matches any run of bytes,
	// slashes included, '?' one byte, '\' escapes the next byte.
	Pattern string
	RouteID string
	Tag     string
	All     bool
}

// Store keeps entries: opaque bytes (the plugin's encoding) under a key.
type Store interface {
	// Get returns the entry under key, nil when there is none. The
	// returned bytes must not be modified, and may be kept by the caller.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores entry under key for ttl (the storage time: past it
	// the entry is gone), indexed by meta. The store keeps entry; the
	// caller must not modify it afterwards.
	Set(ctx context.Context, key string, entry []byte, ttl time.Duration, meta Meta) error
	// Invalidate deletes the entries sel picks and returns how many went.
	Invalidate(ctx context.Context, sel Selector) (int, error)
}
