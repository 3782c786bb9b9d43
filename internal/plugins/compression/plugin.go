package compression

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Priority is below proxy-cache's 100, so the cache stores the identity
// body and every client gets it compressed as it asks, and above the log
// plugins (up to 14), which then see the compressed response's headers.
const Priority = 90

const name = "compression"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// instance compresses responses; it has no access phase.
type instance struct {
	s *settings
	// pools are the coder pools of the codings offered (nil for others).
	pools    [numCodings]*coderPool
	releases []func()
}

// decompressing also decodes request bodies, in its access phase; a
// separate type so that a route without decompress_request runs no
// access phase for this plugin.
type decompressing struct {
	*instance
	dec *decoders
}

// New validates the config and builds the instance.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	s, err := compile(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	in := &instance{s: s}
	for _, k := range s.prefs {
		p, release := acquirePool(env.Store, k, s.levels[k])
		in.pools[k] = p
		in.releases = append(in.releases, release)
	}
	if s.decompress {
		return &decompressing{instance: in, dec: newDecoders()}, nil
	}
	return in, nil
}

// Close gives back the shared coder pools.
func (in *instance) Close() {
	for _, release := range in.releases {
		release()
	}
}
