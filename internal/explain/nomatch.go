package explain

import (
	"fmt"
	"net/http"
	"net/textproto"
	"regexp"
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// noMatch explains a 404 and lists the routes that came closest: those one
// of whose paths matches the request path (or that have no paths) but where
// methods, hosts, headers or snis did not. These per-criterion checks mirror
// the router's; they run only here, never on the proxy's path.
func (e *explainer) noMatch(req *router.Request) *NoMatch {
	nm := &NoMatch{
		Status:  http.StatusNotFound,
		Message: "no Route matched with those values",
		Explanation: "no route accepts this method, host, path, headers and SNI together; " +
			"the proxy answers 404 with Kong's message",
	}
	type ranked struct {
		miss  NearMiss
		order int
	}
	var found []ranked
	if e.snap.Model == nil {
		return nm
	}
	for i, re := range e.snap.Model.Routes {
		miss, pathOK := nearMiss(re.Route, req)
		if !pathOK {
			continue
		}
		if !snapshot.RouteEnabled(re) {
			miss.Failed = append(miss.Failed, "service")
			miss.Details = append(miss.Details, disabledDetail(re))
		}
		if len(miss.Failed) == 0 {
			continue
		}
		miss.Route = e.routeRef(i)
		found = append(found, ranked{miss, i})
	}
	sort.SliceStable(found, func(a, b int) bool {
		return len(found[a].miss.Failed) < len(found[b].miss.Failed)
	})
	for _, f := range found {
		nm.Closest = append(nm.Closest, f.miss)
	}
	if len(nm.Closest) == 0 {
		nm.Explanation += "; no route has a path matching " + req.Path
	}
	return nm
}

// disabledMatches are notes on the routes of disabled services that would
// match req: the router leaves them out, so another route or a 404 answers.
func (e *explainer) disabledMatches(req *router.Request) []string {
	if e.snap.Model == nil {
		return nil
	}
	var notes []string
	for i, re := range e.snap.Model.Routes {
		if snapshot.RouteEnabled(re) {
			continue
		}
		if miss, pathOK := nearMiss(re.Route, req); pathOK && len(miss.Failed) == 0 {
			notes = append(notes, "route "+e.routeRef(i).Label()+" would match, but "+disabledDetail(re))
		}
	}
	return notes
}

func disabledDetail(re *config.RouteEntry) string {
	return "service " + re.Service.Label() + " is disabled (enabled: false): its routes are left out of the router, as in Kong"
}

// nearMiss checks r against req criterion by criterion. pathOK is false
// when no path of r matches (or r has no criteria at all, so it never
// matches); with pathOK and no failed criterion, r matches req.
func nearMiss(r *config.Route, req *router.Request) (m NearMiss, pathOK bool) {
	if len(r.Paths) > 0 {
		matched := false
		for _, p := range r.Paths {
			if pathMatches(p, req.Path) {
				m.Path, matched = p, true
				break
			}
		}
		if !matched {
			return m, false
		}
	} else if len(r.Methods)+len(r.Hosts)+len(r.Headers)+len(r.SNIs) == 0 {
		return m, false
	}
	fail := func(criterion, detail string) {
		m.Failed = append(m.Failed, criterion)
		m.Details = append(m.Details, detail)
	}
	if len(r.Methods) > 0 && !methodMatches(r.Methods, req.Method) {
		fail("methods", fmt.Sprintf("method %s is not one of %s", req.Method, strings.Join(r.Methods, ", ")))
	}
	if len(r.Hosts) > 0 && !hostsMatch(r.Hosts, req.Host) {
		fail("hosts", fmt.Sprintf("host %s matches none of %s", req.Host, strings.Join(r.Hosts, ", ")))
	}
	if len(r.Headers) > 0 {
		names := make([]string, 0, len(r.Headers))
		for name := range r.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		var bad []string
		for _, name := range names {
			want := r.Headers[name]
			got := req.Header[textproto.CanonicalMIMEHeaderKey(name)]
			if headerMatches(want, got) {
				continue
			}
			if len(got) == 0 {
				bad = append(bad, fmt.Sprintf("header %s is missing (want %s)", name, strings.Join(want, " or ")))
			} else {
				bad = append(bad, fmt.Sprintf("header %s is %q (want %s)", name, strings.Join(got, ", "), strings.Join(want, " or ")))
			}
		}
		if len(bad) > 0 {
			fail("headers", strings.Join(bad, "; "))
		}
	}
	if len(r.SNIs) > 0 && !sniMatches(r.SNIs, req.SNI) {
		if req.SNI == "" {
			fail("snis", fmt.Sprintf("no SNI (plain http or an IP address), want %s", strings.Join(r.SNIs, ", ")))
		} else {
			fail("snis", fmt.Sprintf("SNI %s is not one of %s", req.SNI, strings.Join(r.SNIs, ", ")))
		}
	}
	return m, true
}

func pathMatches(p, path string) bool {
	if expr, ok := strings.CutPrefix(p, "~"); ok {
		re, err := regexp.Compile("^(?:" + expr + ")")
		return err == nil && re.MatchString(path)
	}
	return strings.HasPrefix(path, p)
}

func methodMatches(methods []string, method string) bool {
	for _, m := range methods {
		if strings.ToUpper(m) == method {
			return true
		}
	}
	return false
}

func headerMatches(want, got []string) bool {
	for _, g := range got {
		for _, w := range want {
			if pat, ok := strings.CutPrefix(w, "~*"); ok {
				if re, err := regexp.Compile("(?i)" + pat); err == nil && re.MatchString(g) {
					return true
				}
				continue
			}
			if strings.EqualFold(g, w) {
				return true
			}
		}
	}
	return false
}

func sniMatches(snis []string, sni string) bool {
	if len(sni) > 1 {
		sni = strings.TrimSuffix(sni, ".")
	}
	for _, s := range snis {
		if strings.EqualFold(strings.TrimSuffix(s, "."), sni) {
			return true
		}
	}
	return false
}

func hostsMatch(patterns []string, host string) bool {
	name, port := router.SplitHost(host)
	for _, p := range patterns {
		if hostMatches(p, name, port) {
			return true
		}
	}
	return false
}

// hostMatches matches one configured host ("api.example.com",
// "*.example.com", "example.*", optionally with ":port").
func hostMatches(pattern, name, port string) bool {
	pname, pport := router.SplitHost(pattern)
	// The router reads a configured ":08000" as port 8000.
	if pport = strings.TrimLeft(pport, "0"); pport != "" && pport != port {
		return false
	}
	pname, name = strings.ToLower(pname), strings.ToLower(name)
	switch {
	case strings.HasPrefix(pname, "*."):
		suffix := pname[1:]
		return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
	case strings.HasSuffix(pname, ".*"):
		prefix := pname[:len(pname)-1]
		return len(name) > len(prefix) && strings.HasPrefix(name, prefix)
	}
	return name == pname
}
