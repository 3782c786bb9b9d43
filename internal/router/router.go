package router

import (
	"bytes"
	"fmt"
	"net/http"
	"net/textproto"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/ident"
)

// Header is one header criterion of a route.
type Header struct {
	Name   string   // as configured
	Values []string // plain values or "~*regex"
}

// Route is one route's matching criteria as configured.
type Route struct {
	// ID is the route's id (a UUID); among entries of equal priority the
	// higher id wins, as in Kong. Routes without one keep their order.
	ID            string
	Paths         []string
	Hosts         []string
	Methods       []string
	Headers       []Header
	SNIs          []string
	RegexPriority int
}

// Request is what the router looks at. Host is the raw Host header value
// (any case, may include a port). Path is already normalised (NormalizePath).
type Request struct {
	Method string
	Host   string
	Path   string
	SNI    string
	Header http.Header
}

// Match is the outcome of a successful match.
type Match struct {
	Route int // index into the []Route given to New
	// PathIndex is the index in Route.Paths of the path that matched, or -1
	// when the route has no paths.
	PathIndex int
	// MatchedPath is the part of the path the route's path matched: the prefix
	// as configured for prefix paths, the whole regex match for regex paths,
	// "" when the route has no paths. Used for strip_path.
	MatchedPath  string
	Captures     []string // regex only: positional, [0] is the whole match; nil for prefix
	CaptureNames []string // regex only: regexp.SubexpNames() (shared, read-only)
	// Unmatched[k] is set when group k took no part in the match, which
	// Kong (ngx.re.match) gives as false rather than as "". Nil when every
	// group took part, so the common case allocates nothing more.
	Unmatched []bool
}

// Candidate is one matching (route, path) entry with its priority.
type Candidate struct {
	Match
	Priority Priority
	// ID breaks ties of priority, the higher first: the route's id, or,
	// when the route's paths fall in more than one group (see pathGroups),
	// the id Kong gives the group's matcher; Group is then the group's
	// number from 1, else 0.
	ID    ident.UUID
	Group int
}

// CompileError reports a route criterion that cannot be compiled. Field is
// the route field ("paths", "hosts", "methods", "headers" or "snis") and
// Index the position within it, so the caller can name the config path.
type CompileError struct {
	Route int
	Field string
	Index int
	Msg   string
	Err   error // the underlying error, e.g. from regexp, when there is one
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("route %d: %s[%d]: %s", e.Route, e.Field, e.Index, e.Msg)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Router is a compiled, immutable set of routes; it is safe for concurrent use.
type Router struct {
	// entries are the (route, path) pairs ordered by descending priority,
	// ties by descending id, then in configuration order. Their index is
	// their rank.
	entries []entry
	// anyHost indexes the entries of routes without hosts. The others are
	// indexed once per configured host, keyed by the lower-cased name:
	// byHost ("name"), byHostPort ("name:port"), bySuffix (".example.com"
	// for "*.example.com", any port) and byPrefix ("example." for
	// "example.*", any port). A request then only walks the trees its own
	// host selects.
	anyHost    *node
	byHost     map[string]*node
	byHostPort map[string]*node
	bySuffix   map[string]*node
	byPrefix   map[string]*node
	routes     int // len of the []Route given to New
}

type entry struct {
	route   int
	path    int    // index into Route.Paths, -1 for none
	prefix  string // the prefix path; "" for regex paths and no path
	re      *regexp.Regexp
	names   []string
	crit    *criteria
	prio    Priority
	literal string // what the path must start with: the radix tree key
	id      ident.UUID
	group   int
}

// criteria are the non-path checks shared by all entries of a route.
type criteria struct {
	methods []string
	hosts   []hostPattern
	headers []headerMatcher
	snis    []string
}

type headerMatcher struct {
	key     string // canonical MIME form, the key net/http stores
	values  []string
	regexes []*regexp.Regexp
}

// New compiles routes. Routes without any criterion are accepted but never
// match.
func New(routes []Route) (*Router, error) {
	var entries []entry
	for i := range routes {
		es, err := compileRoute(i, &routes[i])
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
	}
	sort.SliceStable(entries, func(a, b int) bool {
		if c := entries[a].prio.Compare(entries[b].prio); c != 0 {
			return c > 0
		}
		return bytes.Compare(entries[a].id[:], entries[b].id[:]) > 0
	})

	r := &Router{entries: entries, anyHost: &node{}, routes: len(routes)}
	for rank := range entries {
		e := &entries[rank]
		if len(e.crit.hosts) == 0 {
			r.anyHost.insert(e.literal, int32(rank))
			continue
		}
		for _, h := range e.crit.hosts {
			m, key := &r.byHost, h.name
			switch {
			case h.kind == hostSuffix:
				m = &r.bySuffix
			case h.kind == hostPrefix:
				m = &r.byPrefix
			case h.port != "":
				m, key = &r.byHostPort, h.name+":"+h.port
			}
			if *m == nil {
				*m = make(map[string]*node)
			}
			t := (*m)[key]
			if t == nil {
				t = &node{}
				(*m)[key] = t
			}
			// A route listing the same host twice (or "a.com" and "A.com")
			// is stored once, so a miss does not check it twice.
			if last := lastRank(t, e.literal); last != int32(rank) {
				t.insert(e.literal, int32(rank))
			}
		}
	}
	return r, nil
}

// lastRank returns the last rank stored exactly at key, or -1.
func lastRank(t *node, key string) int32 {
	for n := t; ; {
		if key == "" {
			if len(n.entries) == 0 {
				return -1
			}
			return n.entries[len(n.entries)-1]
		}
		c := n.child(key[0])
		if c == nil || !strings.HasPrefix(key, c.prefix) {
			return -1
		}
		key, n = key[len(c.prefix):], c
	}
}

func compileRoute(i int, rt *Route) ([]entry, error) {
	cr := &criteria{}
	prio := Priority{}
	weight := 0

	for j, m := range rt.Methods {
		if m == "" {
			return nil, &CompileError{Route: i, Field: "methods", Index: j, Msg: "empty method"}
		}
		cr.methods = append(cr.methods, strings.ToUpper(m))
	}
	if len(cr.methods) > 0 {
		weight++
	}

	plain := len(rt.Hosts) > 0
	for j, h := range rt.Hosts {
		p, err := parseHostPattern(h)
		if err != nil {
			return nil, &CompileError{Route: i, Field: "hosts", Index: j, Msg: err.Error(), Err: err}
		}
		if p.kind != hostExact {
			plain = false
		}
		cr.hosts = append(cr.hosts, p)
	}
	if len(cr.hosts) > 0 {
		weight++
	}
	prio.PlainHostOnly = plain

	names := map[string]bool{}
	for j, h := range rt.Headers {
		hm, err := compileHeader(h)
		if err != nil {
			return nil, &CompileError{Route: i, Field: "headers", Index: j, Msg: err.Error(), Err: err}
		}
		names[hm.key] = true
		cr.headers = append(cr.headers, hm)
	}
	if len(cr.headers) > 0 {
		weight++
		prio.HeaderCount = min(len(names), maxHeaderCount)
	}

	for j, s := range rt.SNIs {
		s = strings.TrimSuffix(s, ".")
		if s == "" {
			return nil, &CompileError{Route: i, Field: "snis", Index: j, Msg: "empty SNI"}
		}
		cr.snis = append(cr.snis, s)
	}
	if len(cr.snis) > 0 {
		weight++
	}

	if len(rt.Paths) > 0 {
		weight++
	}
	prio.Weight = weight
	if weight == 0 {
		return nil, nil
	}
	id, _ := ident.Parse(rt.ID)
	if len(rt.Paths) == 0 {
		return []entry{{route: i, path: -1, crit: cr, prio: prio, id: id}}, nil
	}

	groups := pathGroups(rt.Paths)
	entries := make([]entry, 0, len(rt.Paths))
	for j, p := range rt.Paths {
		e := entry{route: i, path: j, crit: cr, prio: prio, id: id}
		if groups != nil && rt.ID != "" {
			e.group = groups[j]
			e.id = ident.V5(splitNS, rt.ID+"#"+strconv.Itoa(e.group))
		}
		switch {
		case strings.HasPrefix(p, "~"):
			expr := p[1:]
			// The ATC translation prefixes "^" to reproduce the anchored
			// ("a" flag) match of the traditional router; grouping keeps
			// every top-level alternative anchored, as that flag did.
			re, err := regexp.Compile("^(?:" + expr + ")")
			if err != nil {
				return nil, &CompileError{Route: i, Field: "paths", Index: j,
					Msg: fmt.Sprintf("invalid regex: '%s' (%v)", p, err), Err: err}
			}
			e.re, e.names = re, re.SubexpNames()
			e.literal = literalPrefix(expr)
			e.prio.Regex = true
			e.prio.RegexPriority = rt.RegexPriority
		case strings.HasPrefix(p, "/"):
			rp := requestForm(p)
			e.prefix, e.literal = rp, rp
			e.prio.PathLength = min(len(p), maxPathLength)
		default:
			return nil, &CompileError{Route: i, Field: "paths", Index: j,
				Msg: fmt.Sprintf("path '%s' must start with '/' (prefix) or '~/' (regex)", p)}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func compileHeader(h Header) (headerMatcher, error) {
	if h.Name == "" {
		return headerMatcher{}, fmt.Errorf("empty header name")
	}
	if strings.EqualFold(h.Name, "host") {
		return headerMatcher{}, fmt.Errorf("cannot contain 'host' header, which must be specified in the 'hosts' attribute")
	}
	if len(h.Values) == 0 {
		return headerMatcher{}, fmt.Errorf("header '%s' has no values", h.Name)
	}
	hm := headerMatcher{key: textproto.CanonicalMIMEHeaderKey(h.Name)}
	for _, v := range h.Values {
		if pat, ok := strings.CutPrefix(v, "~*"); ok {
			// Kong lower-cases both the pattern and the header value and
			// then searches unanchored; (?i) gives the same case-insensitive
			// search without lower-casing (and allocating) per request.
			re, err := regexp.Compile("(?i)" + pat)
			if err != nil {
				return headerMatcher{}, fmt.Errorf("invalid regex: '%s' (%v)", v, err)
			}
			hm.regexes = append(hm.regexes, re)
			continue
		}
		hm.values = append(hm.values, v)
	}
	return hm, nil
}

// reqInfo is the request data derived once per match.
type reqInfo struct {
	req  *Request
	host string // without port, as sent
	port string
}

// Match finds the highest-priority route matching req and fills m. It does
// not allocate unless the winning entry is a regex path.
func (r *Router) Match(req *Request, m *Match) bool {
	ri := reqInfo{req: req}
	ri.host, ri.port = SplitHost(req.Host)

	best := int32(len(r.entries))
	best = r.search(r.anyHost, &ri, false, best)
	if len(r.byHost)+len(r.byHostPort)+len(r.bySuffix)+len(r.byPrefix) > 0 {
		best = r.searchHosts(&ri, best)
	}
	if int(best) == len(r.entries) {
		return false
	}
	e := &r.entries[best]
	m.Route, m.PathIndex, m.MatchedPath, m.Captures, m.CaptureNames, m.Unmatched = e.route, e.path, e.prefix, nil, nil, nil
	if e.re != nil {
		m.MatchedPath, m.Captures, m.Unmatched = submatches(e.re, req.Path)
		m.CaptureNames = e.names
	}
	return true
}

// hostKeyBuf sizes the stack buffer for the lower-cased request host; DNS
// names stop at 253 bytes, so only junk hosts take the allocating path.
const hostKeyBuf = 272

// searchHosts searches the trees selected by the request host. The map
// indexes use string(bytes) conversions, which the compiler performs without
// allocating.
func (r *Router) searchHosts(ri *reqInfo, best int32) int32 {
	var buf [hostKeyBuf]byte
	key := buf[:0]
	for i := 0; i < len(ri.host); i++ {
		c := ri.host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		key = append(key, c)
	}
	n := len(key)
	name := key[:n:n]

	if t := r.byHost[string(name)]; t != nil {
		best = r.search(t, ri, true, best)
	}
	if ri.port != "" && len(r.byHostPort) > 0 {
		key = append(key, ':')
		key = append(key, ri.port...)
		if t := r.byHostPort[string(key)]; t != nil {
			best = r.search(t, ri, true, best)
		}
	}
	// Wildcard trees hold routes whose pattern may constrain the port, so
	// their hosts are checked again per entry.
	if len(r.bySuffix) > 0 {
		for i := 1; i < n; i++ {
			if name[i] == '.' {
				if t := r.bySuffix[string(name[i:])]; t != nil {
					best = r.search(t, ri, false, best)
				}
			}
		}
	}
	if len(r.byPrefix) > 0 {
		for i := 0; i < n-1; i++ {
			if name[i] == '.' {
				if t := r.byPrefix[string(name[:i+1])]; t != nil {
					best = r.search(t, ri, false, best)
				}
			}
		}
	}
	return best
}

// search walks the tree along the request path and returns the lowest rank
// below best whose entry fully matches, or best.
func (r *Router) search(n *node, ri *reqInfo, hostDone bool, best int32) int32 {
	path := ri.req.Path
	for {
		for _, rank := range n.entries {
			if rank >= best {
				break
			}
			if r.entries[rank].accepts(ri, hostDone) {
				best = rank
				break
			}
		}
		if path == "" {
			return best
		}
		c := n.child(path[0])
		if c == nil || len(path) < len(c.prefix) || path[:len(c.prefix)] != c.prefix {
			return best
		}
		path, n = path[len(c.prefix):], c
	}
}

// accepts checks everything the tree walk has not already established: the
// path itself for prefix entries is implied by the node the walk reached.
func (e *entry) accepts(ri *reqInfo, hostDone bool) bool {
	c := e.crit
	if len(c.methods) > 0 && !c.matchMethod(ri.req.Method) {
		return false
	}
	if !hostDone && len(c.hosts) > 0 && !c.matchHost(ri.host, ri.port) {
		return false
	}
	if len(c.snis) > 0 && !c.matchSNI(ri.req.SNI) {
		return false
	}
	if len(c.headers) > 0 && !c.matchHeaders(ri.req.Header) {
		return false
	}
	if e.re != nil && !e.re.MatchString(ri.req.Path) {
		return false
	}
	return true
}

// submatches returns the whole match, the captures, and which groups took
// no part (nil when all did).
func submatches(re *regexp.Regexp, path string) (string, []string, []bool) {
	idx := re.FindStringSubmatchIndex(path)
	if idx == nil {
		return "", nil, nil
	}
	caps := make([]string, len(idx)/2)
	var unmatched []bool
	for k := range caps {
		if a, b := idx[2*k], idx[2*k+1]; a >= 0 {
			caps[k] = path[a:b]
		} else {
			if unmatched == nil {
				unmatched = make([]bool, len(caps))
			}
			unmatched[k] = true
		}
	}
	return caps[0], caps, unmatched
}

// MatchAll returns every matching (route, path) entry in priority order, for
// explaining a routing decision. The first candidate is what Match returns.
func (r *Router) MatchAll(req *Request) []Candidate {
	ri := reqInfo{req: req}
	ri.host, ri.port = SplitHost(req.Host)
	var out []Candidate
	for rank := range r.entries {
		e := &r.entries[rank]
		if e.re == nil && !strings.HasPrefix(req.Path, e.prefix) {
			continue
		}
		if !e.accepts(&ri, false) {
			continue
		}
		c := Candidate{Match: Match{Route: e.route, PathIndex: e.path, MatchedPath: e.prefix}, Priority: e.prio, ID: e.id, Group: e.group}
		if e.re != nil {
			c.MatchedPath, c.Captures, c.Unmatched = submatches(e.re, req.Path)
			c.CaptureNames = e.names
		}
		out = append(out, c)
	}
	return out
}
