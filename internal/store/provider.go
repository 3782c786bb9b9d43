package store

// Provider is the shared state a gateway offers its plugins
// (plugin.Env.Store): what outlives one plugin instance. An instance's
// own in-process state is its own Memory.
type Provider struct {
	// Redis hands out Redis clients by connection settings.
	Redis *Redis
	// Shared hands out other values by key (log plugins' queues).
	Shared *Shared
}

// NewProvider makes a provider with nothing in use.
func NewProvider() *Provider { return &Provider{Redis: NewRedis(), Shared: NewShared()} }
