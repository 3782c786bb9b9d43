package snapshot

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// plugins builds an instance for each enabled plugin entry, taking over the
// instance of the snapshot in force whose name, id and config are the same.
func (c *compiler) plugins() {
	c.instances = map[*config.PluginEntry]plugin.Instance{}
	c.regs = map[*config.PluginEntry]*plugin.Registration{}
	c.snap.Secrets = plugin.NewSecrets(nil, nil)
	for _, pe := range c.m.Plugins {
		if c.ctx.Err() != nil {
			return
		}
		p := pe.Plugin
		if !p.Enabled {
			continue
		}
		reg, ok := c.d.Registry.Lookup(p.Name)
		if !ok {
			c.fail(pe.Path+".name", "plugin '%s' is not available in this version of Turnpike (available: %s)",
				p.Name, strings.Join(c.d.Registry.Names(), ", "))
			continue
		}
		if reg.NoConsumer && pe.Consumer != nil {
			c.fail(pe.Path+".consumer", "plugin '%s' cannot be applied to consumers", p.Name)
			continue
		}
		cfg := reg.NewConfig()
		// An absent config still gets the plugin's defaults.
		if errs := p.Config.Decode(cfg); len(errs) > 0 {
			c.errs.AddAll(errs)
			continue
		}
		if reg.Secrets != nil {
			c.snap.Secrets.Add(reg.Secrets(cfg))
		}
		id := pe.ID
		key := instanceKey(pe, id, cfg)
		if prev := c.d.Previous; prev != nil {
			if inst, ok := prev.instanceByKey[key]; ok {
				// Same plugin, scope and config as before the reload: keep
				// the instance and whatever state it holds (counters, caches).
				c.keep(pe, reg, key, inst, prev.entityDeps[key])
				continue
			}
		}
		env := c.d.Env
		env.PluginID = id
		switch {
		case pe.Service != nil:
			env.Services = []string{pe.Service.ID}
		case pe.Route != nil && pe.Route.Service != nil:
			env.Services = []string{pe.Route.Service.ID}
		}
		lookups := &entityLookups{from: c.snap.entities}
		env.Certificates = lookups
		env.ServiceIDs = lookups
		inst, err := reg.New(cfg, env)
		if err != nil {
			var errs plugin.Errors
			if errors.As(err, &errs) {
				c.errs.AddAll(configErrors(errs, pe.Path+".config"))
			} else {
				c.fail(pe.Path+".config", "%v", err)
			}
			continue
		}
		c.keep(pe, reg, key, inst, lookups.deps)
	}
}

// keep records inst as pe's instance; deps are the entities its build
// looked up.
func (c *compiler) keep(pe *config.PluginEntry, reg *plugin.Registration, key string, inst plugin.Instance, deps []entityDep) {
	c.instances[pe] = inst
	c.snap.instanceByEntry[pe] = inst
	c.regs[pe] = reg
	c.snap.Instances = append(c.snap.Instances, inst)
	c.snap.instanceByKey[key] = inst
	if len(deps) > 0 {
		if c.snap.entityDeps == nil {
			c.snap.entityDeps = map[string][]entityDep{}
		}
		c.snap.entityDeps[key] = deps
	}
}

// configErrors are a plugin's validation errors as configuration errors
// under prefix, the plugin's `config` path.
func configErrors(es plugin.Errors, prefix string) config.Errors {
	out := make(config.Errors, len(es))
	for i, e := range es {
		out[i] = config.FieldError{Path: config.JoinPath(prefix, e.Path), Message: e.Message}
	}
	return out
}

// instanceKey identifies a plugin instance across reloads: its name, its
// id (which is derived from the entities it is scoped to when not
// configured), and its decoded config with defaults applied.
func instanceKey(pe *config.PluginEntry, id string, cfg any) string {
	var b strings.Builder
	b.WriteString(pe.Plugin.Name + "|id:" + id)
	raw, err := json.Marshal(cfg)
	if err != nil {
		// Not comparable: never reused.
		return b.String() + "|" + pe.Path + "|unkeyed"
	}
	b.WriteByte('|')
	b.Write(raw)
	return b.String()
}

// Kong's plugin precedence, most specific first (lower rank wins).
const (
	rankConsumerRouteService = 1 + iota
	rankConsumerRoute
	rankConsumerService
	rankRouteService
	rankConsumer
	rankRoute
	rankService
	rankGlobal
	rankNone
)

// rank places a plugin entry relative to a route: how specific it is, and
// whether it applies at all.
func rank(pe *config.PluginEntry, re *config.RouteEntry) int {
	routeOK := pe.Route == nil || pe.Route == re
	serviceOK := pe.Service == nil || pe.Service == re.Service
	if !routeOK || !serviceOK {
		return rankNone
	}
	r, s, cons := pe.Route != nil, pe.Service != nil, pe.Consumer != nil
	switch {
	case cons && r && s:
		return rankConsumerRouteService
	case cons && r:
		return rankConsumerRoute
	case cons && s:
		return rankConsumerService
	case r && s:
		return rankRouteService
	case cons:
		return rankConsumer
	case r:
		return rankRoute
	case s:
		return rankService
	}
	return rankGlobal
}

// scopeName names a precedence rank the way Kong's documentation does.
func scopeName(rk int) string {
	return [...]string{
		rankConsumerRouteService: "consumer+route+service",
		rankConsumerRoute:        "consumer+route",
		rankConsumerService:      "consumer+service",
		rankRouteService:         "route+service",
		rankConsumer:             "consumer",
		rankRoute:                "route",
		rankService:              "service",
		rankGlobal:               "global",
		rankNone:                 "",
	}[rk]
}
