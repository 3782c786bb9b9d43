package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// newDashboard is the dashboard on this admin API, whose pages call api
// (the routes, past the token check): its login takes the admin token, and
// with no token there is no login, as on the API.
func (a *api) newDashboard(api http.Handler) *dashboard.Dashboard {
	if a.src.Token == "" {
		return dashboard.New(dashboard.Options{API: api})
	}
	return dashboard.New(dashboard.Options{API: api, Login: a.tokenRole})
}

// tokenRole is the role a token typed in the dashboard's login form grants.
func (a *api) tokenRole(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1 {
		return dashboard.RoleAdmin, true
	}
	return "", false
}

// checkConfig is POST /config?check=true: the document is validated and
// compiled as a load would, and nothing is applied (200 or Kong's 400).
func (a *api) checkConfig(w http.ResponseWriter, data []byte) {
	_, err := a.src.Loader.Check(func() ([]byte, error) { return data, nil })
	switch {
	case errors.Is(err, reload.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, message("Currently loading previous configuration"))
	case err != nil:
		writeJSON(w, http.StatusBadRequest, declarativeError(err))
	default:
		writeJSON(w, http.StatusOK, message("configuration is valid"))
	}
}
