package explain

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// Request is the request to explain.
type Request struct {
	// Method defaults to GET. It is matched as given (methods are case
	// sensitive), as the proxy does.
	Method string
	// URL is absolute (http://host[:port]/path?query; the scheme decides
	// the https-only checks) or a path starting with "/" (plain http; the
	// host then comes from a Host header).
	URL string
	// Header holds the request headers; a Host header replaces the URL's
	// host for matching and preserve_host.
	Header http.Header
	// SNI is the TLS server name; for an https URL it defaults to the URL's
	// host name (none for an IP address), as clients send it.
	SNI string
	// Consumer optionally names a consumer (username, custom_id or id) to
	// show the plugin instances that would run once it is authenticated.
	Consumer string
}

// ErrNoConfig is returned when there is no snapshot to explain against.
// Every other error Explain returns is about the request itself (an admin
// API answers it with 400).
var ErrNoConfig = errors.New("no configuration is loaded")

// Explain reports which route of snap the request matches and why, the
// routes that also matched and the rule that ranked each below the winner,
// the plugins that would run and the upstream URL. A request that matches
// nothing is not an error: the report's NoMatch says so.
func Explain(snap *snapshot.Snapshot, req Request) (*Report, error) {
	if snap == nil || snap.Router == nil {
		return nil, ErrNoConfig
	}
	t, err := parseTarget(req.URL)
	if err != nil {
		return nil, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	header := http.Header{}
	host := t.host
	for k, vs := range req.Header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "Host" {
			if len(vs) > 0 {
				host = vs[0]
			}
			continue
		}
		header[ck] = append(header[ck], vs...)
	}
	if host == "" {
		return nil, fmt.Errorf("the request has no host: give an absolute URL (http://host/path) or a Host header")
	}
	if !router.ValidHost(host) {
		return nil, fmt.Errorf("400 Bad request: the proxy rejects the Host %q (it must be a host name or IP address with an optional numeric port)", host)
	}
	sni := req.SNI
	if sni == "" && t.scheme == "https" {
		sni = t.hostname()
	}
	path, ok := router.NormalizePath(t.rawPath)
	if !ok {
		return nil, fmt.Errorf("400 Bad request: the proxy rejects the path %q (it must start with '/' and have well-formed %% escapes)", t.rawPath)
	}

	e := &explainer{snap: snap}
	r := &Report{Request: RequestInfo{
		Method: method, URL: req.URL, Scheme: t.scheme, Host: host, RawPath: t.rawPath, Path: path,
		Query: t.query, SNI: sni, Consumer: req.Consumer,
	}}
	if len(header) > 0 {
		r.Request.Header = header
	}
	rreq := router.Request{Method: method, Host: host, Path: path, SNI: sni, Header: header}
	cands := snap.Router.MatchAll(&rreq)
	if len(cands) == 0 {
		r.Status = http.StatusNotFound
		r.NoMatch = e.noMatch(&rreq)
		return r, nil
	}
	r.Notes = e.disabledMatches(&rreq)

	win := cands[0]
	r.Matched = e.match(win)
	for k, c := range cands[1:] {
		r.Candidates = append(r.Candidates, e.candidate(k+1, win, c))
	}
	route := snap.Routes[win.Route]
	consumerID, consumerNote := e.consumer(req.Consumer)
	if consumerNote != "" {
		r.Notes = append(r.Notes, consumerNote)
	}
	r.Plugins = e.plugins(route, consumerID)

	r.Status, r.Notes = protocolCheck(route, t, host, header, r.Notes)
	svc := route.Service
	if svc == nil {
		if r.Status == 0 {
			r.Status = http.StatusServiceUnavailable
		}
		r.Notes = append(r.Notes, "the route has no service: after the access phase the proxy answers 503 \"no Service found with those values\"")
		return r, nil
	}
	r.Service = e.service(win.Route, svc)
	up := upstreamOf(route, svc, method, host, path, win.MatchedPath, t.query)
	if r.Status != 0 {
		r.Notes = append(r.Notes, "over https the request would be sent to "+up.URL)
		return r, nil
	}
	up.Balanced = r.Service.Upstream != ""
	r.Upstream = up
	var access []string
	for _, st := range route.Chain.Access {
		access = append(access, st.Name)
	}
	if len(access) > 0 {
		r.Notes = append(r.Notes, "access-phase plugins ("+strings.Join(access, ", ")+
			") run first and may change the upstream request or answer it themselves")
	}
	return r, nil
}

// target is a parsed request URL.
type target struct {
	scheme  string
	host    string // host[:port] from the URL, "" for a bare path
	rawPath string // as given, still encoded
	query   string
}

func (t target) hostname() string {
	h := t.host
	if i := strings.LastIndexByte(h, ']'); strings.HasPrefix(h, "[") && i > 0 {
		h = h[1:i]
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	if net.ParseIP(h) != nil {
		return "" // clients send no SNI for an IP address
	}
	return strings.TrimSuffix(h, ".")
}

// parseTarget splits a URL by hand rather than with net/url, so the path
// reaches NormalizePath exactly as written (net/url would reject or
// re-encode what the proxy itself must judge).
func parseTarget(raw string) (target, error) {
	if raw == "" {
		return target{}, errors.New("a URL is required (http://host/path, or a path starting with /)")
	}
	t := target{scheme: "http"}
	rest := raw
	if !strings.HasPrefix(raw, "/") {
		scheme, after, ok := strings.Cut(raw, "://")
		if !ok {
			return target{}, fmt.Errorf("invalid URL %q: want http://host/path, https://host/path or a path starting with /", raw)
		}
		t.scheme = strings.ToLower(scheme)
		if t.scheme != "http" && t.scheme != "https" {
			return target{}, fmt.Errorf("invalid URL %q: the scheme must be http or https", raw)
		}
		end := strings.IndexAny(after, "/?#")
		if end < 0 {
			end = len(after)
		}
		t.host, rest = after[:end], after[end:]
		if i := strings.LastIndexByte(t.host, '@'); i >= 0 {
			t.host = t.host[i+1:]
		}
		if t.host == "" {
			return target{}, fmt.Errorf("invalid URL %q: no host", raw)
		}
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i] // clients do not send the fragment
	}
	t.rawPath, t.query, _ = strings.Cut(rest, "?")
	if t.rawPath == "" {
		t.rawPath = "/"
	}
	return t, nil
}

type explainer struct {
	snap *snapshot.Snapshot
	// checks are the router's per-route checks of the one request
	// explained, made on first use.
	checks []router.RouteCheck
}

// routeEntry is the config entry of router route i (nil when the snapshot
// carries no model).
func (e *explainer) routeEntry(i int) *config.RouteEntry {
	if m := e.snap.Model; m != nil && i < len(m.Routes) {
		return m.Routes[i]
	}
	return nil
}

func (e *explainer) routeRef(i int) RouteRef {
	info := e.snap.Routes[i].Info
	ref := RouteRef{Name: info.Name, ID: info.ID}
	if re := e.routeEntry(i); re != nil {
		ref.ConfigPath = re.Path
	}
	return ref
}

// criteria lists the route's non-empty criteria, in Kong's order.
func (e *explainer) criteria(i int) []string {
	re := e.routeEntry(i)
	if re == nil {
		return nil
	}
	r := re.Route
	var out []string
	add := func(name string, n int) {
		if n > 0 {
			out = append(out, name)
		}
	}
	add("methods", len(r.Methods))
	add("hosts", len(r.Hosts))
	add("headers", len(r.Headers))
	add("snis", len(r.SNIs))
	add("paths", len(r.Paths))
	return out
}

func (e *explainer) pathOf(c router.Candidate) (path, kind string) {
	paths := e.snap.Routes[c.Route].Info.Paths
	if c.PathIndex < 0 || c.PathIndex >= len(paths) {
		return "", ""
	}
	p := paths[c.PathIndex]
	if strings.HasPrefix(p, "~") {
		return p, "regex"
	}
	return p, "prefix"
}

func priorityOf(p router.Priority) Priority {
	return Priority{
		Weight: p.Weight, PlainHostOnly: p.PlainHostOnly, HeaderCount: p.HeaderCount,
		Regex: p.Regex, RegexPriority: p.RegexPriority, PathLength: p.PathLength,
	}
}

func (e *explainer) match(c router.Candidate) *Match {
	m := &Match{
		Route: e.routeRef(c.Route), PathIndex: c.PathIndex, MatchedPath: c.MatchedPath,
		Captures: c.Captures, Criteria: e.criteria(c.Route), Priority: priorityOf(c.Priority),
	}
	m.Path, m.PathKind = e.pathOf(c)
	for k, name := range c.CaptureNames {
		if name != "" && k < len(c.Captures) {
			if m.NamedCaptures == nil {
				m.NamedCaptures = map[string]string{}
			}
			m.NamedCaptures[name] = c.Captures[k]
		}
	}
	return m
}

func (e *explainer) candidate(rank int, win, c router.Candidate) Candidate {
	out := Candidate{
		Rank: rank, Route: e.routeRef(c.Route), PathIndex: c.PathIndex, MatchedPath: c.MatchedPath,
		Criteria: e.criteria(c.Route), Priority: priorityOf(c.Priority), SameRoute: c.Route == win.Route,
	}
	out.Path, out.PathKind = e.pathOf(c)
	out.Reason = win.Priority.Reason(c.Priority)
	if out.Reason == "route id" && out.SameRoute {
		// Paths of one route with equal priority share the route's id.
		out.Reason = "configuration order"
	}
	out.ReasonDetail = e.reasonDetail(out.Reason, win, c)
	winner := e.routeRef(win.Route).Label()
	if out.SameRoute {
		wp, _ := e.pathOf(win)
		winner = fmt.Sprintf("its own path paths[%d] %s", win.PathIndex, wp)
	}
	out.Explanation = "ranked below " + winner + " because: " + out.Reason
	if out.ReasonDetail != "" {
		out.Explanation += " (" + out.ReasonDetail + ")"
	}
	return out
}

// reasonDetail puts numbers on the rule that ranked c below win.
func (e *explainer) reasonDetail(reason string, win, c router.Candidate) string {
	wl, cl := e.routeRef(win.Route).Label(), e.routeRef(c.Route).Label()
	wp, _ := e.pathOf(win)
	cp, _ := e.pathOf(c)
	if win.Route == c.Route {
		wl, cl = "paths["+strconv.Itoa(win.PathIndex)+"]", "paths["+strconv.Itoa(c.PathIndex)+"]"
	}
	switch reason {
	case "more criteria":
		wc, cc := e.criteria(win.Route), e.criteria(c.Route)
		return fmt.Sprintf("%s has %d (%s), %s has %d (%s)", wl, len(wc), strings.Join(wc, ", "), cl, len(cc), strings.Join(cc, ", "))
	case "plain host":
		other := "a wildcard host"
		if re := e.routeEntry(c.Route); re != nil && len(re.Route.Hosts) == 0 {
			other = "no hosts"
		} else if re != nil {
			other = "a wildcard host (" + strings.Join(re.Route.Hosts, ", ") + ")"
		}
		hosts := ""
		if re := e.routeEntry(win.Route); re != nil {
			hosts = " (" + strings.Join(re.Route.Hosts, ", ") + ")"
		}
		return fmt.Sprintf("%s has only plain hosts%s, %s has %s", wl, hosts, cl, other)
	case "header count":
		return fmt.Sprintf("%s checks %d header names, %s %d", wl, win.Priority.HeaderCount, cl, c.Priority.HeaderCount)
	case "regex":
		what := "has no path"
		if cp != "" {
			what = "has the prefix " + cp
		}
		return fmt.Sprintf("%s's path %s is a regex, %s %s", wl, wp, cl, what)
	case "regex_priority":
		return fmt.Sprintf("regex_priority %d vs %d", win.Priority.RegexPriority, c.Priority.RegexPriority)
	case "longer prefix":
		if cp == "" {
			return fmt.Sprintf("%s is %d chars, %s has no path", wp, win.Priority.PathLength, cl)
		}
		return fmt.Sprintf("%s is %d chars, %s is %d", wp, win.Priority.PathLength, cp, c.Priority.PathLength)
	case "configuration order":
		return fmt.Sprintf("equal priority; %s comes first in the route's paths", wl)
	case "route id":
		return fmt.Sprintf("equal priority; the higher id wins, as in Kong: %s %s, %s %s", wl, tieID(win), cl, tieID(c))
	}
	return ""
}

// tieID names the id a candidate's ties are broken by: its route's, or
// the one Kong gives a group of the route's paths when their priorities
// differ.
func tieID(c router.Candidate) string {
	if c.Group == 0 {
		return "has id " + c.ID.String()
	}
	return fmt.Sprintf("has id %s for its path group %d (Kong splits a route whose paths differ in priority)", c.ID, c.Group)
}

func (e *explainer) service(i int, svc *snapshot.Service) *Service {
	info := svc.Info
	s := &Service{Name: info.Name, ID: info.ID}
	s.URL = info.Protocol + "://" + joinHostPort(info.Host, info.Port) + info.Path
	if re := e.routeEntry(i); re != nil && re.Service != nil {
		s.ConfigPath = re.Service.Path
		if re.Service.Upstream != nil {
			s.Upstream = re.Service.Upstream.Upstream.Name
		}
	}
	return s
}

func joinHostPort(host string, port int) string {
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func upstreamOf(route *snapshot.Route, svc *snapshot.Service, method, clientHost, path, matched, query string) *Upstream {
	u := &Upstream{
		Method: method, Scheme: svc.Scheme, Host: svc.HostHeader, Query: query,
		StripPath: route.StripPath, PreserveHost: route.PreserveHost, HTTP2: svc.HTTP2,
		Path: router.UpstreamPath(svc.Path, path, matched, route.StripPath),
	}
	if route.PreserveHost {
		u.Host = clientHost
	}
	u.URL = u.Scheme + "://" + u.Host + u.Path
	if query != "" {
		u.URL += "?" + query
	}
	if svc.Balancer != nil {
		for _, t := range svc.Balancer.Targets() {
			u.Targets = append(u.Targets, Target{Address: t.Addr, Weight: t.Weight})
		}
	}
	return u
}

// protocolCheck adds what the proxy's protocol check would do with the
// matched route. A gRPC-only route is judged as for HTTP/2, the protocol
// gRPC clients use, with a note on what HTTP/1.x would get.
func protocolCheck(route *snapshot.Route, t target, host string, header http.Header, notes []string) (int, []string) {
	https := t.scheme == "https"
	grpc := route.CheckProtocol(false, https, false, header) == snapshot.ProtocolUseHTTP2
	if grpc {
		notes = append(notes, "gRPC route: an HTTP/1.x request gets 426 \"Please use HTTP2 protocol\"")
	}
	switch route.CheckProtocol(true, https, false, header) {
	case snapshot.ProtocolUseHTTPS:
		if grpc {
			return http.StatusUpgradeRequired, append(notes,
				"grpcs-only route over plain HTTP/2: the proxy answers 426 \"Please use HTTPS protocol\", a gRPC call grpc-status 1 \""+snapshot.MsgGRPCOverPlain+"\"")
		}
		notes = append(notes, "https-only route over http: the proxy answers 426 \"Please use HTTPS protocol\"")
		return http.StatusUpgradeRequired, forwardedNote(route, header, notes)
	case snapshot.ProtocolRedirect:
		uri := t.rawPath
		if t.query != "" {
			uri += "?" + t.query
		}
		notes = append(notes, fmt.Sprintf("https-only route over http: the proxy redirects with %d to https://%s%s", route.HTTPSRedirectStatus, host, uri))
		return route.HTTPSRedirectStatus, forwardedNote(route, header, notes)
	}
	return 0, notes
}

// forwardedNote says when the request's X-Forwarded-Proto would let it
// through the https-only check after all.
func forwardedNote(route *snapshot.Route, header http.Header, notes []string) []string {
	if route.CheckProtocol(true, false, true, header) == snapshot.ProtocolOK {
		notes = append(notes, "X-Forwarded-Proto: https lets the request through only when the client address is in --trusted-ips")
	}
	return notes
}

// consumer resolves a consumer given by username, custom_id or id to its
// id; the note says when it is not in the config.
func (e *explainer) consumer(name string) (id, note string) {
	if name == "" {
		return "", ""
	}
	if m := e.snap.Model; m != nil {
		for _, ce := range m.Consumers {
			co, cid := ce.Consumer, ce.ID
			if co.Username == name || (co.CustomID != "" && co.CustomID == name) || cid == name {
				return cid, ""
			}
		}
	}
	return "", fmt.Sprintf("consumer %q is not in the config: plugins are shown as for a request without a consumer", name)
}

// consumerLabels maps consumer ids to usernames (or custom_id, or the id).
func (e *explainer) consumerLabels() map[string]string {
	out := map[string]string{}
	if m := e.snap.Model; m != nil {
		for _, ce := range m.Consumers {
			co := ce.Consumer
			label := co.Username
			if label == "" {
				label = co.CustomID
			}
			if label == "" {
				label = ce.ID
			}
			out[ce.ID] = label
		}
	}
	return out
}

// splitScope splits a Step.ConsumerScopes value, "consumer+route (plugins[3])".
func splitScope(s string) (scope, path string) {
	scope, path, ok := strings.Cut(s, " (")
	if !ok {
		return s, ""
	}
	return scope, strings.TrimSuffix(path, ")")
}

func (e *explainer) plugins(route *snapshot.Route, consumerID string) []Plugin {
	chain := route.Chain
	if chain == nil {
		return nil
	}
	phases := []struct {
		name  string
		steps []snapshot.Step
	}{{"access", chain.Access}, {"header_filter", chain.Header}, {"body_filter", chain.Body}, {"log", chain.Log}}
	labels := e.consumerLabels()
	var out []Plugin
	for _, name := range chain.Names {
		var step *snapshot.Step
		p := Plugin{Name: name}
		for _, ph := range phases {
			for k := range ph.steps {
				if ph.steps[k].Name == name {
					if step == nil {
						step = &ph.steps[k]
					}
					p.Phases = append(p.Phases, ph.name)
					break
				}
			}
		}
		if step == nil {
			continue
		}
		if consumerID != "" {
			if sc, ok := step.ConsumerScopes[consumerID]; ok {
				p.Scope, p.ConfigPath = splitScope(sc)
				p.Consumer = labels[consumerID]
				if step.Base != nil {
					p.Replaces = step.BaseScope + " " + step.BaseSource
				}
				out = append(out, p)
				continue
			}
			if step.Base == nil {
				continue // only for other consumers
			}
			p.Scope, p.ConfigPath = step.BaseScope, step.BaseSource
			out = append(out, p)
			continue
		}
		if step.Base == nil {
			p.OnlyForConsumers = true
		} else {
			p.Scope, p.ConfigPath = step.BaseScope, step.BaseSource
		}
		for id, sc := range step.ConsumerScopes {
			scope, path := splitScope(sc)
			label := labels[id]
			if label == "" {
				label = id
			}
			p.ConsumerOverrides = append(p.ConsumerOverrides, ConsumerOverride{Consumer: label, Scope: scope, ConfigPath: path})
		}
		sort.Slice(p.ConsumerOverrides, func(a, b int) bool {
			return p.ConsumerOverrides[a].Consumer < p.ConsumerOverrides[b].Consumer
		})
		out = append(out, p)
	}
	return out
}
