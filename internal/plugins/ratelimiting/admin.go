package ratelimiting

import (
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// adminRoutes are the plugin's admin API routes.
func adminRoutes() []plugin.AdminRoute {
	return []plugin.AdminRoute{{Method: http.MethodGet, Path: "/rate-limits/{plugin}/{key}", Serve: serveUsage}}
}

// serveUsage is `GET /rate-limits/{plugin}/{key}`: the current usage of
// one identifier (a consumer id or username, a credential id, an IP, a
// header value...) under one rate-limiting plugin, named by its id or
// instance_name, or by `rate-limiting` when only one is configured. It
// reads the counters without counting.
func serveUsage(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	ref, key := r.PathValue("plugin"), r.PathValue("key")
	p, status, msg := findLimiter(a, ref)
	if status != 0 {
		a.Error(w, status, msg)
		return
	}
	if !p.Enabled {
		a.Error(w, http.StatusNotFound, "plugin '"+ref+"' is disabled")
		return
	}
	if p.Instance == nil {
		a.Error(w, http.StatusInternalServerError, "plugin '"+ref+"' has no running instance")
		return
	}
	in, ok := p.Instance.(*Instance)
	if !ok {
		a.Error(w, http.StatusBadRequest, "plugin '"+ref+"' is not a rate-limiting plugin")
		return
	}
	u, err := in.RateLimitUsage(r.Context(), key, a.Directory())
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, engine.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		a.Error(w, status, "could not read the counters: "+err.Error())
		return
	}
	var instanceName any // null when unnamed, as Kong renders it
	if p.InstanceName != "" {
		instanceName = p.InstanceName
	}
	a.Reply(w, http.StatusOK, map[string]any{
		"plugin":      map[string]any{"id": p.ID, "name": p.Name, "instance_name": instanceName},
		"key":         u.Key,
		"limit_by":    u.LimitBy,
		"window_type": u.WindowType,
		"windows":     u.Windows,
	})
}

// findLimiter finds the plugin entity by id or instance_name, or the
// only enabled rate-limiting plugin when ref is the plugin's name; else
// the status and message to answer.
func findLimiter(a plugin.Admin, ref string) (plugin.AdminPlugin, int, string) {
	if p, ok := a.Plugin(ref); ok {
		return p, 0, ""
	}
	if ref != Name {
		return plugin.AdminPlugin{}, http.StatusNotFound, "Not found"
	}
	var found *plugin.AdminPlugin
	for _, p := range a.Plugins(Name) {
		if !p.Enabled {
			continue
		}
		if found != nil {
			return plugin.AdminPlugin{}, http.StatusBadRequest, "several rate-limiting plugins are configured: name one by its id or instance_name"
		}
		found = &p
	}
	if found == nil {
		return plugin.AdminPlugin{}, http.StatusNotFound, "no rate-limiting plugin is configured"
	}
	return *found, 0, ""
}
