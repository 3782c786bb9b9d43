package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// rateLimiter is implemented by rate-limiting plugin instances.
type rateLimiter interface {
	RateLimitUsage(ctx context.Context, key string, dir plugin.Directory) (ratelimiting.Usage, error)
}

// rateLimits is `GET /rate-limits/{plugin}/{key}`: the current usage of
// one identifier (a consumer id or username, a credential id, an IP, a
// header value...) under one rate-limiting plugin, named by its id or
// instance_name, or by `rate-limiting` when only one is configured. It
// reads the counters without counting.
func (a *api) rateLimits(w http.ResponseWriter, r *http.Request) {
	ref, key := r.PathValue("plugin"), r.PathValue("key")
	ix := a.entities()
	if ix == nil {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	e, status, msg := findRateLimiter(ix, ref)
	if e == nil {
		writeJSON(w, status, message(msg))
		return
	}
	if e.body["enabled"] != true {
		writeJSON(w, http.StatusNotFound, message("plugin '"+ref+"' is disabled"))
		return
	}
	inst, ok := instanceOf(ix.snap, e)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, message("plugin '"+ref+"' has no running instance"))
		return
	}
	rl, ok := inst.(rateLimiter)
	if !ok {
		writeJSON(w, http.StatusBadRequest, message("plugin '"+ref+"' is not a rate-limiting plugin"))
		return
	}
	u, err := rl.RateLimitUsage(r.Context(), key, ix.snap.Directory)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, engine.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, message("could not read the counters: "+err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"plugin":      map[string]any{"id": e.id, "name": e.body["name"], "instance_name": e.body["instance_name"]},
		"key":         u.Key,
		"limit_by":    u.LimitBy,
		"window_type": u.WindowType,
		"windows":     u.Windows,
	})
}

// findRateLimiter finds the plugin entity by id or instance_name, or the
// only rate-limiting plugin when ref is the plugin's name.
func findRateLimiter(ix *index, ref string) (*entity, int, string) {
	if e := ix.find("plugins", ref); e != nil {
		return e, 0, ""
	}
	if ref != ratelimiting.Name {
		return nil, http.StatusNotFound, "Not found"
	}
	var found *entity
	for _, e := range ix.byKind["plugins"] {
		if e.body["name"] != ratelimiting.Name || e.body["enabled"] != true {
			continue
		}
		if found != nil {
			return nil, http.StatusBadRequest, "several rate-limiting plugins are configured: name one by its id or instance_name"
		}
		found = e
	}
	if found == nil {
		return nil, http.StatusNotFound, "no rate-limiting plugin is configured"
	}
	return found, 0, ""
}

// instanceOf is the instance compiled for a plugin entity.
func instanceOf(snap *snapshot.Snapshot, e *entity) (plugin.Instance, bool) {
	for _, pe := range snap.Model.Plugins {
		if config.PluginID(pe) == e.id {
			return snap.InstanceOf(pe)
		}
	}
	return nil, false
}
