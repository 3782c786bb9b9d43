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

// Check judges req by each criterion of route (an index into the []Route
// given to New) separately. It is for explaining a routing decision, not
// for the proxy's path: it scans every entry.
func (r *Router) Check(route int, req *Request) RouteCheck {
	out := RouteCheck{Path: -1}
	var crit *criteria
	for i := range r.entries {
		e := &r.entries[i]
		if e.route != route {
			continue
		}
		crit = e.crit
		if e.path < 0 {
			continue
		}
		if out.Paths == Unset {
			out.Paths = Fail
		}
		if (out.Path < 0 || e.path < out.Path) && e.matchPath(req.Path) {
			out.Path, out.Paths = e.path, Pass
		}
	}
	if crit == nil {
		return out
	}
	name, port := SplitHost(req.Host)
	out.Methods = verdict(len(crit.methods) > 0, crit.matchMethod(req.Method))
	out.Hosts = verdict(len(crit.hosts) > 0, crit.matchHost(name, port))
	out.SNIs = verdict(len(crit.snis) > 0, crit.matchSNI(req.SNI))
	if len(crit.headers) > 0 {
		out.Headers = Pass
		for k := range crit.headers {
			if crit.matchHeader(k, req.Header) {
				continue
			}
			if out.HeaderFailed == nil {
				out.Headers, out.HeaderFailed = Fail, make([]bool, len(crit.headers))
			}
			out.HeaderFailed[k] = true
		}
	}
	return out
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
