// Package configstore is where the config in force lives when it can be
// changed through the admin API (issue 19): the -c file rewritten in
// place (--config-store file) or a versioned document in Redis shared by
// every node of a cluster (--config-store redis://...). Without a store,
// the admin API's writes answer 405 as Kong's DB-less mode does, and
// POST /config applies to the one node only.
//
// Every change goes one way: the new document is validated and compiled
// (reload.Loader.Check), stored with a compare-and-set on the version it
// was made from, then applied on this node; the other nodes learn of it
// through Watch and apply it through the same reload path.
package configstore

import (
	"context"
	"errors"
)

// Doc is one version of the config.
type Doc struct {
	// Data is the declarative document (Kong 3.0, YAML or JSON).
	Data []byte
	// Version increases with every Put; 0 is "nothing stored yet".
	Version uint64
	// Who is the writer Put named, when the store keeps it (Redis: at
	// most maxWho bytes of it).
	Who string
}

// ErrConflict is Put's answer when the stored version is no longer the
// one the change was made from: another writer won; read again and retry.
var ErrConflict = errors.New("the configuration was changed by another writer since it was read")

// Store keeps the config.
type Store interface {
	// Load reads the current version.
	Load(ctx context.Context) (Doc, error)
	// Put stores data as the version after prev, if prev is still the
	// current version (ErrConflict otherwise), and returns the new
	// version. who names the writer (the admin token's name) for the
	// store's record of changes.
	Put(ctx context.Context, data []byte, prev uint64, who string) (uint64, error)
	// Watch calls fn with every version stored after the one in force,
	// by any writer, until ctx ends. A version may be skipped (only the
	// latest matters) but never delivered out of order.
	Watch(ctx context.Context, fn func(Doc)) error
	// Close releases the store's connections.
	Close() error
}
