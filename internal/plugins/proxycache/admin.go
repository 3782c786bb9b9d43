package proxycache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/cachestore"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/httpcache"
)

// adminRoutes are Kong's /proxy-cache endpoints and the guide's
// POST /cache/invalidate, over the instances of both plugin names.
func adminRoutes() []plugin.AdminRoute {
	return []plugin.AdminRoute{
		{Method: http.MethodDelete, Path: "/proxy-cache", Serve: serveFlush},
		{Method: http.MethodGet, Path: "/proxy-cache/{key}", Serve: serveGetAny},
		{Method: http.MethodDelete, Path: "/proxy-cache/{key}", Serve: serveDeleteAny},
		{Method: http.MethodGet, Path: "/proxy-cache/{plugin}/caches/{key}", Serve: serveGetOne},
		{Method: http.MethodDelete, Path: "/proxy-cache/{plugin}/caches/{key}", Serve: serveDeleteOne},
		{Method: http.MethodPost, Path: "/cache/invalidate", Serve: serveInvalidate},
	}
}

const msgNotFound = "Not found"

// caches are the running cache instances, each store once (instances
// naming one dictionary share it).
func caches(a plugin.Admin) []*Cache {
	var out []*Cache
	seen := map[string]bool{}
	for _, name := range []string{Name, ResponseCacheName} {
		for _, p := range a.Plugins(name) {
			in, ok := p.Instance.(*Cache)
			if !ok || !p.Enabled || seen[in.storeID()] {
				continue
			}
			seen[in.storeID()] = true
			out = append(out, in)
		}
	}
	return out
}

func serveFlush(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	if _, err := invalidateAll(r.Context(), caches(a), cachestore.Selector{All: true}); err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func serveGetAny(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	for _, in := range caches(a) {
		if in.serveEntry(a, w, r, key, false) {
			return
		}
	}
	a.Error(w, http.StatusNotFound, msgNotFound)
}

func serveDeleteAny(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	for _, in := range caches(a) {
		if in.serveEntry(a, w, r, key, true) {
			return
		}
	}
	a.Error(w, http.StatusNotFound, msgNotFound)
}

func serveGetOne(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	if in := onePlugin(a, r); in == nil || !in.serveEntry(a, w, r, r.PathValue("key"), false) {
		a.Error(w, http.StatusNotFound, msgNotFound)
	}
}

func serveDeleteOne(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	if in := onePlugin(a, r); in == nil || !in.serveEntry(a, w, r, r.PathValue("key"), true) {
		a.Error(w, http.StatusNotFound, msgNotFound)
	}
}

func onePlugin(a plugin.Admin, r *http.Request) *Cache {
	p, ok := a.Plugin(r.PathValue("plugin"))
	if !ok || !p.Enabled {
		return nil
	}
	in, _ := p.Instance.(*Cache)
	return in
}

// serveEntry answers for key when the instance's store has it (Kong's
// entry as JSON, or 204 after deleting it) and reports whether it did.
func (in *Cache) serveEntry(a plugin.Admin, w http.ResponseWriter, r *http.Request, key string, del bool) bool {
	b, err := in.store.Get(r.Context(), key)
	if err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return true
	}
	var e httpcache.Entry
	if !decodeEntry(b, &e) {
		return false
	}
	if !del {
		a.Reply(w, http.StatusOK, renderEntry(&e))
		return true
	}
	if _, err := in.invalidate(r.Context(), cachestore.Selector{Key: key}); err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return true
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// renderEntry is Kong's stored object: status, headers, body, body_len,
// timestamp, ttl and version, with Turnpike's stale windows.
func renderEntry(e *httpcache.Entry) map[string]any {
	headers := map[string]any{}
	e.EachHeader(func(name, value string) {
		switch prev := headers[name].(type) {
		case nil:
			headers[name] = value
		case string:
			headers[name] = []string{prev, value}
		case []string:
			headers[name] = append(prev, value)
		}
	})
	return map[string]any{
		"status": e.Status, "headers": headers, "body": string(e.Body), "body_len": len(e.Body),
		"timestamp": e.StoredMs / 1000, "ttl": e.Fresh, "version": 1,
		"stale_while_revalidate": e.SWR, "stale_if_error": e.SIE,
	}
}

// invalidation is POST /cache/invalidate's body: exactly one field.
type invalidation struct {
	Pattern *string `json:"pattern"`
	Key     *string `json:"key"`
	Route   *string `json:"route"`
	Tag     *string `json:"tag"`
	All     *bool   `json:"all"`
}

var errInvalidation = errors.New(`expected exactly one of {"pattern": ...}, {"key": ...}, {"route": ...}, {"tag": ...}, {"all": true}`)

// parseInvalidation reads a body into selectors: one, or for a route
// given by name, its id's as well.
func parseInvalidation(body []byte, routes *routeNames) ([]cachestore.Selector, error) {
	var inv invalidation
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return nil, errors.New("invalid JSON body: " + err.Error())
	}
	if dec.More() {
		return nil, errors.New("invalid JSON body: more than one value")
	}
	n := 0
	var sel cachestore.Selector
	str := func(p *string, set func(string)) {
		if p != nil {
			n++
			set(*p)
			if *p == "" {
				n = 99
			}
		}
	}
	str(inv.Pattern, func(s string) { sel.Pattern = s })
	str(inv.Key, func(s string) { sel.Key = s })
	str(inv.Route, func(s string) { sel.RouteID = s })
	str(inv.Tag, func(s string) { sel.Tag = s })
	if inv.All != nil {
		n++
		if !*inv.All {
			n = 99
		}
		sel.All = true
	}
	if n != 1 {
		return nil, errInvalidation
	}
	if len(sel.Pattern) > cachestore.MaxPatternLen {
		return nil, errors.New("pattern longer than 1024 bytes")
	}
	sels := []cachestore.Selector{sel}
	if sel.RouteID != "" {
		if id, ok := routes.id(sel.RouteID); ok && id != sel.RouteID {
			sels = append(sels, cachestore.Selector{RouteID: id})
		}
	}
	return sels, nil
}

func serveInvalidate(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	cs := caches(a)
	var routes *routeNames
	if len(cs) > 0 {
		routes = cs[0].routes
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	sels, err := parseInvalidation(body.Bytes(), routes)
	if err != nil {
		a.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	n := 0
	for _, sel := range sels {
		m, err := invalidateAll(r.Context(), cs, sel)
		if err != nil {
			a.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		n += m
	}
	a.Reply(w, http.StatusOK, map[string]int{"invalidated": n})
}

func invalidateAll(ctx context.Context, cs []*Cache, sel cachestore.Selector) (int, error) {
	n := 0
	for _, in := range cs {
		m, err := in.invalidate(ctx, sel)
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
