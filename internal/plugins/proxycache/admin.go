package proxycache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
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
	each(a, func(in *Cache) {
		if !seen[in.storeID()] {
			seen[in.storeID()] = true
			out = append(out, in)
		}
	})
	return out
}

// publishers are the memory instances that carry invalidations to other
// nodes, one per distinct purge bus and dictionary: instances sharing a
// dictionary may name different Redis servers, or only some name one.
func publishers(a plugin.Admin) []*Cache {
	var out []*Cache
	seen := map[string]bool{}
	each(a, func(in *Cache) {
		if in.bus != nil && !seen[in.busID()] {
			seen[in.busID()] = true
			out = append(out, in)
		}
	})
	return out
}

func each(a plugin.Admin, fn func(*Cache)) {
	for _, name := range []string{Name, ResponseCacheName} {
		for _, p := range a.Plugins(name) {
			if in, ok := p.Instance.(*Cache); ok && p.Enabled {
				fn(in)
			}
		}
	}
}

func serveFlush(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	if _, err := invalidateAll(r.Context(), a, cachestore.Selector{All: true}); err != nil {
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
	sel := cachestore.Selector{Key: key}
	if _, err := in.drop(r.Context(), sel); err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return true
	}
	if in.s.strategy == strategyMemory {
		publish(r.Context(), a, sel, in.s.dictionary)
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

// parseInvalidation reads a body into its selector.
func parseInvalidation(body []byte) (cachestore.Selector, error) {
	var inv invalidation
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return cachestore.Selector{}, errors.New("invalid JSON body: " + err.Error())
	}
	if dec.More() {
		return cachestore.Selector{}, errors.New("invalid JSON body: more than one value")
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
	// cachestore checks the same rule but does not export it, and a
	// field given empty (or all: false) is a mistake here, not unset.
	if n != 1 {
		return cachestore.Selector{}, errInvalidation
	}
	if len(sel.Pattern) > cachestore.MaxPatternLen {
		return cachestore.Selector{}, errors.New("pattern longer than " + strconv.Itoa(cachestore.MaxPatternLen) + " bytes")
	}
	// No cached path, tag, key or route id holds a NUL (paths keep %00
	// encoded, header values cannot carry one): such a selector is a
	// mistake, not a request to invalidate nothing.
	if strings.ContainsRune(sel.Pattern+sel.Key+sel.RouteID+sel.Tag, 0) {
		return cachestore.Selector{}, errors.New("a selector must not contain a NUL byte")
	}
	return sel, nil
}

func serveInvalidate(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	sel, err := parseInvalidation(body.Bytes())
	if err != nil {
		a.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	// Entries are indexed by route id; a name is resolved in the
	// configuration in force. A ref no route has is taken as an id (of
	// a route since removed, whose entries may still be stored).
	if sel.RouteID != "" {
		if id, ok := a.Route(sel.RouteID); ok {
			sel.RouteID = id
		}
	}
	n, err := invalidateAll(r.Context(), a, sel)
	if err != nil {
		a.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.Reply(w, http.StatusOK, map[string]int{"invalidated": n})
}

// invalidateAll applies sel to every store, then publishes it through
// every purge bus. A failing store does not stop the others, nor the
// other nodes' purge: the error joins every store's failure, and how
// many entries did go is logged, as the answer reports only the error.
func invalidateAll(ctx context.Context, a plugin.Admin, sel cachestore.Selector) (int, error) {
	n := 0
	var errs []error
	var failed *Cache
	for _, in := range caches(a) {
		m, err := in.drop(ctx, sel)
		if err != nil {
			errs, failed = append(errs, err), in
		}
		n += m
	}
	publish(ctx, a, sel, "")
	if len(errs) > 0 {
		failed.logger.Warn("response cache invalidation failed on some stores",
			"invalidated", n, "failed_stores", len(errs), "error", errors.Join(errs...))
	}
	return n, errors.Join(errs...)
}

// publish sends sel on every purge bus, for the dictionary dict ("":
// each bus's own).
func publish(ctx context.Context, a plugin.Admin, sel cachestore.Selector, dict string) {
	for _, in := range publishers(a) {
		if dict == "" || in.s.dictionary == dict {
			in.publish(ctx, sel)
		}
	}
}
