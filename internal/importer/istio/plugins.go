package istio

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// plugins converts what the route does besides routing; answers is true
// when a plugin answers every request (redirect, abort), so the route
// needs no service. ok is false when the route is not imported.
func (r *httpConv) plugins() (ps []*importer.Plugin, answers, ok bool) {
	hr := r.hr
	if hr.Redirect != nil {
		p, ok := r.redirect()
		if !ok {
			return nil, false, false
		}
		ps = append(ps, p)
		answers = true
	}
	if f := hr.Fault; f != nil {
		if f.Delay != nil {
			r.c.ws.Add(r.vs.id(), r.field+".fault.delay", "delay injection is not imported")
		}
		if a := f.Abort; a != nil {
			switch {
			case a.HTTPStatus < 200 || a.HTTPStatus > 599:
				r.c.ws.Add(r.vs.id(), r.field+".fault.abort", "only httpStatus 200-599 is imported: abort not imported")
			case a.Percentage != nil && a.Percentage.Value < 100:
				r.c.ws.Add(r.vs.id(), r.field+".fault.abort.percentage", "request-termination answers every request, not %v%%: abort not imported", a.Percentage.Value)
			case !answers:
				ps = append(ps, &importer.Plugin{Name: "request-termination", Config: map[string]any{"status_code": a.HTTPStatus}})
				answers = true
			default:
				r.c.ws.Add(r.vs.id(), r.field+".fault.abort", "the route already answers with its redirect: abort not imported")
			}
		}
	}
	if mp := r.mirror(); mp != nil {
		ps = append(ps, mp)
	}
	if hr.CorsPolicy != nil {
		ps = append(ps, r.cors(hr.CorsPolicy))
	}
	if hr.Headers != nil {
		if h := hr.Headers.Request; h != nil {
			ps = append(ps, r.transformer("request-transformer", h, r.field+".headers.request"))
		}
		if h := hr.Headers.Response; h != nil {
			ps = append(ps, r.transformer("response-transformer", h, r.field+".headers.response"))
		}
	}
	if rw := hr.Rewrite; rw != nil {
		if rw.URIRegexRewrite != nil {
			r.c.ws.Add(r.vs.id(), r.field+".rewrite.uriRegexRewrite", "not imported")
		}
		if rw.Authority != "" {
			ps = withHost(ps, rw.Authority)
		}
	}
	return ps, answers, true
}

func (r *httpConv) redirect() (*importer.Plugin, bool) {
	rd := r.hr.Redirect
	host := rd.Authority
	if host == "" {
		if len(r.hosts) != 1 || !validHost(r.hosts[0]) {
			r.c.ws.Add(r.vs.id(), r.field+".redirect", "no authority and not one VirtualService host: Kong's redirect needs a host, route not imported")
			return nil, false
		}
		host = r.hosts[0]
	}
	scheme := rd.Scheme
	if scheme == "" {
		scheme = "http"
		if r.b.httpsOnly {
			scheme = "https"
		}
	}
	if !validHost(host) {
		r.c.ws.Add(r.vs.id(), r.field+".redirect.authority", "not a host name: route not imported")
		return nil, false
	}
	if rd.Port > 0 && rd.Port < 65536 {
		host = net.JoinHostPort(host, strconv.Itoa(rd.Port))
	}
	if rd.DerivePort != "" {
		r.c.ws.Add(r.vs.id(), r.field+".redirect.derivePort", "not imported")
	}
	code := rd.RedirectCode
	if code == 0 {
		code = 301
	}
	if code < 300 || code > 399 {
		r.c.ws.Add(r.vs.id(), r.field+".redirect.redirectCode", "%d is not a redirect status (300-399): route not imported", code)
		return nil, false
	}
	cfg := map[string]any{"status_code": code, "location": scheme + "://" + host + rd.URI}
	if rd.URI == "" {
		cfg["keep_incoming_path"] = true
	}
	return &importer.Plugin{Name: "redirect", Config: cfg}, true
}

// mirror keeps the first mirror: Kong takes one plugin of a name per route.
func (r *httpConv) mirror() *importer.Plugin {
	type m struct {
		d   destination
		pct *percent
		f   string
	}
	var all []m
	if r.hr.Mirror != nil {
		all = append(all, m{*r.hr.Mirror, r.hr.MirrorPercentage, r.field + ".mirror"})
	}
	for i, x := range r.hr.Mirrors {
		all = append(all, m{x.Destination, x.Percentage, fmt.Sprintf("%s.mirrors[%d]", r.field, i)})
	}
	if len(all) == 0 {
		return nil
	}
	for _, x := range all[1:] {
		r.c.ws.Add(r.vs.id(), x.f, "one mirror per route: not imported")
	}
	host, port := r.destination(all[0].d, all[0].f+".destination")
	if host == "" {
		r.c.ws.Add(r.vs.id(), all[0].f+".host", "not a host name: mirror not imported")
		return nil
	}
	cfg := map[string]any{"mirror_url": "http://" + net.JoinHostPort(host, strconv.Itoa(port))}
	if all[0].pct != nil {
		cfg["percentage"] = min(max(all[0].pct.Value, 0), 100)
	}
	return &importer.Plugin{Name: "request-mirror", Config: cfg}
}

// literalOrigin is what Kong's cors takes as a plain origin; anything
// else it reads as a regex.
var literalOrigin = regexp.MustCompile(`^[A-Za-z0-9.:/-]+$`)

func (r *httpConv) cors(p *corsPolicy) *importer.Plugin {
	var origins []any
	for _, o := range p.AllowOrigin {
		origins = append(origins, o)
	}
	for i, o := range p.AllowOrigins {
		switch {
		case o.Exact != nil && literalOrigin.MatchString(*o.Exact):
			origins = append(origins, *o.Exact)
		case o.Exact != nil:
			origins = append(origins, regexp.QuoteMeta(*o.Exact))
		case o.Prefix != nil:
			origins = append(origins, regexp.QuoteMeta(*o.Prefix)+".*")
		case o.Regex != nil:
			if _, err := regexp.Compile(*o.Regex); err != nil {
				r.c.ws.Add(r.vs.id(), fmt.Sprintf("%s.corsPolicy.allowOrigins[%d].regex", r.field, i), "not a regular expression the gateway takes (%v): not imported", err)
				continue
			}
			origins = append(origins, *o.Regex)
		default:
			r.c.ws.Add(r.vs.id(), fmt.Sprintf("%s.corsPolicy.allowOrigins[%d]", r.field, i), "empty match: not imported")
		}
	}
	cfg := map[string]any{}
	if len(origins) > 0 {
		cfg["origins"] = origins
	}
	list := func(key string, vs []string) {
		if len(vs) > 0 {
			cfg[key] = importer.Anys(vs)
		}
	}
	list("methods", p.AllowMethods)
	list("headers", p.AllowHeaders)
	list("exposed_headers", p.ExposeHeaders)
	if p.AllowCredentials != nil {
		cfg["credentials"] = *p.AllowCredentials
	}
	if p.MaxAge != "" {
		if d, err := time.ParseDuration(p.MaxAge); err == nil && d >= 0 {
			cfg["max_age"] = int(d / time.Second)
		} else {
			r.c.ws.Add(r.vs.id(), r.field+".corsPolicy.maxAge", "%q is not a duration: not imported", p.MaxAge)
		}
	}
	return &importer.Plugin{Name: "cors", Config: cfg}
}

// transformer maps set (replace, or add when absent), add (append) and
// remove to Kong's transformer of that name; a name that is no header
// name, or a value that cannot be sent, is warned and left out.
func (r *httpConv) transformer(name string, h *headerOps, field string) *importer.Plugin {
	cfg := map[string]any{}
	var remove []string
	pair := func(op string, m map[string]string) []string {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch {
			case !headerName.MatchString(k):
				r.c.ws.Add(r.vs.id(), field+"."+op+"."+k, "not a header name: not imported")
			case strings.ContainsAny(m[k], "\r\n\x00"):
				r.c.ws.Add(r.vs.id(), field+"."+op+"."+k, "a value with a line break or NUL: not imported")
			default:
				out = append(out, k+":"+m[k])
			}
		}
		return out
	}
	set, add := pair("set", h.Set), pair("add", h.Add)
	for i, k := range h.Remove {
		if !headerName.MatchString(k) {
			r.c.ws.Add(r.vs.id(), fmt.Sprintf("%s.remove[%d]", field, i), "not a header name: not imported")
			continue
		}
		remove = append(remove, k)
	}
	put := func(op string, vs []string) {
		if len(vs) > 0 {
			m, _ := cfg[op].(map[string]any)
			if m == nil {
				m = map[string]any{}
				cfg[op] = m
			}
			m["headers"] = importer.Anys(vs)
		}
	}
	put("replace", set)
	put("add", set)
	put("append", add)
	put("remove", slices.Sorted(slices.Values(remove)))
	return &importer.Plugin{Name: name, Config: cfg}
}

// withHost makes the request-transformer send authority as the Host.
func withHost(ps []*importer.Plugin, authority string) []*importer.Plugin {
	p, ps := requestTransformer(ps)
	rep, _ := p.Config["replace"].(map[string]any)
	if rep == nil {
		rep = map[string]any{}
		p.Config["replace"] = rep
	}
	hs, _ := rep["headers"].([]any)
	rep["headers"] = append(hs, "host:"+authority)
	return ps
}

// withURI returns a copy of ps whose request-transformer replaces the
// path (routes of one service may differ in this).
func withURI(ps []*importer.Plugin, uri string) []*importer.Plugin {
	out := make([]*importer.Plugin, 0, len(ps)+1)
	for _, p := range ps {
		if p.Name == "request-transformer" {
			cp := *p
			cp.Config = map[string]any{}
			for k, v := range p.Config {
				cp.Config[k] = v
			}
			p = &cp
		}
		out = append(out, p)
	}
	p, out := requestTransformer(out)
	rep, _ := p.Config["replace"].(map[string]any)
	nrep := map[string]any{"uri": uri}
	for k, v := range rep {
		nrep[k] = v
	}
	p.Config["replace"] = nrep
	return out
}

func requestTransformer(ps []*importer.Plugin) (*importer.Plugin, []*importer.Plugin) {
	for _, p := range ps {
		if p.Name == "request-transformer" {
			return p, ps
		}
	}
	p := &importer.Plugin{Name: "request-transformer", Config: map[string]any{}}
	return p, append(ps, p)
}
