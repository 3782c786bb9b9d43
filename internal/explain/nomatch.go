package explain

import (
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// noMatch explains a 404 and lists the routes that came closest: those one
// of whose paths matches the request path (or that have no paths) but where
// methods, hosts, headers or snis did not, as the router's own checks say.
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
		miss, pathOK := nearMiss(re.Route, e.check(i, re, req), req)
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
		if c := e.check(i, re, req); c.Matches() {
			notes = append(notes, "route "+e.routeRef(i).Label()+" would match, but "+disabledDetail(re))
		}
	}
	return notes
}

func disabledDetail(re *config.RouteEntry) string {
	return "service " + re.Service.Label() + " is disabled (enabled: false): its routes are left out of the router, as in Kong"
}

// check judges req by each criterion of route i. The router leaves the
// routes of disabled services without criteria, so those are compiled on
// their own here, by the same router code.
func (e *explainer) check(i int, re *config.RouteEntry, req *router.Request) router.RouteCheck {
	if snapshot.RouteEnabled(re) {
		if e.checks == nil {
			e.checks = e.snap.Router.Check(req)
		}
		return e.checks[i]
	}
	rt, err := router.New([]router.Route{snapshot.RouterRoute("", re.Route)})
	if err != nil {
		return router.RouteCheck{Path: -1} // validation refuses such a config
	}
	return rt.Check(req)[0]
}

// nearMiss turns the router's check c of route r into the criteria that
// failed and why. pathOK is false when no path of r matches (or r has no
// criteria at all, so it never matches); with pathOK and no failed
// criterion, r matches req.
func nearMiss(r *config.Route, c router.RouteCheck, req *router.Request) (m NearMiss, pathOK bool) {
	if c.Paths == router.Fail || c.Paths == router.Unset && c.Methods == router.Unset &&
		c.Hosts == router.Unset && c.Headers == router.Unset && c.SNIs == router.Unset {
		return m, false
	}
	if c.Path >= 0 {
		m.Path = r.Paths[c.Path]
	}
	fail := func(criterion, detail string) {
		m.Failed = append(m.Failed, criterion)
		m.Details = append(m.Details, detail)
	}
	if c.Methods == router.Fail {
		fail("methods", fmt.Sprintf("method %s is not one of %s", req.Method, strings.Join(r.Methods, ", ")))
	}
	if c.Hosts == router.Fail {
		fail("hosts", fmt.Sprintf("host %s matches none of %s", req.Host, strings.Join(r.Hosts, ", ")))
	}
	if c.Headers == router.Fail {
		// HeaderFailed[k] judges the k-th header of the router.Route the
		// router was given, which snapshot.RouterRoute builds from r.
		var bad []string
		for k, h := range snapshot.RouterRoute("", r).Headers {
			if !c.HeaderFailed[k] {
				continue
			}
			want := strings.Join(h.Values, " or ")
			got := req.Header[textproto.CanonicalMIMEHeaderKey(h.Name)]
			if len(got) == 0 {
				bad = append(bad, fmt.Sprintf("header %s is missing (want %s)", h.Name, want))
			} else {
				bad = append(bad, fmt.Sprintf("header %s is %q (want %s)", h.Name, strings.Join(got, ", "), want))
			}
		}
		fail("headers", strings.Join(bad, "; "))
	}
	if c.SNIs == router.Fail {
		if req.SNI == "" {
			fail("snis", fmt.Sprintf("no SNI (plain http or an IP address), want %s", strings.Join(r.SNIs, ", ")))
		} else {
			fail("snis", fmt.Sprintf("SNI %s is not one of %s", req.SNI, strings.Join(r.SNIs, ", ")))
		}
	}
	return m, true
}
