package router

import (
	"net/http"
	"strings"
)

// Verdict is how one criterion of a route judges a request.
type Verdict uint8

const (
	// Unset: the route does not have the criterion.
	Unset Verdict = iota
	Pass
	Fail
)

func verdict(set, ok bool) Verdict {
	switch {
	case !set:
		return Unset
	case ok:
		return Pass
	}
	return Fail
}

// RouteCheck is how each criterion of one route judges a request, by the
// checks Match makes. Match needs them all at once; a check shows which
// ones stood in the way, to explain a near miss.
type RouteCheck struct {
	// Path is the index in Route.Paths of the first path (in configuration
	// order) that matches the request path; -1 when none does or the route
	// has no paths.
	Path                                 int
	Paths, Methods, Hosts, Headers, SNIs Verdict
	// HeaderFailed[k] is set when Route.Headers[k] took no value of the
	// request; nil unless Headers is Fail.
	HeaderFailed []bool
}

// Matches reports whether the route matches the request: it has a
// criterion and every one it has passes. A route without criteria never
// matches.
func (c *RouteCheck) Matches() bool {
	set := false
	for _, v := range [...]Verdict{c.Paths, c.Methods, c.Hosts, c.Headers, c.SNIs} {
		if v == Fail {
			return false
		}
		set = set || v == Pass
	}
	return set
}

// Check judges req by each criterion of every route separately; the
// result is indexed like the []Route given to New. It is for explaining a
// routing decision, not for the proxy's path: it visits every entry.
func (r *Router) Check(req *Request) []RouteCheck {
	out := make([]RouteCheck, r.routes)
	crits := make([]*criteria, r.routes)
	for i := range out {
		out[i].Path = -1
	}
	for i := range r.entries {
		e := &r.entries[i]
		c := &out[e.route]
		crits[e.route] = e.crit
		if e.path < 0 {
			continue
		}
		if c.Paths == Unset {
			c.Paths = Fail
		}
		if (c.Path < 0 || e.path < c.Path) && e.matchPath(req.Path) {
			c.Path, c.Paths = e.path, Pass
		}
	}
	name, port := SplitHost(req.Host)
	for i, crit := range crits {
		if crit != nil {
			crit.check(&out[i], req, name, port)
		}
	}
	return out
}

// check fills c's verdicts on everything but the path; name and port are
// req's host as SplitHost splits it.
func (crit *criteria) check(c *RouteCheck, req *Request, name, port string) {
	c.Methods = verdict(len(crit.methods) > 0, crit.matchMethod(req.Method))
	c.Hosts = verdict(len(crit.hosts) > 0, crit.matchHost(name, port))
	c.SNIs = verdict(len(crit.snis) > 0, crit.matchSNI(req.SNI))
	if len(crit.headers) == 0 {
		return
	}
	c.Headers = Pass
	for k := range crit.headers {
		if crit.matchHeader(k, req.Header) {
			continue
		}
		if c.HeaderFailed == nil {
			c.Headers, c.HeaderFailed = Fail, make([]bool, len(crit.headers))
		}
		c.HeaderFailed[k] = true
	}
}

// matchPath checks the entry's path without the tree walk.
func (e *entry) matchPath(path string) bool {
	if e.re != nil {
		return e.re.MatchString(path)
	}
	return strings.HasPrefix(path, e.prefix)
}

// The match* methods below are each one criterion's check, shared by Match
// and Check; they assume the route has the criterion.

func (c *criteria) matchMethod(method string) bool {
	for _, v := range c.methods {
		if v == method {
			return true
		}
	}
	return false
}

// matchHost takes the request host as SplitHost splits it.
func (c *criteria) matchHost(name, port string) bool {
	for i := range c.hosts {
		if c.hosts[i].match(name, port) {
			return true
		}
	}
	return false
}

func (c *criteria) matchSNI(sni string) bool {
	if len(sni) > 1 && sni[len(sni)-1] == '.' {
		sni = sni[:len(sni)-1]
	}
	for _, s := range c.snis {
		if strings.EqualFold(s, sni) {
			return true
		}
	}
	return false
}

func (c *criteria) matchHeaders(h http.Header) bool {
	for k := range c.headers {
		if !c.matchHeader(k, h) {
			return false
		}
	}
	return true
}

// matchHeader checks the route's k-th header.
func (c *criteria) matchHeader(k int, h http.Header) bool {
	hm := &c.headers[k]
	for _, g := range h[hm.key] {
		for _, v := range hm.values {
			if strings.EqualFold(g, v) {
				return true
			}
		}
		for _, re := range hm.regexes {
			if re.MatchString(g) {
				return true
			}
		}
	}
	return false
}
