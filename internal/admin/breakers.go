package admin

import (
	"net/http"
	"sort"
)

// breakerStates is implemented by circuit-breaker plugin instances: the
// state of each breaker, keyed by service id.
type breakerStates interface {
	States() map[string]string
}

// circuitBreakers is `GET /circuit-breakers`: every circuit breaker of the
// configuration in force, by service, with its state (closed, open,
// half-open). Breakers of services a reload removed are left out.
func (a *api) circuitBreakers(w http.ResponseWriter, r *http.Request) {
	type entry struct {
		Service map[string]string `json:"service"`
		State   string            `json:"state"`
	}
	data := []entry{}
	if snap := a.src.Snapshot.Load(); snap != nil {
		names := map[string]string{}
		for _, svc := range snap.Services {
			names[svc.Info.ID] = svc.Info.Name
		}
		for _, inst := range snap.Instances {
			bs, ok := inst.(breakerStates)
			if !ok {
				continue
			}
			for id, state := range bs.States() {
				if name, live := names[id]; live {
					data = append(data, entry{Service: map[string]string{"id": id, "name": name}, State: state})
				}
			}
		}
	}
	sort.Slice(data, func(i, j int) bool { return data[i].Service["name"] < data[j].Service["name"] })
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}
