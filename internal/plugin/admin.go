package plugin

import "net/http"

// AdminRoute is a route a plugin adds to the admin API (the rate-limiting
// plugin's counter inspection, a cache's purge). The admin API mounts the
// routes of every registered plugin, behind its own authorization, and
// answers other methods 405 and requests before a configuration is loaded
// 404. The request body a route sees holds at most 64 KiB, read before
// Serve (a longer one is answered 413). A plugin route gets only requests
// no core route serves; the admin API refuses to start when a core route
// serves its path or another plugin's route claims the same requests.
type AdminRoute struct {
	// Method and Path are the route's; Path is a net/http ServeMux path,
	// with wildcards ("/rate-limits/{plugin}/{key}") but without a method
	// or host, and one route's alone.
	Method, Path string
	Serve        func(a Admin, w http.ResponseWriter, r *http.Request)
}

// Admin is what the admin API lends a plugin's route for one request:
// the configuration in force, and the admin API's way of answering.
type Admin interface {
	// Plugin finds a plugin entity by id or instance_name.
	Plugin(ref string) (AdminPlugin, bool)
	// Plugins lists the plugin entities of one plugin, in configuration
	// order.
	Plugins(name string) []AdminPlugin
	// Directory is the configuration's consumers and credentials.
	Directory() Directory
	// Route finds a route of the configuration by id or name and
	// returns its id.
	Route(ref string) (id string, ok bool)
	// Reply answers v as JSON; Error answers {"message": msg}.
	Reply(w http.ResponseWriter, status int, v any)
	Error(w http.ResponseWriter, status int, msg string)
}

// AdminPlugin is a plugin entity of the configuration in force.
type AdminPlugin struct {
	ID, Name, InstanceName string
	Enabled                bool
	// Instance is the entity's running instance (nil: none, as for a
	// disabled entity).
	Instance Instance
}
