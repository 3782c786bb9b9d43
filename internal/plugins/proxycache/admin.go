package proxycache

import "github.com/turnpikegw/turnpike/internal/plugin"

func adminRoutes() []plugin.AdminRoute { return nil }
