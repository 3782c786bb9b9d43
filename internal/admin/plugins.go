package admin

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// pluginRoutes mounts the admin routes the registered plugins contribute.
func (a *api) pluginRoutes(mux *http.ServeMux) {
	reg := a.src.Registry
	if reg == nil {
		return
	}
	for _, name := range reg.Names() {
		r, _ := reg.Lookup(name)
		for _, route := range r.Admin {
			mux.HandleFunc(route.Path, only(route.Method, func(w http.ResponseWriter, r *http.Request) {
				ix := a.entities()
				if ix == nil {
					writeJSON(w, http.StatusNotFound, message("Not found"))
					return
				}
				route.Serve(pluginView{ix}, w, r)
			}))
		}
	}
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

func (pluginView) Reply(w http.ResponseWriter, status int, body any) { writeJSON(w, status, body) }

func (pluginView) Error(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, message(msg))
}
