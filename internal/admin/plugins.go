package admin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// pluginRoutes builds the mux of the admin routes the registered plugins
// contribute; the core mux hands it what no core route serves. A route is
// refused here, at start-up, when its path would be dead or taken from
// another plugin: a path that is not a plain path (a method or host
// prefix), that a core route serves, or that overlaps another plugin's.
// Paths are compared as written, wildcards taken literally; ServeMux
// itself refuses patterns that conflict in other ways.
func (a *api) pluginRoutes(core *routeMux) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, message("Not found"))
	})
	reg := a.src.Registry
	if reg == nil {
		return mux, nil
	}
	type claim struct{ plugin, path string }
	var claimed []claim
	// A plugin may serve several methods on one path (GET and DELETE
	// /proxy-cache/{key}): one handler per path picks the route.
	paths := map[string]*[]plugin.AdminRoute{}
	for _, name := range reg.Names() {
		r, _ := reg.Lookup(name)
		for _, route := range r.Admin {
			fail := func(format string, args ...any) error {
				return fmt.Errorf("plugin %q: admin route %s %s: %s", name, route.Method, route.Path, fmt.Sprintf(format, args...))
			}
			if !strings.HasPrefix(route.Path, "/") {
				return nil, fail("the path must start with / (the method is the route's Method; no host)")
			}
			if _, p := core.Handler(literal(route.Method, route.Path)); p != "/" {
				return nil, fail("the core admin route %s serves this path", p)
			}
			for _, c := range claimed {
				if c.plugin != name && (claims(c.path, route.Path) || claims(route.Path, c.path)) {
					return nil, fail("plugin %q's route %s claims the same requests", c.plugin, c.path)
				}
			}
			if same := paths[route.Path]; same != nil {
				for _, r := range *same {
					if r.Method == route.Method {
						return nil, fail("the plugin serves this method and path twice")
					}
				}
				*same = append(*same, route)
				core.patterns = append(core.patterns, route.Method+" "+route.Path)
				continue
			}
			same := &[]plugin.AdminRoute{route}
			if err := handle(mux, route.Path, a.pluginRoute(same)); err != nil {
				return nil, fail("%v", err)
			}
			paths[route.Path] = same
			claimed = append(claimed, claim{name, route.Path})
			core.patterns = append(core.patterns, route.Method+" "+route.Path)
		}
	}
	return mux, nil
}

// pluginRoute serves a plugin's routes of one path, by method, with the
// configuration in force. The body is read, within the limit core
// handlers keep, before the plugin sees it, so no plugin route can be
// made to read without bound and an oversized body gets the admin API's
// own 413.
func (a *api) pluginRoute(routes *[]plugin.AdminRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var methods []string
		for _, route := range *routes {
			if r.Method == route.Method || route.Method == http.MethodGet && r.Method == http.MethodHead {
				a.servePluginRoute(route, w, r)
				return
			}
			methods = append(methods, route.Method)
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
	}
}

func (a *api) servePluginRoute(route plugin.AdminRoute, w http.ResponseWriter, r *http.Request) {
	ix := a.entities()
	if ix == nil {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	body, ok := readPluginBody(w, r)
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	route.Serve(pluginView{ix}, w, r)
}

// literal is a request for a route path as written.
func literal(method, path string) *http.Request {
	return &http.Request{Method: method, URL: &url.URL{Path: path}}
}

// claims reports whether the pattern alone would serve a request for
// path taken literally.
func claims(pattern, path string) bool {
	mux := http.NewServeMux()
	if handle(mux, pattern, http.NotFoundHandler()) != nil {
		return false // registering the pattern for real says what is wrong
	}
	_, p := mux.Handler(literal(http.MethodGet, path))
	return p != ""
}

// handle registers h on mux, turning ServeMux's panic on an invalid
// pattern, or one that conflicts with a pattern already there (such as
// /a/{x} against /{y}/b), into an error.
func handle(mux interface{ Handle(string, http.Handler) }, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// pluginView is the plugin.Admin of one request.
type pluginView struct{ ix *index }

func (v pluginView) Plugin(ref string) (plugin.AdminPlugin, bool) {
	e := v.ix.find("plugins", ref)
	if e == nil {
		return plugin.AdminPlugin{}, false
	}
	return v.plugin(e), true
}

func (v pluginView) Plugins(name string) []plugin.AdminPlugin {
	var out []plugin.AdminPlugin
	for _, e := range v.ix.byKind["plugins"] {
		if e.body["name"] == name {
			out = append(out, v.plugin(e))
		}
	}
	return out
}

func (v pluginView) plugin(e *entity) plugin.AdminPlugin {
	p := plugin.AdminPlugin{ID: e.id, Enabled: e.body["enabled"] == true}
	p.Name, _ = e.body["name"].(string)
	p.InstanceName, _ = e.body["instance_name"].(string)
	if p.Enabled {
		p.Instance, _ = v.ix.snap.InstanceOf(e.pe)
	}
	return p
}

func (v pluginView) Directory() plugin.Directory { return v.ix.snap.Directory }

func (v pluginView) Route(ref string) (string, bool) {
	if e := v.ix.find("routes", ref); e != nil {
		return e.id, true
	}
	return "", false
}

func (pluginView) Reply(w http.ResponseWriter, status int, body any) { writeJSON(w, status, body) }

func (pluginView) Error(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, message(msg))
}
