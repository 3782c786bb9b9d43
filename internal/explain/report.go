package explain

// Report is the answer to "which route, and why" for one request. It is
// what `turnpike explain --json` prints and what the admin API's
// GET /explain returns.
type Report struct {
	Request RequestInfo `json:"request"`
	// Status is the answer the gateway itself would give before any plugin
	// runs: 404 (no route), 426 or a redirect (https-only route over http),
	// 503 (route without a service). Zero when the request is proxied.
	Status int `json:"status,omitempty"`
	// Matched is the winning route; nil when nothing matched.
	Matched *Match `json:"matched,omitempty"`
	// Service is the matched route's service; nil for a route without one.
	Service *Service `json:"service,omitempty"`
	// Upstream is where the request would be sent; nil when the gateway
	// answers itself (Status set).
	Upstream *Upstream `json:"upstream,omitempty"`
	// Candidates are the other (route, path) entries that matched too, in
	// priority order, each with the rule that ranked it below the winner.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Plugins are the plugins that would run for the matched route, in
	// execution order.
	Plugins []Plugin `json:"plugins,omitempty"`
	// Notes are protocol and other remarks (https-only, gRPC, plugins that
	// may still change the request).
	Notes []string `json:"notes,omitempty"`
	// NoMatch explains the 404 when nothing matched.
	NoMatch *NoMatch `json:"no_match,omitempty"`
}

// RequestInfo is the request as the router sees it.
type RequestInfo struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Scheme string `json:"scheme"`
	// Host is the Host header value used for matching (the URL's host and
	// port unless a Host header was given).
	Host string `json:"host"`
	// RawPath is the path as given; Path is it normalised as the proxy
	// normalises it before matching.
	RawPath  string              `json:"raw_path"`
	Path     string              `json:"path"`
	Query    string              `json:"query,omitempty"`
	SNI      string              `json:"sni,omitempty"`
	Header   map[string][]string `json:"header,omitempty"`
	Consumer string              `json:"consumer,omitempty"`
}

// RouteRef names a route: its name (may be empty), id and config path
// (e.g. `services[0].routes[1]`).
type RouteRef struct {
	Name       string `json:"name,omitempty"`
	ID         string `json:"id"`
	ConfigPath string `json:"config_path"`
}

// Label is the route's name, or its config path when it has none.
func (r RouteRef) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.ConfigPath
}

// Priority is the router's priority of one (route, path) entry, most
// significant component first.
type Priority struct {
	Weight        int  `json:"weight"`
	PlainHostOnly bool `json:"plain_host_only"`
	HeaderCount   int  `json:"header_count"`
	Regex         bool `json:"regex"`
	RegexPriority int  `json:"regex_priority"`
	PathLength    int  `json:"path_length"`
}

// Match is the winning route and what of it matched.
type Match struct {
	Route RouteRef `json:"route"`
	// PathIndex is the index of the path that matched in the route's paths,
	// -1 for a route without paths.
	PathIndex int `json:"path_index"`
	// Path is that path as configured; PathKind is "prefix" or "regex".
	Path     string `json:"path,omitempty"`
	PathKind string `json:"path_kind,omitempty"`
	// MatchedPath is the part of the request path the route's path matched
	// (what strip_path removes).
	MatchedPath   string            `json:"matched_path,omitempty"`
	Captures      []string          `json:"captures,omitempty"`
	NamedCaptures map[string]string `json:"named_captures,omitempty"`
	// Criteria lists the route's non-empty criteria among methods, hosts,
	// headers, snis and paths (their count is the priority weight).
	Criteria []string `json:"criteria"`
	Priority Priority `json:"priority"`
}

// Candidate is a (route, path) entry that matched but ranked below the
// winner.
type Candidate struct {
	Rank         int      `json:"rank"` // 1 is the best after the winner
	Route        RouteRef `json:"route"`
	PathIndex    int      `json:"path_index"`
	Path         string   `json:"path,omitempty"`
	PathKind     string   `json:"path_kind,omitempty"`
	MatchedPath  string   `json:"matched_path,omitempty"`
	Criteria     []string `json:"criteria"`
	Priority     Priority `json:"priority"`
	SameRoute    bool     `json:"same_route,omitempty"` // another path of the winning route
	Reason       string   `json:"reason"`               // the rule: "more criteria", "plain host", ...
	ReasonDetail string   `json:"reason_detail"`
	Explanation  string   `json:"explanation"` // "ranked below <winner> because: <reason> (<detail>)"
}

// Service is the matched route's service.
type Service struct {
	Name       string `json:"name,omitempty"`
	ID         string `json:"id"`
	ConfigPath string `json:"config_path"`
	// URL is protocol://host:port/path as configured.
	URL string `json:"url"`
	// Upstream names the upstream entity when the service host is one.
	Upstream string `json:"upstream,omitempty"`
}

// Upstream is the request the proxy would send, before access-phase plugins
// have had their say.
type Upstream struct {
	Method string `json:"method"`
	// URL is scheme://Host + Path + ?Query.
	URL    string `json:"url"`
	Scheme string `json:"scheme"`
	// Host is the Host header sent: the client's with preserve_host, else
	// the service's host (or the upstream's host_header).
	Host         string   `json:"host"`
	Path         string   `json:"path"`
	Query        string   `json:"query,omitempty"`
	StripPath    bool     `json:"strip_path"`
	PreserveHost bool     `json:"preserve_host"`
	HTTP2        bool     `json:"http2,omitempty"`
	Targets      []Target `json:"targets"`
	// Balanced is set when the service host names an upstream entity, whose
	// targets the balancer picks from.
	Balanced bool `json:"balanced,omitempty"`
}

// Target is an address the request may be sent to.
type Target struct {
	Address string `json:"address"`
	Weight  int    `json:"weight"`
}

// Plugin is one plugin that would run for the matched route.
type Plugin struct {
	Name string `json:"name"`
	// Scope is the precedence scope of the instance that runs ("global",
	// "service", "route", "route+service", "consumer", ...); ConfigPath is
	// where it is configured (`plugins[0]`, `services[1].plugins[0]`).
	Scope      string `json:"scope,omitempty"`
	ConfigPath string `json:"config_path,omitempty"`
	// Phases are the phases it runs in: access, header_filter, body_filter,
	// log.
	Phases []string `json:"phases"`
	// Consumer is set when the instance shown is the override for the
	// consumer given with the request; Replaces is then the instance it
	// replaces ("service services[1].plugins[0]"), if any.
	Consumer string `json:"consumer,omitempty"`
	Replaces string `json:"replaces,omitempty"`
	// OnlyForConsumers is set when the plugin has no instance for anonymous
	// requests and runs only for these consumers.
	OnlyForConsumers bool `json:"only_for_consumers,omitempty"`
	// ConsumerOverrides are the consumers that get another instance (shown
	// when no consumer was given).
	ConsumerOverrides []ConsumerOverride `json:"consumer_overrides,omitempty"`
}

// ConsumerOverride is a consumer-scoped instance that replaces the plugin's
// base instance for one consumer.
type ConsumerOverride struct {
	Consumer   string `json:"consumer"`
	Scope      string `json:"scope"`
	ConfigPath string `json:"config_path"`
}

// NoMatch explains a 404.
type NoMatch struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	// Explanation says what the router looked for.
	Explanation string `json:"explanation"`
	// Closest are routes one of whose paths matches the request path (or
	// that have no paths) but where another criterion failed.
	Closest []NearMiss `json:"closest,omitempty"`
}

// NearMiss is a route whose path matched while another criterion did not.
type NearMiss struct {
	Route RouteRef `json:"route"`
	// Path is the configured path that matched ("" for a route without
	// paths).
	Path string `json:"path,omitempty"`
	// Failed names the criteria that failed: methods, hosts, headers, snis,
	// or service when the route's service is disabled.
	Failed []string `json:"failed"`
	// Details say how, one per failed criterion.
	Details []string `json:"details"`
}
