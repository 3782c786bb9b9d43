package admin

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// upstreamHealth is Kong's `GET /upstreams/{name or id}/health`: every
// target with its health (HEALTHY, UNHEALTHY, or HEALTHCHECKS_OFF when the
// upstream has no checks) plus, our addition, the reason of its last
// change. `?balancer_health=1` reports the upstream as a whole (UNHEALTHY
// when its healthy weight is below the threshold).
func (a *api) upstreamHealth(w http.ResponseWriter, r *http.Request) {
	ix := a.entities()
	if ix == nil {
		writeJSON(w, http.StatusServiceUnavailable, message("no configuration loaded"))
		return
	}
	up := ix.find("upstreams", r.PathValue("id"))
	if up == nil {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	snap := ix.snap
	var ue *config.UpstreamEntry
	for _, e := range snap.Model.Upstreams {
		if e.Upstream.Name == up.key {
			ue = e
			break
		}
	}
	if ue == nil {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	checks := upstream.ChecksEnabled(&ue.Upstream.Healthchecks)

	// The live states are those of the targets the services balanced over
	// this upstream hold (one state per address, shared by all of them).
	states := map[string]*upstream.TargetState{}
	var gate *upstream.UpstreamHealth
	if len(snap.Services) == len(snap.Model.Services) {
		for i, se := range snap.Model.Services {
			if se.Upstream != ue || snap.Services[i].Balancer == nil {
				continue
			}
			b := snap.Services[i].Balancer
			for _, t := range b.Targets() {
				if t.State != nil {
					states[t.Addr] = t.State
				}
			}
			if g := upstream.UpstreamHealthOf(b); g != nil {
				gate = g
			}
		}
	}

	if r.URL.Query().Get("balancer_health") == "1" || r.URL.Query().Get("balancer_health") == "true" {
		health, reason := upstream.HealthHealthy, ""
		switch {
		case !checks:
			health = upstream.HealthOff
		case gate != nil:
			var ok bool
			ok, reason = gate.Healthy()
			if !ok {
				health = upstream.HealthUnhealthy
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"data":    map[string]any{"id": up.id, "health": health, "reason": reason},
			"next":    nil,
			"node_id": a.src.NodeID,
		})
		return
	}

	var targets []*entity
	for _, e := range ix.byKind["targets"] {
		if e.upstream == up.id {
			targets = append(targets, e)
		}
	}
	data := make([]map[string]any, 0, len(ue.Targets))
	for i, te := range ue.Targets {
		addr := upstream.JoinHostPort(te.Host, te.Port)
		health, reason := upstream.HealthHealthy, ""
		st, live := states[addr]
		switch {
		case !checks:
			health = upstream.HealthOff
		case !live:
			reason = "not checked: no service is balanced over this upstream"
		default:
			var ok bool
			ok, reason = st.Health()
			if !ok {
				health = upstream.HealthUnhealthy
			}
		}
		weight := te.Target.Weight
		available := weight
		if health == upstream.HealthUnhealthy {
			available = 0
		}
		item := map[string]any{}
		if i < len(targets) {
			for k, v := range targets[i].body {
				item[k] = v
			}
			item["upstream_id"] = up.id
		}
		item["target"] = te.Target.Target
		item["weight"] = weight
		item["health"] = health
		item["reason"] = reason
		item["data"] = map[string]any{
			"addresses":  []map[string]any{{"ip": te.Host, "port": te.Port, "health": health, "weight": weight}},
			"nodeWeight": weight,
			"weight":     map[string]any{"total": weight, "available": available, "unavailable": weight - available},
		}
		data = append(data, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data":    data,
		"total":   len(data),
		"next":    nil,
		"node_id": a.src.NodeID,
	})
}
