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

// runPhase runs the plugins of steps that apply to the request, calling
// run on each, and times every run. One clock reading per plugin: a
// plugin's end is the next one's start. An error of run ends the phase
// and is returned with the plugin's name. run does not escape, so the
// closures the phases pass allocate nothing.
func (st *reqState) runPhase(steps []snapshot.Step, p record.Phase, run func(plugin.Instance) error) (string, error) {
	if len(steps) == 0 {
		return "", nil
	}
	c := &st.Ctx
	t0 := time.Since(c.StartedAt)
	for i := range steps {
		step := &steps[i]
		inst := step.Resolve(c)
		if inst == nil {
			continue
		}
		err := run(inst)
		t1 := time.Since(c.StartedAt)
		st.rec.AddPlugin(step.Name, p, t0, t1)
		t0 = t1
		if err != nil {
			return step.Name, err
		}
	}
	return "", nil
}

// access runs the access phase; an error is the answer of the plugin
// named in st.rec.Exit.
func (h *Handler) access(st *reqState, route *snapshot.Route) error {
	c := &st.Ctx
	name, err := st.runPhase(route.Chain.Access, record.PhaseAccess, func(inst plugin.Instance) error {
		return inst.(plugin.Accessor).Access(c)
	})
	if err != nil {
		st.rec.Exit = name
	}
	return err
}

// fallback asks the route's Fallback plugins for an answer in place of
// the upstream's (c.Resp.Status set), and sends the first one given,
// discarding the response headers in hand. It reports whether one
// answered.
func (h *Handler) fallback(w *countingWriter, st *reqState) bool {
	if st.chain == nil || len(st.chain.Fallback) == 0 {
		return false
	}
	c := &st.Ctx
	for i := range st.chain.Fallback {
		inst := st.chain.Fallback[i].Resolve(c)
		if inst == nil {
			continue
		}
		if e := inst.(plugin.Fallback).Fallback(c); e != nil {
			clear(w.Header())
			c.Resp.FromUpstream = false
			h.exitErr(w, st, e)
			return true
		}
	}
	return false
}

func (h *Handler) headerFilters(st *reqState) {
	st.filtered = true
	c := &st.Ctx
	st.runPhase(st.chain.Header, record.PhaseHeaderFilter, func(inst plugin.Instance) error {
		inst.(plugin.HeaderFilter).HeaderFilter(c)
		return nil
	})
}

// bodyFilters wraps body in the chain's body filters.
func (h *Handler) bodyFilters(st *reqState, body io.Reader) io.Reader {
	c := &st.Ctx
	st.runPhase(st.chain.Body, record.PhaseBodyFilter, func(inst plugin.Instance) error {
		body = inst.(plugin.BodyFilter).BodyFilter(c, body)
		return nil
	})
	return body
}

// exitBodyFilters passes an Exit's body to the route's body filters that
// re-encode gateway answers (plugin.ExitBodyFilter: compression of a
// cache hit), after the header filters. A route without them pays one
// type assertion per body filter.
func (h *Handler) exitBodyFilters(st *reqState, body []byte) []byte {
	c := &st.Ctx
	for i := range st.chain.Body {
		if f, ok := st.chain.Body[i].Resolve(c).(plugin.ExitBodyFilter); ok {
			body = f.ExitBody(c, body)
		}
	}
	return body
}

// logPhase runs the log phase after the response is out.
func (h *Handler) logPhase(st *reqState) {
	c := &st.Ctx
	st.runPhase(st.chain.Log, record.PhaseLog, func(inst plugin.Instance) error {
		inst.(plugin.Logger).Log(c)
		return nil
	})
}
