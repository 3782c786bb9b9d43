package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/ident"
)

// ServiceProtocolList are the protocols of services and routes (the
// admin API's schemas list them).
var ServiceProtocolList = []string{"http", "https", "grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}

var serviceProtocols = setOf(ServiceProtocolList...)

// Protocols whose upstream request has a URI path.
var pathProtocols = setOf("http", "https", "ws", "wss")

// checkID enforces Kong's uuid primary keys, so a file Turnpike accepts is
// one Kong accepts too.
func (b *builder) checkID(id, path string) {
	if _, ok := ident.Parse(id); id != "" && !ok {
		b.err(JoinPath(path, "id"), "expected a valid UUID")
	}
}

func (b *builder) between(path string, v, lo, hi int) {
	if v < lo || v > hi {
		b.errf(path, "value should be between %d and %d", lo, hi)
	}
}

// checkService validates a service. With fromURL the protocol, host, port
// and path come from the `url` shorthand, so their errors are reported at
// `url`, where the user wrote them. As in Kong, the url replaces all four
// even when they are also written out.
func (b *builder) checkService(s *Service, path string, fromURL bool) {
	field := func(name string) string { return JoinPath(path, name) }
	if fromURL {
		urlPath := field("url")
		if !b.expandURL(s, urlPath) {
			return
		}
		explicit := field
		field = func(name string) string {
			switch name {
			case "protocol", "host", "port", "path":
				return urlPath
			}
			return explicit(name)
		}
	}

	if !serviceProtocols[s.Protocol] {
		b.errf(field("protocol"), "expected one of: %s", strings.Join(ServiceProtocolList, ", "))
	}
	switch {
	case s.Host == "":
		b.err(field("host"), "required field missing")
	case !validHost(s.Host):
		b.errf(field("host"), "invalid hostname: '%s'", s.Host)
	}
	b.between(field("port"), s.Port, 0, 65535)
	if s.Path != "" {
		switch {
		case serviceProtocols[s.Protocol] && !pathProtocols[s.Protocol]:
			b.errf(field("path"), "cannot be set when 'protocol' is '%s'", s.Protocol)
		case !strings.HasPrefix(s.Path, "/"):
			b.err(field("path"), "should start with: /")
		case strings.Contains(s.Path, "//"):
			b.err(field("path"), "must not have empty segments")
		case !rfc3986Path(s.Path):
			b.errf(field("path"), "invalid path: '%s' (characters outside of the reserved list of RFC 3986 found)", s.Path)
		case badPercent(s.Path) != "":
			b.errf(field("path"), "invalid url-encoded value: '%s'", badPercent(s.Path))
		}
	}
	b.between(field("retries"), s.Retries, 0, 32767)
	for _, f := range []struct {
		name string
		v    int
	}{{"connect_timeout", s.ConnectTimeout}, {"write_timeout", s.WriteTimeout}, {"read_timeout", s.ReadTimeout}} {
		b.between(field(f.name), f.v, 1, 2147483646)
	}

	// Kong allows these for https and tls; Turnpike also speaks TLS to
	// grpcs and wss upstreams, with the same settings.
	tlsOnly := s.Protocol == "https" || s.Protocol == "tls" || s.Protocol == "grpcs" || s.Protocol == "wss"
	tlsField := func(name string, set bool) {
		if set && !tlsOnly {
			b.err(field(name), "can only be set when 'protocol' is 'https', 'tls', 'grpcs' or 'wss'")
		}
	}
	tlsField("client_certificate", s.ClientCert != nil)
	tlsField("tls_verify", s.TLSVerify != nil)
	tlsField("tls_verify_depth", s.TLSVerifyDepth != nil)
	tlsField("ca_certificates", len(s.CACertificates) > 0)
	if s.TLSVerifyDepth != nil {
		b.between(field("tls_verify_depth"), *s.TLSVerifyDepth, 0, 64)
	}
	if s.ClientCert != nil {
		if _, ok := b.certs.lookup(s.ClientCert.Key()); !ok {
			b.errf(field("client_certificate"), "certificate '%s' not found", s.ClientCert.Key())
		}
	}
	for i, id := range s.CACertificates {
		if _, ok := b.caCerts.lookup(id); !ok {
			b.errf(at(field("ca_certificates"), i), "ca certificate '%s' not found", id)
		}
	}
}

// expandURL sets protocol, host, port and path from s.URL the way Kong's
// `url` shorthand does (kong/db/schema/entities/services.lua): a url
// without a path clears the path, and one without a port gets 443 for
// https and 80 for every other scheme, grpcs and wss included. The path is
// kept as written, so that it is checked as Kong checks it.
func (b *builder) expandURL(s *Service, path string) bool {
	u, err := url.Parse(s.URL)
	switch {
	case err != nil:
		b.errf(path, "invalid url '%s': %v", s.URL, err)
		return false
	case u.Scheme == "" || u.Host == "":
		b.errf(path, "invalid url '%s': expected scheme://host[:port][/path]", s.URL)
		return false
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		b.errf(path, "invalid url '%s': userinfo, query and fragment are not allowed", s.URL)
		return false
	}
	s.Protocol = strings.ToLower(u.Scheme)
	s.Host = u.Hostname()
	s.Path = rawURLPath(s.URL)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			b.errf(path, "invalid url '%s': bad port", s.URL)
			return false
		}
		s.Port = n
	} else if s.Protocol == "https" {
		s.Port = 443
	} else {
		s.Port = 80
	}
	return true
}

// rawURLPath is the path of an absolute URL as written: net/url would
// escape the characters Kong refuses in a service path.
func rawURLPath(raw string) string {
	_, rest, _ := strings.Cut(raw, "://")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	p, _, _ := strings.Cut(rest[i:], "?")
	p, _, _ = strings.Cut(p, "#")
	return p
}

var (
	routeGroups     = [][]string{{"http", "https"}, {"tcp", "tls", "udp"}, {"tls_passthrough"}, {"grpc", "grpcs"}, {"ws", "wss"}}
	streamProtocols = setOf("tcp", "tls", "udp", "tls_passthrough")
	sniProtocols    = setOf("https", "grpcs", "tls", "tls_passthrough", "wss")
	methodRE        = regexp.MustCompile(`^[A-Z]+$`)
)

func (b *builder) checkRoute(r *Route, path string) {
	field := func(name string) string { return JoinPath(path, name) }
	protos := setOf(r.Protocols...)
	b.checkRouteProtocols(r, field("protocols"))

	for i, p := range r.Paths {
		b.checkRoutePath(p, at(field("paths"), i))
	}
	for i, m := range r.Methods {
		if !methodRE.MatchString(m) {
			b.errf(at(field("methods"), i), "invalid value: %s", m)
		}
	}
	for i, h := range r.Hosts {
		if msg := checkWildcardHost(h); msg != "" {
			b.err(at(field("hosts"), i), msg)
		}
	}
	for _, name := range sortedKeys(r.Headers) {
		hpath := KeyPath(field("headers"), name)
		if strings.EqualFold(name, "host") {
			b.err(hpath, "cannot contain 'host' header, which must be specified in the 'hosts' attribute")
		}
		if len(r.Headers[name]) == 0 {
			b.err(hpath, "length must be at least 1")
		}
	}
	if len(r.SNIs) > 0 && !anyOf(protos, sniProtocols) {
		b.err(field("snis"), "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'")
	}
	for i, s := range r.SNIs {
		if !validSNI(s) {
			b.errf(at(field("snis"), i), "invalid SNI '%s'", s)
		}
	}
	for _, ep := range []struct {
		name string
		list []Endpoint
	}{{"sources", r.Sources}, {"destinations", r.Destinations}} {
		if len(ep.list) > 0 && !anyOf(protos, streamProtocols) {
			b.errf(field(ep.name), "'%s' can only be set when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'", ep.name)
		}
		for i, e := range ep.list {
			b.checkEndpoint(e, at(field(ep.name), i))
		}
	}
	switch r.HTTPSRedirectStatusCode {
	case 426, 301, 302, 307, 308:
	default:
		b.err(field("https_redirect_status_code"), "expected one of: 426, 301, 302, 307, 308")
	}
	switch r.PathHandling {
	case "v0":
	case "v1":
		// Kong's default router (traditional_compatible) joins paths the v0
		// way whatever the route says (kong/router/atc.lua), and so does
		// Turnpike's.
		msg := "v1 does not work under Kong's default router (traditional_compatible): " +
			"this route's paths are joined as with v0; set path_handling: v0"
		if r.Name != "" {
			msg = "route '" + Shorten(r.Name, maxQuoted) + "': " + msg
		}
		b.warn(field("path_handling"), msg)
	default:
		b.err(field("path_handling"), "expected one of: v0, v1")
	}
	if r.StripPath != nil && (protos["grpc"] || protos["grpcs"]) {
		b.err(field("strip_path"), "cannot be set when 'protocols' is 'grpc' or 'grpcs'")
	}
	if msg := requiredCriteria(r, protos); msg != "" {
		b.err(path, msg)
	}
}

func (b *builder) checkRouteProtocols(r *Route, path string) {
	if len(r.Protocols) == 0 {
		b.err(path, "length must be at least 1")
		return
	}
	groups := map[int]bool{}
	for i, p := range r.Protocols {
		if !serviceProtocols[p] {
			b.errf(at(path, i), "expected one of: %s", strings.Join(ServiceProtocolList, ", "))
			continue
		}
		for g, members := range routeGroups {
			for _, m := range members {
				if m == p {
					groups[g] = true
				}
			}
		}
	}
	if len(groups) > 1 {
		b.err(path, "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')")
	}
}

// requiredCriteria is Kong's per-protocol "must set one of" rule.
func requiredCriteria(r *Route, protos map[string]bool) string {
	has := map[string]bool{
		"methods": len(r.Methods) > 0, "hosts": len(r.Hosts) > 0, "headers": len(r.Headers) > 0,
		"paths": len(r.Paths) > 0, "snis": len(r.SNIs) > 0, "sources": len(r.Sources) > 0,
		"destinations": len(r.Destinations) > 0,
	}
	need := func(fields []string, msg string) string {
		for _, f := range fields {
			if has[f] {
				return ""
			}
		}
		return msg
	}
	switch {
	case protos["http"] || protos["ws"]:
		return need([]string{"methods", "hosts", "headers", "paths"},
			"must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'")
	case protos["https"] || protos["wss"]:
		return need([]string{"methods", "hosts", "headers", "paths", "snis"},
			"must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'")
	case protos["grpc"]:
		return need([]string{"hosts", "headers", "paths"},
			"must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'")
	case protos["grpcs"]:
		return need([]string{"hosts", "headers", "paths", "snis"},
			"must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'")
	case protos["tls_passthrough"]:
		return need([]string{"snis"}, "must set snis when 'protocols' is 'tls_passthrough'")
	case protos["tcp"] || protos["tls"] || protos["udp"]:
		return need([]string{"sources", "destinations", "snis"},
			"must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'")
	}
	return ""
}

// checkRoutePath applies Kong 3.0's rules: `~` marks a regex, anything else
// is a prefix, which must be in the normal form the router matches
// against. Regexes are compiled with Go's RE2, which (unlike Kong's PCRE)
// has no lookarounds or backreferences.
func (b *builder) checkRoutePath(p, path string) {
	re, regex := strings.CutPrefix(p, "~")
	switch {
	case !strings.HasPrefix(re, "/"):
		b.err(path, "should start with: / (fixed path) or ~/ (regex path)")
	case strings.Contains(p, "//"):
		b.err(path, "must not have empty segments")
	case badPercent(p) != "":
		b.errf(path, "invalid url-encoded value: '%s'", badPercent(p))
	case regex:
		if _, err := regexp.Compile(re); err != nil {
			b.errf(path, "invalid regex: '%s' (%v)", re, err)
		}
	case normalizePath(p) != p:
		b.errf(path, "non-normalized path, consider use '%s' instead", normalizePath(p))
	}
}

func (b *builder) checkEndpoint(e Endpoint, path string) {
	if e.IP == "" && e.Port == 0 {
		b.err(path, "at least one of these fields must be non-empty: 'ip', 'port'")
	}
	if e.IP != "" && net.ParseIP(e.IP) == nil {
		if _, _, err := net.ParseCIDR(e.IP); err != nil {
			b.errf(JoinPath(path, "ip"), "invalid ip or cidr range: '%s'", e.IP)
		}
	}
	b.between(JoinPath(path, "port"), e.Port, 0, 65535)
}

// checkWildcardHost validates a route host: a hostname or IP with an
// optional port, and at most one `*` as the whole leftmost or rightmost
// label. It returns Kong's message, or "".
func checkWildcardHost(h string) string {
	name, port, hasPort := splitHostPort(h)
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "invalid port number"
		}
	}
	switch strings.Count(name, "*") {
	case 0:
	case 1:
		if !strings.HasPrefix(name, "*.") && !strings.HasSuffix(name, ".*") {
			return "invalid wildcard: must be placed at leftmost or rightmost label"
		}
		name = strings.Replace(name, "*", "wildcard", 1)
	default:
		return "invalid wildcard: must have at most one wildcard"
	}
	if !validHost(name) {
		return fmt.Sprintf("invalid hostname: %s", h)
	}
	return ""
}

// splitHostPort splits "host:port" and "[v6]:port"; a bare IPv6 address has
// no port.
func splitHostPort(s string) (host, port string, hasPort bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return s, "", false
		}
		rest := s[end+1:]
		if p, ok := strings.CutPrefix(rest, ":"); ok {
			return s[1:end], p, true
		}
		return s[1:end], "", false
	}
	if strings.Count(s, ":") == 1 {
		h, p, _ := strings.Cut(s, ":")
		return h, p, true
	}
	return s, "", false
}

// validHost accepts IP addresses and DNS names; underscores are allowed in
// labels because container and service-discovery names use them.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// validSNI is a hostname, optionally with a leading or trailing wildcard
// label, or `*` (Kong's default certificate); IP addresses are not server
// names.
func validSNI(s string) bool {
	if s == "*" {
		return true
	}
	if net.ParseIP(s) != nil {
		return false
	}
	if strings.Count(s, "*") == 1 && (strings.HasPrefix(s, "*.") || strings.HasSuffix(s, ".*")) {
		s = strings.Replace(s, "*", "wildcard", 1)
	}
	return validHost(s)
}

func anyOf(have, want map[string]bool) bool {
	for k := range have {
		if want[k] {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
