package proxy

import (
	"io"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// The plugin phases run here, each plugin's run timed into the request's
// record (for tracing: one span per plugin, without touching plugins).
// One clock reading per plugin: a plugin's end is the next one's start.

// access runs the access phase; an error is the answer of the plugin
// named in st.rec.Exit.
func (h *Handler) access(st *reqState, route *snapshot.Route) error {
	if len(route.Chain.Access) == 0 {
		return nil
	}
	c := &st.Ctx
	t0 := time.Since(c.StartedAt)
	for i := range route.Chain.Access {
		step := &route.Chain.Access[i]
		inst := step.Resolve(c)
		if inst == nil {
			continue
		}
		err := inst.(plugin.Accessor).Access(c)
		t1 := time.Since(c.StartedAt)
		st.rec.AddPlugin(step.Name, record.PhaseAccess, t0, t1)
		t0 = t1
		if err != nil {
			st.rec.Exit = step.Name
			return err
		}
	}
	return nil
}

func (h *Handler) headerFilters(st *reqState, route *snapshot.Route) {
	st.filtered = true
	if len(route.Chain.Header) == 0 {
		return
	}
	c := &st.Ctx
	t0 := time.Since(c.StartedAt)
	for i := range route.Chain.Header {
		step := &route.Chain.Header[i]
		if inst := step.Resolve(c); inst != nil {
			inst.(plugin.HeaderFilter).HeaderFilter(c)
			t1 := time.Since(c.StartedAt)
			st.rec.AddPlugin(step.Name, record.PhaseHeaderFilter, t0, t1)
			t0 = t1
		}
	}
}

// bodyFilters wraps body in the route's body filters.
func (h *Handler) bodyFilters(st *reqState, route *snapshot.Route, body io.Reader) io.Reader {
	if len(route.Chain.Body) == 0 {
		return body
	}
	c := &st.Ctx
	t0 := time.Since(c.StartedAt)
	for i := range route.Chain.Body {
		step := &route.Chain.Body[i]
		if inst := step.Resolve(c); inst != nil {
			body = inst.(plugin.BodyFilter).BodyFilter(c, body)
			t1 := time.Since(c.StartedAt)
			st.rec.AddPlugin(step.Name, record.PhaseBodyFilter, t0, t1)
			t0 = t1
		}
	}
	return body
}

// logPhase runs the log phase after the response is out.
func (h *Handler) logPhase(st *reqState) {
	if len(st.route.Chain.Log) == 0 {
		return
	}
	c := &st.Ctx
	t0 := time.Since(c.StartedAt)
	for i := range st.route.Chain.Log {
		step := &st.route.Chain.Log[i]
		if inst := step.Resolve(c); inst != nil {
			inst.(plugin.Logger).Log(c)
			t1 := time.Since(c.StartedAt)
			st.rec.AddPlugin(step.Name, record.PhaseLog, t0, t1)
			t0 = t1
		}
	}
}
