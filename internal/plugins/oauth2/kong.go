package oauth2

import "github.com/turnpikegw/turnpike/internal/plugin"

// newKong builds Kong's shape: the gateway as the authorization server.
// Being built in issue 17; until then a config of this shape is refused.
func newKong(*Config, plugin.Env) (plugin.Instance, error) {
	return nil, plugin.Errors{{Path: "", Message: "Kong's oauth2 (the gateway as the authorization server) is not built yet (issue 17)"}}
}
