package reload

import (
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// maxLostListed bounds the plugins a loss warning names, so that a config
// that drops thousands of them still logs one readable line.
const maxLostListed = 20

// warnLostPlugins logs at WARN when next, just put in force, lacks
// plugins prev had, also with the route, service or consumer they were on.
// Dropping a plugin may be the intent, so it is not refused; but a config
// cut short (a half-written file, a truncated upload) loses the plugins it
// would have declared last, and that must not go unnoticed, whatever the
// trigger.
func (l *Loader) warnLostPlugins(prev *snapshot.Snapshot, next *config.Model, trigger string) {
	if prev == nil {
		return
	}
	lost := lostPlugins(prev.Model, next)
	if len(lost) == 0 {
		return
	}
	listed := lost[:min(len(lost), maxLostListed)]
	l.logger.Warn("configuration applied without plugins the previous one had",
		"trigger", trigger, "lost_count", len(lost), "lost", listed)
}

// lostPlugins names the enabled plugins of prev that next does not have
// enabled on the same entity (route, service, consumer, a combination, or
// globally), in prev's order. A plugin whose entity next no longer has is
// lost too, and says so: the entity's traffic does not go with it, and
// requests a deleted route matched may now match another route (a
// catch-all `/`) that lacks its plugins, as when an authenticated /admin
// route is deleted beside a public one.
func lostPlugins(prev, next *config.Model) []string {
	if prev == nil || next == nil {
		return nil
	}
	have := make(map[string]bool, len(next.Plugins))
	for _, pe := range next.Plugins {
		if pe.Plugin.Enabled {
			have[pluginScope(pe)+"\x00"+pe.Plugin.Name] = true
		}
	}
	entities := make(map[string]bool, len(next.Routes)+len(next.Services)+len(next.Consumers))
	for _, re := range next.Routes {
		entities[routeLabel(re)] = true
	}
	for _, se := range next.Services {
		entities[serviceLabel(se)] = true
	}
	for _, ce := range next.Consumers {
		entities[consumerLabel(ce)] = true
	}
	var out []string
	for _, pe := range prev.Plugins {
		if !pe.Plugin.Enabled {
			continue
		}
		scope := pluginScope(pe)
		if have[scope+"\x00"+pe.Plugin.Name] {
			continue
		}
		if scope == "" {
			out = append(out, pe.Plugin.Name+" (global)")
			continue
		}
		var removed []string
		if pe.Route != nil && !entities[routeLabel(pe.Route)] {
			removed = append(removed, "route")
		}
		if pe.Service != nil && !entities[serviceLabel(pe.Service)] {
			removed = append(removed, "service")
		}
		if pe.Consumer != nil && !entities[consumerLabel(pe.Consumer)] {
			removed = append(removed, "consumer")
		}
		lost := pe.Plugin.Name + " on " + scope
		if len(removed) > 0 {
			lost += " (" + strings.Join(removed, " and ") + " removed)"
		}
		out = append(out, lost)
	}
	return out
}

// pluginScope names the entities a plugin is attached to ("" when global),
// as an operator reads them: by name, or by id when unnamed.
func pluginScope(pe *config.PluginEntry) string {
	var parts []string
	if pe.Route != nil {
		parts = append(parts, routeLabel(pe.Route))
	}
	if pe.Service != nil {
		parts = append(parts, serviceLabel(pe.Service))
	}
	if pe.Consumer != nil {
		parts = append(parts, consumerLabel(pe.Consumer))
	}
	return strings.Join(parts, " and ")
}

func routeLabel(re *config.RouteEntry) string {
	if re.Route.Name != "" {
		return "route " + strconv.Quote(re.Route.Name)
	}
	return "route " + re.ID
}

func serviceLabel(se *config.ServiceEntry) string {
	if se.Service.Name != "" {
		return "service " + strconv.Quote(se.Service.Name)
	}
	return "service " + se.ID
}

func consumerLabel(ce *config.ConsumerEntry) string {
	if ce.Consumer.Username != "" {
		return "consumer " + strconv.Quote(ce.Consumer.Username)
	}
	return "consumer " + ce.ID
}
