package admin

import (
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// newDashboard is the dashboard on this admin API, whose pages call api
// through dashboardAPI: its login takes an admin token, and when the
// admin API needs no credential there is no login, as on the API. With
// client certificates only, the login has no token to accept: a
// certificate's role cannot be carried into a browser session, and
// admitting every visitor would hand a read-only certificate the admin
// role.
func (a *api) newDashboard(api http.Handler) *dashboard.Dashboard {
	api = a.dashboardAPI(api)
	if !a.auth.required {
		return dashboard.New(dashboard.Options{API: api})
	}
	return dashboard.New(dashboard.Options{API: api, Login: a.tokenIdentity})
}

// dashboardAPI serves the calls the dashboard admitted as made by the
// session's credential: the role rule (reads) and the write log are the
// admin API's, one for the token and the session alike.
func (a *api) dashboardAPI(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cred *Credential
		if a.auth.required {
			id, ok := dashboard.SessionIdentity(r)
			if !ok {
				writeJSON(w, http.StatusUnauthorized, message("Unauthorized"))
				return
			}
			cred = &Credential{Name: id.Name, Role: Role(id.Role)}
		}
		a.serveAs(w, r, cred, api)
	})
}

// tokenIdentity is the credential a token typed in the dashboard's login
// form names, found as the API finds it (auth.go's matchToken).
func (a *api) tokenIdentity(token string) (dashboard.Identity, bool) {
	if i := a.auth.matchToken(token); i >= 0 {
		c := a.auth.tokens[i]
		return dashboard.Identity{Name: c.Name, Role: string(c.Role)}, true
	}
	return dashboard.Identity{}, false
}

// checkConfig is POST /config?check=true: the document is validated and
// compiled as a load would, and nothing is applied (200 or the 400 the
// load would answer).
func (a *api) checkConfig(w http.ResponseWriter, r *http.Request, data []byte) {
	_, err := a.src.Loader.Check(func() ([]byte, error) { return data, nil })
	switch {
	case errors.Is(err, reload.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, message("Currently loading previous configuration"))
	case err != nil:
		writeJSON(w, http.StatusBadRequest, a.invalidConfig(r, err, data))
	default:
		writeJSON(w, http.StatusOK, message("configuration is valid"))
	}
}
