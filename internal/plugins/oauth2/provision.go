package oauth2

import (
	"io"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// provisionKey is the configured provision_key, or one generated for the
// plugin entry. Kong generates one when the plugin is created and keeps
// it in its database; a declarative file has none to keep it in, so a
// node generates a random key per plugin entry and keeps it in its
// shared values for as long as an instance of the entry lives: a reload
// that keeps the entry keeps the key, a restart makes a new one. Nodes
// that share tokens (Redis) and web applications that must know the key
// need it configured. It is never derived from the configuration, which
// is public to whoever reads the file.
func provisionKey(configured string, env plugin.Env) (key string, release func()) {
	if configured != "" {
		return configured, func() {}
	}
	if env.Store == nil || env.Store.Shared == nil {
		return randomToken(24), func() {}
	}
	v, release := env.Store.Shared.Acquire("oauth2-provision-key:"+env.PluginID, func() io.Closer {
		return generatedKey(randomToken(24))
	})
	return string(v.(generatedKey)), release
}

// generatedKey is a generated provision key among the shared values.
type generatedKey string

func (generatedKey) Close() error { return nil }
