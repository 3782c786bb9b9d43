package admin

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/reload"
)

// reloads is Turnpike's GET /reloads (Kong has none): the loader's
// history of load results, newest first, with their errors and warnings.
// Like /status for an admin credential, it may quote configured values
// in its messages, so the status listener does not serve it.
func (a *api) reloads(w http.ResponseWriter, r *http.Request) {
	data := []reload.Entry{}
	if a.src.Loader != nil {
		data = a.src.Loader.History()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}
