package admin

import "net/http"

// nestedEntityRoutes serves one entity under its parent, as Kong does
// (/services/{s}/routes/{r}, /upstreams/{u}/targets/{t}, ...): GET finds
// it only when it belongs to the parent, and writes go where the
// readOnly wrapper sends them.
func (a *api) nestedEntityRoutes(mux *http.ServeMux) {
	for _, n := range []struct{ parent, child, field string }{
		{"services", "routes", "service"},
		{"services", "plugins", "service"},
		{"routes", "plugins", "route"},
		{"consumers", "plugins", "consumer"},
		{"upstreams", "targets", "upstream"},
	} {
		mux.HandleFunc("/"+n.parent+"/{id}/"+n.child+"/{child}", a.readOnly(n.child, func(w http.ResponseWriter, r *http.Request, ix *index) {
			p := ix.find(n.parent, r.PathValue("id"))
			var e *entity
			if p != nil {
				e = ix.find(n.child, r.PathValue("child"))
			}
			if e == nil || foreignOf(e, n.field) != p.id {
				writeJSON(w, http.StatusNotFound, message("Not found"))
				return
			}
			writeJSON(w, http.StatusOK, e.body)
		}))
	}
}
