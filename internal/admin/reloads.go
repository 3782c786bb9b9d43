package admin

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/reload"
)

// reloads is Turnpike's GET /reloads (Kong has none): the loader's
// history of load results, newest first, with their errors and warnings.
// Like /status for an admin credential, it may quote configured values
// in its messages, so the status listener does not serve it. Without
// ?size= it lists the whole history; with it (Kong's page size rules),
// only the newest entries, so the dashboard's overview, which shows a few
// every few seconds, does not fetch a history of up to 2.8 MiB. total
// counts them all.
func (a *api) reloads(w http.ResponseWriter, r *http.Request) {
	size := reload.HistorySize
	if q := r.URL.Query(); q.Has("size") {
		var ok bool
		if size, ok = pageSize(w, q); !ok {
			return
		}
	}
	data := []reload.Entry{}
	if a.src.Loader != nil {
		data = a.src.Loader.History()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data[:min(size, len(data))], "total": len(data)})
}
