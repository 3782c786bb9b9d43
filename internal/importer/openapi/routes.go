package openapi

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// methods in the order a path item's operations are visited.
var methods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// anyMethod is AWS's operation for every method.
const anyMethod = "x-amazon-apigateway-any-method"

func (c *conv) pathItem(p string, pi *openapi3.PathItem) {
	if pi == nil {
		return
	}
	for _, m := range methods {
		if op := pi.GetOperation(m); op != nil {
			c.operation(p, pi, m, op)
		}
	}
	if v, ok := pi.Extensions[anyMethod]; ok {
		var op openapi3.Operation
		if err := ext(v, &op); err != nil {
			c.warn(c.at("paths."+p), anyMethod, "not an operation: %v", err)
			return
		}
		c.operation(p, pi, "", &op)
	}
}

// operation makes the route of one operation (method "" for AWS's any
// method).
func (c *conv) operation(p string, pi *openapi3.PathItem, method string, op *openapi3.Operation) {
	mname := strings.ToLower(method)
	if method == "" {
		mname = anyMethod
	}
	obj := c.atOp("paths."+p+"."+mname, op)
	levels := []level{{"", c.doc.Extensions}, {"paths." + p, pi.Extensions}, {"paths." + p + "." + mname, op.Extensions}}
	re, captures, hasParams := pathRegex(p)
	r := &importer.Route{
		Name:   c.routeName(p, pi, method, op),
		Paths:  []string{re},
		Fields: c.defaults("route", levels),
		Tags:   c.tags(),
	}
	c.routeDefaults(obj, r, hasParams)
	if method != "" {
		r.Methods = []string{method}
		if c.cors != nil && method != "OPTIONS" {
			r.Methods = append(r.Methods, "OPTIONS")
		}
	}
	auth, ok := c.security(obj, op)
	if !ok {
		return
	}
	r.Plugins = append(r.Plugins, auth...)
	if v := c.requestValidator(obj, pi, op); v != nil {
		r.Plugins = append(r.Plugins, v)
	}
	c.opExtensions(obj, op)
	var svc *importer.Service
	if v, ok := op.Extensions["x-amazon-apigateway-integration"]; ok {
		svc, ok = c.integration(obj, p, v, method, captures, levels, r)
		if !ok {
			return
		}
	} else {
		svc = c.serversService(obj, c.servers(pi, op), c.serviceHint(p, pi, method, op), levels)
		if svc == nil {
			c.warn(obj, "", "no usable server: operation not imported")
			return
		}
	}
	if svc == nil {
		// No service to carry the document's plugins: the route does.
		if c.cors != nil {
			r.Plugins = overlay(r.Plugins, []*importer.Plugin{clonePlugin(c.cors)})
		}
		r.Plugins = overlay(r.Plugins, c.kongPlugins(c.doc.Extensions, ""))
		c.cfg.Routes = append(c.cfg.Routes, r)
	} else {
		svc.Routes = append(svc.Routes, r)
	}
	// openapi2kong's precedence: the operation's x-kong-plugin-* over the
	// path's, both over what the importer derived.
	r.Plugins = overlay(r.Plugins, c.kongPlugins(pi.Extensions, "paths."+p))
	r.Plugins = overlay(r.Plugins, c.kongPlugins(op.Extensions, "paths."+p+"."+mname))
}

// overlay adds over to ps, an instance of over replacing the one of the
// same name (Kong allows one per plugin and scope).
func overlay(ps, over []*importer.Plugin) []*importer.Plugin {
	for _, o := range over {
		i := slices.IndexFunc(ps, func(p *importer.Plugin) bool { return p.Name == o.Name })
		if i >= 0 {
			ps[i] = o
		} else {
			ps = append(ps, o)
		}
	}
	return ps
}

// routeDefaults applies openapi2kong's rules to x-kong-route-defaults:
// strip_path false unless given; regex_priority 200 for a path without
// parameters and 100 with, or the given one, lowered by one with
// parameters so that plain paths still win; the fields the conversion
// sets itself are ignored.
func (c *conv) routeDefaults(obj string, r *importer.Route, hasParams bool) {
	r.StripPath = importer.Bool(false)
	if v, ok := r.Fields["strip_path"].(bool); ok {
		r.StripPath = importer.Bool(v)
	}
	prio := 200
	if v, ok := r.Fields["regex_priority"].(int); ok {
		prio = v
	}
	if hasParams {
		prio--
		if _, given := r.Fields["regex_priority"]; !given {
			prio = 100
		}
	}
	r.RegexPriority = importer.Int(prio)
	for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
		switch k {
		case "strip_path", "regex_priority":
		case "name", "paths", "methods", "service", "plugins", "tags", "id":
			c.warnOnce("route-defaults "+k, obj, "x-kong-route-defaults."+k, "set by the import: ignored")
		default:
			continue
		}
		delete(r.Fields, k)
	}
}

// servers are the innermost servers given: operation, path item, document.
func (c *conv) servers(pi *openapi3.PathItem, op *openapi3.Operation) openapi3.Servers {
	if op.Servers != nil && len(*op.Servers) > 0 {
		return *op.Servers
	}
	if len(pi.Servers) > 0 {
		return pi.Servers
	}
	return c.doc.Servers
}

// serviceHint names the service of the innermost level with servers: the
// document's name, or the path's or the operation's base name.
func (c *conv) serviceHint(p string, pi *openapi3.PathItem, method string, op *openapi3.Operation) string {
	switch {
	case op.Servers != nil && len(*op.Servers) > 0:
		return c.opBase(p, pi, method, op)
	case len(pi.Servers) > 0:
		return c.pathBase(p, pi)
	}
	return c.name
}

// pathBase is openapi2kong's name of a path: the document's name and the
// path's x-kong-name, else the path slugified (a trailing slash as `~`,
// so that /a and /a/ differ).
func (c *conv) pathBase(p string, pi *openapi3.PathItem) string {
	name := slug(extString(pi.Extensions, "x-kong-name"))
	if name == "" {
		name = slug(p)
		if strings.HasSuffix(p, "/") {
			name += "~"
		}
	}
	return joinName(c.name, name)
}

// opBase is openapi2kong's name of an operation: the path's name and the
// operation's x-kong-name, else the document's and the operationId, else
// the path's and the method.
func (c *conv) opBase(p string, pi *openapi3.PathItem, method string, op *openapi3.Operation) string {
	if n := slug(extString(op.Extensions, "x-kong-name")); n != "" {
		return joinName(c.pathBase(p, pi), n)
	}
	if n := slug(op.OperationID); n != "" {
		return joinName(c.name, n)
	}
	if method == "" {
		method = "any"
	}
	return joinName(c.pathBase(p, pi), slug(method))
}

func joinName(a, b string) string {
	if b == "" {
		return a
	}
	return a + "_" + b
}

// routeName is the operation's base name, made unique.
func (c *conv) routeName(p string, pi *openapi3.PathItem, method string, op *openapi3.Operation) string {
	return c.cfg.UniqueName(importer.KindRoute, c.opBase(p, pi, method, op))
}

// slug makes a name as openapi2kong does: lower case, every run of other
// characters than letters and digits one dash, none at the ends. (It
// also transliterates non-Latin letters, which are dashes here.)
func slug(s string) string {
	return squeeze(strings.ToLower(s), '-')
}

// squeeze keeps [a-z0-9] (and sep), turns every run of other characters
// into one sep, and trims sep at both ends.
func squeeze(s string, sep byte) string {
	var b strings.Builder
	pending := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') {
			if pending && b.Len() > 0 {
				b.WriteByte(sep)
			}
			pending = false
			b.WriteByte(ch)
			continue
		}
		pending = true
	}
	return b.String()
}

// pathRegex turns an OpenAPI path into Kong's anchored regex route:
// literal text escaped, each {param} a named group of one segment (AWS's
// greedy {param+} the rest of the path). It returns the groups' names by
// parameter name, and whether there was any. (openapi2kong lets a
// parameter with minLength: 0 be empty; kin-openapi cannot tell an absent
// minLength from 0, so every parameter needs a character here.)
func pathRegex(p string) (string, map[string]string, bool) {
	var b strings.Builder
	captures := map[string]string{}
	used := map[string]bool{}
	b.WriteString("~")
	for len(p) > 0 {
		i := strings.IndexByte(p, '{')
		j := strings.IndexByte(p[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(regexp.QuoteMeta(p))
			break
		}
		b.WriteString(regexp.QuoteMeta(p[:i]))
		name := p[i+1 : i+j]
		greedy := strings.HasSuffix(name, "+")
		name = strings.TrimSuffix(name, "+")
		group := groupName(name)
		// Names that differ only in case or punctuation ({id}, {ID})
		// would make one group twice: uri_captures would then name the
		// wrong segment.
		for i, base := 2, group; used[group]; i++ {
			group = base + "_" + strconv.Itoa(i)
		}
		used[group] = true
		captures[name] = group
		b.WriteString("(?<" + group + ">")
		if greedy {
			b.WriteString(".+)")
		} else {
			b.WriteString("[^#?/]+)")
		}
		p = p[i+j+1:]
	}
	b.WriteString("$")
	return b.String(), captures, len(captures) > 0
}

// groupName makes a parameter name a regex group name as openapi2kong
// does: lower case, every run of other characters than letters and
// digits one underscore, none at the ends.
func groupName(name string) string {
	if g := squeeze(strings.ToLower(name), '_'); g != "" {
		return g
	}
	return "param"
}

// kongPlugins reads the x-kong-plugin-NAME extensions of one level.
func (c *conv) kongPlugins(exts map[string]any, where string) []*importer.Plugin {
	var out []*importer.Plugin
	for _, k := range slices.Sorted(maps.Keys(exts)) {
		name, ok := strings.CutPrefix(k, "x-kong-plugin-")
		if !ok {
			continue
		}
		m, err := extMap(exts[k])
		if err != nil {
			c.warnOnce(where+k, c.at(where), k, "not an object: plugin not imported")
			continue
		}
		p := &importer.Plugin{Name: name, Tags: c.tags()}
		if cfg, ok := m["config"].(map[string]any); ok {
			p.Config = cfg
		}
		for f, v := range m {
			switch f {
			case "config", "name":
			case "tags":
				c.warnOnce(where+k+".tags", c.at(where), k+".tags", "replaced by the import's tags")
			default:
				if p.Fields == nil {
					p.Fields = importer.Fields{}
				}
				p.Fields[f] = v
			}
		}
		out = append(out, p)
	}
	return out
}

// opExtensions warns about an operation's AWS extensions not imported.
func (c *conv) opExtensions(obj string, op *openapi3.Operation) {
	for _, k := range slices.Sorted(maps.Keys(op.Extensions)) {
		switch k {
		case "x-amazon-apigateway-integration", "x-amazon-apigateway-request-validator", "x-kong-name":
		default:
			if strings.HasPrefix(k, "x-amazon-apigateway-") {
				c.warn(obj, k, "not imported: Turnpike has no equivalent")
			}
		}
	}
}
