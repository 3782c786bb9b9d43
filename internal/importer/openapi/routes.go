package openapi

import (
	"maps"
	"regexp"
	"slices"
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
		Name:          c.routeName(p, pi, method, op),
		Paths:         []string{re},
		StripPath:     importer.Bool(false),
		RegexPriority: importer.Int(200),
		Fields:        c.defaults("route", levels),
		Tags:          c.tags(),
	}
	if hasParams {
		r.RegexPriority = importer.Int(100)
	}
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
	c.opExtensions(obj, op)
	var svc *importer.Service
	if v, ok := op.Extensions["x-amazon-apigateway-integration"]; ok {
		svc, ok = c.integration(obj, p, v, method, captures, levels, r)
		if !ok {
			return
		}
	} else {
		svc = c.serversService(obj, c.servers(pi, op), c.serviceHint(pi, op), levels)
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
// document's name, or it joined with the path's or operation's name.
func (c *conv) serviceHint(pi *openapi3.PathItem, op *openapi3.Operation) string {
	switch {
	case op.Servers != nil && len(*op.Servers) > 0:
		return c.name + "-" + c.opName(op, "")
	case len(pi.Servers) > 0:
		if n := extString(pi.Extensions, "x-kong-name"); n != "" {
			return c.name + "-" + importer.Slug(n)
		}
	}
	return c.name
}

// opName is the operation's x-kong-name or operationId, or fallback.
func (c *conv) opName(op *openapi3.Operation, fallback string) string {
	if n := extString(op.Extensions, "x-kong-name"); n != "" {
		return importer.Slug(n)
	}
	if op.OperationID != "" {
		return importer.Slug(op.OperationID)
	}
	return fallback
}

// routeName follows openapi2kong: document-opid, or document-path-method
// with the path's slashes as dashes and a trailing slash as `~`.
func (c *conv) routeName(p string, pi *openapi3.PathItem, method string, op *openapi3.Operation) string {
	m := strings.ToLower(method)
	if m == "" {
		m = "any"
	}
	pathName := extString(pi.Extensions, "x-kong-name")
	if pathName == "" {
		trimmed := strings.Trim(p, "/")
		pathName = strings.NewReplacer("/", "-", "{", "", "}", "", "+", "").Replace(trimmed)
		if strings.HasSuffix(p, "/") && trimmed != "" {
			pathName += "~"
		}
	}
	fallback := m
	if pathName = importer.Slug(pathName); pathName != "" {
		fallback = pathName + "-" + m
	}
	return c.cfg.UniqueName(c.name + "-" + c.opName(op, fallback))
}

// pathRegex turns an OpenAPI path into Kong's anchored regex route:
// literal text escaped, each {param} a named group of one segment (AWS's
// greedy {param+} any rest of the path). It returns the groups' names by
// parameter name, and whether there was any.
func pathRegex(p string) (string, map[string]string, bool) {
	var b strings.Builder
	captures := map[string]string{}
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
// does: lower case, other characters underscores, none leading.
func groupName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	g := strings.TrimLeft(b.String(), "_")
	if g == "" || (g[0] >= '0' && g[0] <= '9') {
		g = "p" + g
	}
	return g
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
	validator := extString(op.Extensions, "x-amazon-apigateway-request-validator")
	if validator == "" {
		validator = extString(c.doc.Extensions, "x-amazon-apigateway-request-validator")
	}
	if validator != "" {
		c.warn(obj, "x-amazon-apigateway-request-validator", "%q: request validation is not imported yet (issue 18, request-validator): requests reach the backend unvalidated", validator)
	}
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
