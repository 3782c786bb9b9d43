package admin

import (
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// upstreamHealth is Kong's `GET /upstreams/{name or id}/health`: every
// target with its health (HEALTHY, UNHEALTHY, HEALTHCHECKS_OFF when the
// upstream has no checks, DNS_ERROR when its name has no address) and its
// addresses (one per DNS answer for a name) plus, our addition, the reason
// of the last change. `?balancer_health=1` reports the upstream as a whole (UNHEALTHY
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
	hc := snapshot.HealthCheckOf(&ue.Upstream.Healthchecks)
	checks := hc.Enabled()

	// The live addresses are those the balancers of the services over this
	// upstream hold (one state per address, shared by all of them), by the
	// target they came from: a target named by DNS has one per address.
	byOrigin := map[string][]*upstream.Target{}
	live := false
	var gate *upstream.UpstreamHealth
	if len(snap.Services) == len(snap.Model.Services) {
		for i, se := range snap.Model.Services {
			if se.Upstream != ue || snap.Services[i].Balancer == nil {
				continue
			}
			b := snap.Services[i].Balancer
			if !live {
				for _, t := range b.Targets() {
					byOrigin[t.Origin] = append(byOrigin[t.Origin], t)
				}
				live = true
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
		h := targetHealth(te, byOrigin[upstream.JoinHostPort(te.Host, te.Port)], checks, live)
		item := map[string]any{}
		if i < len(targets) {
			for k, v := range targets[i].body {
				item[k] = v
			}
			item["upstream_id"] = up.id
		}
		item["target"] = te.Target.Target
		item["weight"] = te.Target.Weight
		item["health"] = h.health
		item["reason"] = h.reason
		item["data"] = map[string]any{
			"addresses":  h.addresses,
			"nodeWeight": te.Target.Weight,
			"weight":     map[string]any{"total": h.total, "available": h.available, "unavailable": h.total - h.available},
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

// healthReport is one target's entry in the health report.
type healthReport struct {
	health, reason   string
	addresses        []map[string]any
	total, available int
}

// healthDNSError is Kong's health of a target whose name does not resolve.
const healthDNSError = "DNS_ERROR"

// targetHealth reports a target from the addresses the balancers hold for
// it: each with its own health, weight and reason. The target is
// UNHEALTHY when every address is, DNS_ERROR when its name has none.
// Without live balancers (no service uses the upstream), an IP target is
// reported at its configured address and a name without addresses.
func targetHealth(te *config.TargetEntry, addrs []*upstream.Target, checks, live bool) healthReport {
	rep := healthReport{health: upstream.HealthHealthy, addresses: []map[string]any{}}
	isName := !resolver.IsIPLiteral(te.Host)
	switch {
	case !live && isName:
		rep.reason = "not resolved: no service is balanced over this upstream"
	case !live:
		rep.reason = "not checked: no service is balanced over this upstream"
		addrs = []*upstream.Target{upstream.NewTarget(te.Host, te.Port, te.Target.Weight, nil)}
	case isName && len(addrs) == 0:
		rep.health = healthDNSError
		rep.reason = "dns: " + te.Host + " has no address"
		return rep
	}
	unhealthy := 0
	for _, t := range addrs {
		health, reason := upstream.HealthHealthy, ""
		switch {
		case !checks:
			health = upstream.HealthOff
		case live:
			var ok bool
			if ok, reason = t.State.Health(); !ok {
				health = upstream.HealthUnhealthy
				unhealthy++
			}
		}
		rep.total += t.Weight
		if health != upstream.HealthUnhealthy {
			rep.available += t.Weight
		}
		rep.addresses = append(rep.addresses, map[string]any{
			"ip": t.Host, "port": t.Port, "weight": t.Weight, "health": health, "reason": reason,
		})
	}
	switch {
	case !checks:
		rep.health = upstream.HealthOff
	case !live:
	case unhealthy > 0 && unhealthy == len(addrs):
		rep.health = upstream.HealthUnhealthy
		rep.reason = rep.addresses[0]["reason"].(string)
	case len(addrs) == 1:
		rep.reason = rep.addresses[0]["reason"].(string)
	case unhealthy > 0:
		rep.reason = strconv.Itoa(unhealthy) + " of " + strconv.Itoa(len(addrs)) + " addresses unhealthy"
	}
	return rep
}
