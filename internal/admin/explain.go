package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/explain"
)

// explainRequest is `GET /explain?method=GET&url=...&header=Name:value`:
// the same report as `turnpike explain`, against the configuration in
// force.
func (a *api) explainRequest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := explain.Request{
		Method:   q.Get("method"),
		URL:      q.Get("url"),
		SNI:      q.Get("sni"),
		Consumer: q.Get("consumer"),
		Header:   http.Header{},
	}
	if req.URL == "" {
		writeJSON(w, http.StatusBadRequest, message("url is required: /explain?method=GET&url=http://host/path&header=Name:value"))
		return
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			writeJSON(w, http.StatusBadRequest, message("header must be Name:value, got "+h))
			return
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	report, err := explain.Explain(a.src.Snapshot.Load(), req)
	switch {
	case errors.Is(err, explain.ErrNoConfig):
		writeJSON(w, http.StatusServiceUnavailable, message(err.Error()))
	case err != nil:
		writeJSON(w, http.StatusBadRequest, message(err.Error()))
	default:
		writeJSON(w, http.StatusOK, report)
	}
}
