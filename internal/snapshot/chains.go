package snapshot

import (
	"sort"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func (c *compiler) chains() {
	if c.snap.Router == nil {
		return
	}
	// One map for every route: a map returned per route would cost an
	// allocation each, 10,000 for as many routes.
	picks := map[string]*pick{}
	for i, re := range c.m.Routes {
		clear(picks)
		c.pick(re, picks)
		steps, regs := c.steps(re, picks)
		c.snap.Routes[i].Chain = chainOf(steps, regs)
	}
	// The global entries, for requests no route matched: a route with no
	// service is what only they apply to.
	clear(picks)
	none := &config.RouteEntry{}
	c.pick(none, picks)
	c.snap.Unrouted = chainOf(c.steps(none, picks))
}

// pick is, for one plugin name on one route, the most specific entry
// without a consumer and the most specific entry of each consumer.
type pick struct {
	reg        *plugin.Registration
	base       plugin.Instance
	baseEntry  *config.PluginEntry
	baseRank   int
	byConsumer map[*config.ConsumerEntry]*config.PluginEntry
}

// pick applies Kong's precedence to the enabled plugin entries that apply
// to re, into picks by plugin name.
func (c *compiler) pick(re *config.RouteEntry, picks map[string]*pick) {
	for _, pe := range c.m.Plugins {
		inst, ok := c.instances[pe]
		if !ok {
			continue
		}
		rk := rank(pe, re)
		if rk == rankNone {
			continue
		}
		p := picks[pe.Plugin.Name]
		if p == nil {
			p = &pick{reg: c.regs[pe], baseRank: rankNone}
			picks[pe.Plugin.Name] = p
		}
		if pe.Consumer == nil {
			if rk < p.baseRank {
				p.base, p.baseEntry, p.baseRank = inst, pe, rk
			}
			continue
		}
		if p.byConsumer == nil {
			p.byConsumer = map[*config.ConsumerEntry]*config.PluginEntry{}
		}
		if prev, ok := p.byConsumer[pe.Consumer]; !ok || rk < rank(prev, re) {
			p.byConsumer[pe.Consumer] = pe
		}
	}
}

// steps turns the picks of re into steps, each with the registration of
// its plugin; a consumer's entry replaces the base only when it is more
// specific.
func (c *compiler) steps(re *config.RouteEntry, picks map[string]*pick) ([]*Step, []*plugin.Registration) {
	var steps []*Step
	var regs []*plugin.Registration
	for name, p := range picks {
		st := &Step{Name: name, Base: p.base}
		if p.baseEntry != nil {
			st.BaseScope, st.BaseSource = scopeName(rank(p.baseEntry, re)), p.baseEntry.Path
		}
		for ce, pe := range p.byConsumer {
			if rk := rank(pe, re); rk < p.baseRank {
				if st.ByConsumer == nil {
					st.ByConsumer = map[string]plugin.Instance{}
					st.ConsumerScopes = map[string]string{}
				}
				st.ByConsumer[ce.ID] = c.instances[pe]
				st.ConsumerScopes[ce.ID] = scopeName(rk) + " (" + pe.Path + ")"
			}
		}
		if st.Base == nil && st.ByConsumer == nil {
			continue
		}
		steps = append(steps, st)
		regs = append(regs, p.reg)
	}
	return steps, regs
}

// chainOf orders steps by priority (then name) and splits them by the
// phases their plugin implements.
func chainOf(steps []*Step, regs []*plugin.Registration) *Chain {
	idx := make([]int, len(steps))
	for k := range idx {
		idx[k] = k
	}
	sort.Slice(idx, func(a, b int) bool {
		ra, rb := regs[idx[a]], regs[idx[b]]
		if ra.Priority != rb.Priority {
			return ra.Priority > rb.Priority
		}
		return ra.Name < rb.Name
	})
	chain := &Chain{}
	for _, k := range idx {
		st := steps[k]
		chain.Names = append(chain.Names, st.Name)
		sample := st.Base
		if sample == nil {
			for _, inst := range st.ByConsumer {
				sample = inst
				break
			}
		}
		if _, ok := sample.(plugin.Accessor); ok {
			chain.Access = append(chain.Access, *st)
		}
		if _, ok := sample.(plugin.Fallback); ok {
			chain.Fallback = append(chain.Fallback, *st)
		}
		if _, ok := sample.(plugin.HeaderFilter); ok {
			chain.Header = append(chain.Header, *st)
		}
		if _, ok := sample.(plugin.BodyFilter); ok {
			chain.Body = append(chain.Body, *st)
		}
		if _, ok := sample.(plugin.Logger); ok {
			chain.Log = append(chain.Log, *st)
		}
	}
	return chain
}
