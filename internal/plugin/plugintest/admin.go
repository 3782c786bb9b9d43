package plugintest

import (
	"encoding/json"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Admin is a plugin.Admin for testing a plugin's admin routes: its
// plugin entities, directory and routes (name to id), answering JSON as
// the admin API does.
type Admin struct {
	PluginList []plugin.AdminPlugin
	Dir        plugin.Directory
	Routes     map[string]string
}

func (a *Admin) Plugin(ref string) (plugin.AdminPlugin, bool) {
	for _, p := range a.PluginList {
		if p.ID == ref || (p.InstanceName != "" && p.InstanceName == ref) {
			return p, true
		}
	}
	return plugin.AdminPlugin{}, false
}

func (a *Admin) Plugins(name string) []plugin.AdminPlugin {
	var out []plugin.AdminPlugin
	for _, p := range a.PluginList {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func (a *Admin) Directory() plugin.Directory { return a.Dir }

func (a *Admin) Route(ref string) (string, bool) {
	for name, id := range a.Routes {
		if ref == name || ref == id {
			return id, true
		}
	}
	return "", false
}

func (a *Admin) Reply(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *Admin) Error(w http.ResponseWriter, status int, msg string) {
	a.Reply(w, status, map[string]string{"message": msg})
}
