package admin

import "net/http"

// StatusHandler serves the status listener (--status-listen, Kong's
// status_listen): GET /metrics, /status and /status/ready, and 404 with
// Kong's body for everything else. It is for monitoring from outside the
// host, so it asks for no token and checks no Host: it can change
// nothing, and shows no configuration (no entities, no plugin config,
// no reload errors, which may quote configured values), only counters,
// health and the configuration's hash.
func StatusHandler(src Source) http.Handler {
	a := &api{src: src, public: true}
	mux := http.NewServeMux()
	mux.HandleFunc("/status", only(http.MethodGet, a.status))
	mux.HandleFunc("/status/ready", only(http.MethodGet, a.ready))
	if src.Metrics != nil {
		mux.Handle("/metrics", only(http.MethodGet, src.Metrics.ServeHTTP))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, message("Not found"))
	})
	return mux
}
