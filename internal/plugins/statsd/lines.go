package statsd

import (
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func statusText(code int) string { return http.StatusText(code) }

// appendMetric appends m's line for the request, and a '\n', or nothing
// when Kong sends nothing for it (no consumer for a per-user metric, no
// upstream latency, a metric Kong skips with tag_style).
func (in *instance) appendMetric(b []byte, c *plugin.Ctx, m *metric, v *values) []byte {
	if in.tagStyle != "" {
		if m.kind != kindPlain {
			return b
		}
		return in.appendTagged(b, c, m, v)
	}
	status := c.Record.Status
	switch m.kind {
	case kindPlain:
		n := m.value(*v)
		if n == -1 {
			return b
		}
		b = in.appendScope(b, c, m)
		b = append(append(b, '.'), m.stat...)
		return appendValue(b, n, m)
	case kindUniqueUsers:
		id := consumerID(c, m.consumer)
		if id == "" {
			return b
		}
		b = append(in.appendScope(b, c, m), ".user.uniques:"...)
		b = append(append(b, id...), m.suffix...)
		return append(b, '\n')
	case kindRequestPerUser:
		id := consumerID(c, m.consumer)
		if id == "" {
			return b
		}
		b = append(in.appendScope(b, c, m), ".user."...)
		b = append(append(b, id...), ".request.count"...)
		return appendValue(b, 1, m)
	case kindStatusCount:
		b = append(in.appendScope(b, c, m), ".status."...)
		return appendValue(strconv.AppendInt(b, int64(status), 10), 1, m)
	case kindStatusPerUser:
		id := consumerID(c, m.consumer)
		if id == "" {
			return b
		}
		b = append(in.appendScope(b, c, m), ".user."...)
		b = append(append(b, id...), ".status."...)
		return appendValue(strconv.AppendInt(b, int64(status), 10), 1, m)
	case kindStatusPerWorkspace:
		b = append(in.appendScope(b, c, m), ".workspace."+workspace+".status."...)
		return appendValue(strconv.AppendInt(b, int64(status), 10), 1, m)
	case kindStatusPerUserPerRoute:
		id := consumerID(c, m.consumer)
		if id == "" || c.Route == nil || c.Route.ID == "" {
			return b
		}
		b = append(append(b, in.prefix...), ".route."...)
		b = append(append(b, c.Route.ID...), ".user."...)
		b = append(append(b, id...), ".status."...)
		return appendValue(strconv.AppendInt(b, int64(status), 10), 1, m)
	}
	// kindShdict: NGINX shared dictionaries; Turnpike has none.
	return b
}

// appendScope writes the prefix and Kong's scope: `service.<id>` (dots
// in the id become '_', `unnamed` without one) or, for a request no
// route matched, `global.unmatched`.
func (in *instance) appendScope(b []byte, c *plugin.Ctx, m *metric) []byte {
	b = append(append(b, in.prefix...), '.')
	if c.Service == nil {
		return append(b, "global.unmatched"...)
	}
	b = append(b, "service."...)
	id := serviceID(c, m.service)
	if id == "" {
		return append(b, "unnamed"...)
	}
	return appendUnderscored(b, id)
}

func appendUnderscored(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			b = append(b, '_')
		} else {
			b = append(b, s[i])
		}
	}
	return b
}

func appendValue(b []byte, n int64, m *metric) []byte {
	b = strconv.AppendInt(append(b, ':'), n, 10)
	return append(append(b, m.suffix...), '\n')
}

// appendTagged writes a line in tag_style: the stat without a scope, and
// Kong's tags (service, route, workspace, consumer, node, status); a
// request without a service has none.
func (in *instance) appendTagged(b []byte, c *plugin.Ctx, m *metric, v *values) []byte {
	n := m.value(*v)
	if n == -1 {
		return b
	}
	svc := ""
	if c.Service != nil {
		svc = serviceID(c, m.service)
	}
	b = append(append(append(b, in.prefix...), '.'), m.stat...)
	if svc == "" {
		return appendValue(b, n, m)
	}
	sep, open := byte('='), ""
	switch in.tagStyle {
	case "influxdb":
		open = ","
	case "librato":
		open = "#"
	case "signalfx":
		open = "["
	case "dogstatsd":
		b = strconv.AppendInt(append(b, ':'), n, 10)
		b = append(append(b, m.suffix...), "|#"...)
		b = in.appendTags(b, c, m, svc, ':')
		return append(b, '\n')
	}
	b = in.appendTags(append(b, open...), c, m, svc, sep)
	if in.tagStyle == "signalfx" {
		b = append(b, ']')
	}
	return appendValue(b, n, m)
}

func (in *instance) appendTags(b []byte, c *plugin.Ctx, m *metric, svc string, sep byte) []byte {
	tag := func(b []byte, k, v string) []byte {
		return append(append(append(append(b, ','), k...), sep), v...)
	}
	// The first tag has no ',' before it.
	b = append(append(append(b, "service"...), sep), svc...)
	if c.Route != nil {
		route := c.Route.Name
		if route == "" {
			route = c.Route.ID
		}
		if route != "" {
			b = tag(b, "route", route)
		}
	}
	b = tag(b, "workspace", workspace)
	if id := consumerID(c, m.consumer); id != "" {
		b = tag(b, "consumer", id)
	}
	if in.hostname != "" {
		b = tag(b, "node", in.hostname)
	}
	return strconv.AppendInt(append(append(append(b, ','), "status"...), sep), int64(c.Record.Status), 10)
}

func consumerID(c *plugin.Ctx, identifier string) string {
	p := c.Consumer
	if p == nil {
		return ""
	}
	switch identifier {
	case "consumer_id":
		return p.ID
	case "username":
		return p.Username
	}
	return p.CustomID
}

func serviceID(c *plugin.Ctx, identifier string) string {
	s := c.Service
	switch identifier {
	case "service_id":
		return s.ID
	case "service_name":
		return s.Name
	case "service_host":
		return s.Host
	}
	if s.Name != "" {
		return s.Name
	}
	return s.Host
}
