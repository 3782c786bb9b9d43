package istio

import (
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// binding is what a VirtualService's Gateways say about its routes.
type binding struct {
	httpsOnly bool // a server of a bound Gateway redirects HTTP to HTTPS
	// mutual are the MUTUAL servers of the bound Gateways that take the
	// VirtualService's hosts.
	mutual []mutualServer
	// auth is clientAuthFor's answer by host, so that a conflict is
	// warned once.
	auth map[string]clientAuth
}

// mutualServer is a MUTUAL server as a VirtualService sees it.
type mutualServer struct {
	hosts []string // the server's hosts the VirtualService's namespace sees
	auth  clientAuth
	where string // its Gateway and index, for warnings
}

// bind resolves spec.gateways; ok is false for mesh-only routing.
func (c *conv) bind(vs *virtualService) (binding, bool) {
	b := binding{auth: map[string]clientAuth{}}
	edge := false
	for i, name := range vs.Spec.Gateways {
		if name == "mesh" {
			continue
		}
		edge = true
		ns, gname, ok := strings.Cut(name, "/")
		if !ok {
			ns, gname = vs.ns(), name
		}
		g := c.objs.gateways[ns+"/"+gname]
		if g == nil {
			c.ws.Add(vs.id(), fmt.Sprintf("spec.gateways[%d]", i), "Gateway %s/%s is not in the input: its TLS and httpsRedirect are not imported, the routes serve every listener", ns, gname)
			continue
		}
		for j, s := range g.Spec.Servers {
			if !c.serves(s, vs) {
				continue
			}
			if s.TLS != nil && s.TLS.HTTPSRedirect {
				b.httpsOnly = true
			}
			if ca, ok := c.objs.clientAuth[ns+"/"+gname][j]; ok {
				b.mutual = append(b.mutual, mutualServer{hosts: visibleHosts(s, vs), auth: ca, where: fmt.Sprintf("%s spec.servers[%d]", g.id(), j)})
			}
		}
	}
	if !edge {
		c.ws.Add(vs.id(), "spec.gateways", "bound to no Gateway (mesh only): east-west routing, not imported")
	}
	return b, edge
}

// serves reports whether a Gateway server takes one of the VirtualService's hosts.
func (c *conv) serves(s server, vs *virtualService) bool {
	for _, h := range visibleHosts(s, vs) {
		for _, vh := range vs.Spec.Hosts {
			if hostMatch(h, vh) || hostMatch(vh, h) {
				return true
			}
		}
	}
	return false
}

// visibleHosts are the hosts of a Gateway server open to the
// VirtualService's namespace.
func visibleHosts(s server, vs *virtualService) []string {
	var out []string
	for _, sh := range s.Hosts {
		if ns, h := splitNS(sh); ns == "*" || ns == "." || ns == vs.ns() {
			out = append(out, h)
		}
	}
	return out
}

// clientAuthFor is the client certificate check of the routes of host
// ("*" for every host): none when no MUTUAL server takes it, the CAs of
// those that do when they agree, and deny when one has no known CA or two
// verify with different CAs: a route cannot tell which server a request
// came through, and the union would let one host's clients into the other.
func (c *conv) clientAuthFor(vs *virtualService, b binding, host string) clientAuth {
	if a, ok := b.auth[host]; ok {
		return a
	}
	var (
		a     clientAuth
		from  string
		found bool
	)
	for _, m := range b.mutual {
		if !slices.ContainsFunc(m.hosts, func(sh string) bool { return hostMatch(sh, host) || hostMatch(host, sh) }) {
			continue
		}
		switch {
		case m.auth.deny:
			a = clientAuth{deny: true}
		case !found:
			a, from = m.auth, m.where
		case !a.deny && !a.same(m.auth):
			c.ws.Add(vs.id(), "spec.hosts", "%s: %s and %s verify its client certificates with different CAs, which one route cannot tell apart: its routes answer 503",
				host, from, m.where)
			a = clientAuth{deny: true}
		}
		found = true
	}
	b.auth[host] = a
	return a
}

// hostMatch reports whether pattern (a name, *.suffix or *) takes host.
func hostMatch(pattern, host string) bool {
	if pattern == "*" || pattern == host {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix)
	}
	return false
}

func (c *conv) virtualService(vs *virtualService) {
	b, ok := c.bind(vs)
	if !ok {
		return
	}
	if len(vs.Spec.TCP) > 0 || len(vs.Spec.TLS) > 0 {
		c.ws.Add(vs.id(), "spec.tcp/tls", "TCP and TLS routes are not imported")
	}
	var hosts []string
	for i, h := range vs.Spec.Hosts {
		switch {
		case h == "*":
		case validHost(strings.TrimPrefix(h, "*.")):
			hosts = append(hosts, h)
		default:
			c.ws.Add(vs.id(), fmt.Sprintf("spec.hosts[%d]", i), "%q is not a host name: VirtualService not imported", h)
			return
		}
	}
	c.earlier = c.earlier[:0]
	for i, hr := range vs.Spec.HTTP {
		field := fmt.Sprintf("spec.http[%d]", i)
		label := strconv.Itoa(i)
		if hr.Name != "" {
			label = hr.Name
		}
		r := &httpConv{c: c, vs: vs, hr: &hr, field: field, hosts: hosts, b: b, index: i,
			base: importer.Slug(vs.Metadata.Name + "." + vs.ns() + "." + label)}
		r.run()
	}
}

// match is one Kong route's matching fields, from one HTTPMatchRequest.
type match struct {
	name    string
	hosts   []string
	paths   []string
	prefix  bool // the path is a prefix (strip_path applies)
	methods []string
	headers map[string][]string
	field   string // where in the VirtualService
}

// matches converts spec.http[i].match; a match block with a condition Kong
// routes cannot express is left out (importing it without the condition
// would send it traffic it never had).
func (r *httpConv) matches() []match {
	if len(r.hr.Match) == 0 {
		return []match{{hosts: r.hosts, paths: []string{"/"}, prefix: true, field: r.field}}
	}
	var out []match
	for j, m := range r.hr.Match {
		f := fmt.Sprintf("%s.match[%d]", r.field, j)
		km, why, msg := r.match(m)
		if why != "" {
			if msg == "" {
				msg = "no Kong route equivalent"
			}
			r.c.ws.Add(r.vs.id(), f+why, "%s: this match is not imported", msg)
			continue
		}
		km.name, km.field = m.Name, f
		out = append(out, km)
	}
	return out
}

// match converts one HTTPMatchRequest; why is the field (after the
// match's path) that cannot be converted, msg why not when it is an
// input mistake rather than a condition Kong routes lack.
func (r *httpConv) match(m httpMatch) (km match, why, msg string) {
	km = match{hosts: r.hosts, paths: []string{"/"}, prefix: true}
	switch {
	case len(m.QueryParams) > 0:
		return km, ".queryParams", ""
	case len(m.WithoutHeaders) > 0:
		return km, ".withoutHeaders", ""
	case m.Port != 0, len(m.SourceLabels) > 0, m.SourceNamespace != "", len(m.Gateways) > 0, m.Scheme != nil:
		return km, " (port, scheme, sourceLabels, sourceNamespace or gateways)", ""
	}
	if m.URI != nil {
		p, prefix, ok := uriPath(*m.URI, m.IgnoreURICase)
		if !ok {
			return km, ".uri", ""
		}
		km.paths, km.prefix = []string{p}, prefix
	}
	if m.Method != nil {
		if m.Method.Exact == nil {
			return km, ".method", ""
		}
		method := strings.ToUpper(*m.Method.Exact)
		if !methodName.MatchString(method) {
			return km, ".method", fmt.Sprintf("%q is not a method", *m.Method.Exact)
		}
		km.methods = []string{method}
	}
	if m.Authority != nil {
		if m.Authority.Exact == nil {
			return km, ".authority", ""
		}
		h := *m.Authority.Exact
		if !validHost(h) {
			return km, ".authority", fmt.Sprintf("%q is not a host name", h)
		}
		if len(km.hosts) > 0 && !slices.ContainsFunc(km.hosts, func(p string) bool { return hostMatch(p, h) }) {
			return km, ".authority", "outside the VirtualService's hosts"
		}
		km.hosts = []string{h}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		switch {
		case strings.EqualFold(name, "host") || name == ":authority":
			return km, ".headers." + name, "match the host with authority (Kong routes match it by hosts)"
		case !headerName.MatchString(name):
			return km, ".headers." + name, "not a header name"
		}
		v, ok := headerValue(m.Headers[name])
		if !ok {
			return km, ".headers." + name, ""
		}
		if km.headers == nil {
			km.headers = map[string][]string{}
		}
		km.headers[name] = []string{v}
	}
	return km, "", ""
}

var (
	methodName = regexp.MustCompile(`^[A-Z]+$`)
	// headerName is an HTTP field name (RFC 9110's token).
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// uriPath turns an Istio URI match into a Kong path: a prefix stays a
// prefix, exact and regex become anchored regex paths (Istio's regex
// matches the whole path, RE2 as Kong's router here). Kong's regex paths
// start with a slash, so a regex must too, outside any alternation.
func uriPath(m stringMatch, fold bool) (string, bool, bool) {
	flags := ""
	if fold {
		flags = "(?i)"
	}
	switch {
	case m.Exact != nil && strings.HasPrefix(*m.Exact, "/"):
		return "~/" + flags + regexp.QuoteMeta((*m.Exact)[1:]) + "$", false, true
	case m.Prefix != nil && strings.HasPrefix(*m.Prefix, "/"):
		if fold {
			return "~/" + flags + regexp.QuoteMeta((*m.Prefix)[1:]), true, true
		}
		return *m.Prefix, true, true
	case m.Regex != nil:
		re, ok := slashFirst(*m.Regex)
		if !ok {
			return "", false, false
		}
		return "~/" + flags + "(?:" + re + ")$", false, true
	}
	return "", false, false
}

// slashFirst returns the regex after its leading slash, when every
// match of it starts with one: the parser factors "/a|/b" into "/[a-b]",
// whose written form then starts with the slash.
func slashFirst(re string) (string, bool) {
	t, err := syntax.Parse(strings.TrimSuffix(strings.TrimPrefix(re, "^"), "$"), syntax.Perl)
	if err != nil {
		return "", false
	}
	lead := t
	if t.Op == syntax.OpConcat && len(t.Sub) > 0 {
		lead = t.Sub[0]
	}
	if lead.Op != syntax.OpLiteral || len(lead.Rune) == 0 || lead.Rune[0] != '/' || lead.Flags&syntax.FoldCase != 0 {
		return "", false
	}
	s := t.String()
	if !strings.HasPrefix(s, "/") {
		return "", false
	}
	return s[1:], true
}

// headerValue is a Kong header match: exact values as they are, the rest
// as Kong's `~*` regex values.
func headerValue(m stringMatch) (string, bool) {
	switch {
	case m.Exact != nil && !strings.HasPrefix(*m.Exact, "~*"):
		return *m.Exact, true
	case m.Prefix != nil:
		return "~*^" + regexp.QuoteMeta(*m.Prefix), true
	case m.Regex != nil:
		if _, err := regexp.Compile(*m.Regex); err != nil {
			return "", false
		}
		return "~*^(?:" + *m.Regex + ")$", true
	}
	return "", false
}

// shadowed reports (and warns) a match Istio never sends a request to.
// Istio tries the http routes in order; Kong prefers the longest prefix
// (and regex routes by their regex_priority, which the import sets in
// Istio's order). A prefix match an earlier one takes whole (a shorter or
// equal prefix, and no condition the later lacks) gets no traffic in
// Istio, but would take it from the earlier one in Kong (a `/` answering
// 403 before an `/admin` would no longer guard /admin): it is left out.
func (c *conv) shadowed(vs *virtualService, route string, m match) bool {
	if !m.prefix || strings.HasPrefix(m.paths[0], "~") {
		return false
	}
	for _, e := range c.earlier {
		sameRoute := e.field == route || strings.HasPrefix(e.field, route+".")
		if !sameRoute && covers(e, m) {
			c.ws.Add(vs.id(), m.field, "%s (prefix %s) takes every request of this match (prefix %s) first in Istio, where it gets none: not imported (Kong would route them here, by the longest prefix)",
				e.field, e.paths[0], m.paths[0])
			return true
		}
	}
	c.earlier = append(c.earlier, m)
	return false
}

// covers reports whether every request m matches also matches e.
func covers(e, m match) bool {
	if !strings.HasPrefix(m.paths[0], e.paths[0]) {
		return false
	}
	if len(e.methods) > 0 && (len(m.methods) == 0 || !slices.Contains(e.methods, m.methods[0])) {
		return false
	}
	for k, v := range e.headers {
		if mv, ok := m.headers[k]; !ok || !slices.Equal(mv, v) {
			return false
		}
	}
	if len(e.hosts) == 0 {
		return true
	}
	for _, h := range m.hosts {
		if !slices.ContainsFunc(e.hosts, func(p string) bool { return hostMatch(p, h) }) {
			return false
		}
	}
	return len(m.hosts) > 0
}
