package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// Source is what the admin API reads from the running gateway.
type Source struct {
	Version  string
	NodeID   string
	Started  time.Time
	Snapshot *snapshot.Holder
	Requests func() uint64
	Accepted func() uint64
	Active   func() int64
	Draining func() bool
	LogDrops func() uint64
	// Loader applies POST /config and reports the last reload.
	Loader *reload.Loader
	// Registry lists the plugins this binary has.
	Registry *plugin.Registry
}

// Handler serves the admin API.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{
			"server": map[string]any{
				"connections_active":   src.Active(),
				"connections_accepted": src.Accepted(),
				"total_requests":       src.Requests(),
			},
			"uptime_seconds": int64(time.Since(src.Started).Seconds()),
			"version":        src.Version,
			"node_id":        src.NodeID,
		}
		if src.LogDrops != nil {
			body["access_log_dropped"] = src.LogDrops()
		}
		if snap := src.Snapshot.Load(); snap != nil {
			body["configuration_hash"] = snap.Hash
			body["configuration"] = snap.Summary
		}
		if src.Loader != nil {
			if last := src.Loader.Last(); last != nil {
				body["last_reload"] = last
			}
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("GET /status/ready", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case src.Draining != nil && src.Draining():
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "draining"})
		case src.Snapshot.Load() == nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "no configuration loaded"})
		default:
			writeJSON(w, http.StatusOK, map[string]string{"message": "ready"})
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}
