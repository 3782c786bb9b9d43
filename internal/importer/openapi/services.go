package openapi

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// server is a server URL with its variables substituted.
type server struct {
	scheme, host string
	port         int
	path         string
}

// resolveServer substitutes a server's variables by their defaults, as
// openapi2kong does; a variable without one leaves the URL unusable.
func resolveServer(s *openapi3.Server) (server, string) {
	// Scanning forward only: a default holding braces is not expanded again.
	var b strings.Builder
	rest := s.URL
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return server{}, "unbalanced { in " + strconv.Quote(s.URL)
		}
		name := rest[i+1 : i+j]
		v, ok := s.Variables[name]
		if !ok || v == nil || v.Default == "" {
			return server{}, "variable {" + name + "} has no default in " + strconv.Quote(s.URL)
		}
		b.WriteString(rest[:i])
		b.WriteString(v.Default)
		rest = rest[i+j+1:]
	}
	return parseOrigin(b.String())
}

// parseOrigin reads an absolute http(s) URL.
func parseOrigin(raw string) (server, string) {
	pu, err := url.Parse(raw)
	if err != nil {
		return server{}, err.Error()
	}
	if pu.Host == "" {
		return server{}, "relative URL " + strconv.Quote(raw) + ": no host to proxy to"
	}
	sv := server{scheme: strings.ToLower(pu.Scheme), host: pu.Hostname(), path: pu.EscapedPath()}
	switch sv.scheme {
	case "http":
		sv.port = 80
	case "https":
		sv.port = 443
	default:
		return server{}, "scheme " + strconv.Quote(pu.Scheme) + ": only http and https"
	}
	if p := pu.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return server{}, "port " + strconv.Quote(p) + " out of range"
		}
		sv.port = n
	}
	if sv.path == "" {
		sv.path = "/"
	}
	return sv, ""
}

// level is one of the document, a path item and an operation: where
// servers and x-kong-* defaults are looked up, innermost first.
type level struct {
	path string // where in the document, for warnings
	exts map[string]any
}

// defaults merges x-kong-<kind>-defaults from the outermost level in.
func (c *conv) defaults(kind string, levels []level) importer.Fields {
	key := "x-kong-" + kind + "-defaults"
	var out importer.Fields
	for _, l := range levels {
		v, ok := l.exts[key]
		if !ok {
			continue
		}
		m, err := extMap(v)
		if err != nil {
			c.warn(c.at(l.path), key, "not an object: ignored")
			continue
		}
		if out == nil {
			out = importer.Fields{}
		}
		for k, x := range m {
			if slices.Contains(setByImport[kind], k) {
				c.warnOnce(l.path+key+k, c.at(l.path), key+"."+k, "set by the import: ignored")
				continue
			}
			out[k] = x
		}
	}
	return out
}

// setByImport are the fields of each kind the conversion sets itself.
var setByImport = map[string][]string{
	"service":  {"id", "name", "url", "protocol", "host", "port", "path", "routes", "plugins", "tags"},
	"upstream": {"id", "name", "targets", "tags"},
}

// serversService is the service for a set of servers (the innermost level
// that has some), made once per distinct set and defaults. Servers that
// differ only in host and port become an upstream's targets; nil when no
// server is usable.
func (c *conv) serversService(obj string, servers openapi3.Servers, hint string, levels []level) *importer.Service {
	svcDefaults := c.defaults("service", levels)
	upDefaults := c.defaults("upstream", levels)
	key := keyOf("servers", servers, svcDefaults, upDefaults)
	if s, ok := c.services[key]; ok {
		return s
	}
	var list []server
	for i, s := range servers {
		sv, why := resolveServer(s)
		if why != "" {
			c.warn(obj, "servers["+strconv.Itoa(i)+"]", "%s: server not used", why)
			continue
		}
		if len(list) > 0 && (sv.scheme != list[0].scheme || sv.path != list[0].path) {
			c.warn(obj, "servers["+strconv.Itoa(i)+"]", "scheme or path differs from the first server's: a service has one; server not used")
			continue
		}
		list = append(list, sv)
	}
	if len(servers) == 0 {
		c.warn(obj, "servers", "none: the service proxies to localhost:80")
		list = []server{{scheme: "http", host: "localhost", port: 80, path: "/"}}
	}
	if len(list) == 0 {
		c.services[key] = nil
		return nil
	}
	s := &importer.Service{Name: c.cfg.UniqueName(importer.KindService, hint), Protocol: list[0].scheme, Host: list[0].host, Port: list[0].port, Path: list[0].path, Fields: svcDefaults, Tags: c.tags()}
	if len(list) > 1 || upDefaults != nil {
		up := &importer.Upstream{Name: s.Name + ".upstream", Fields: upDefaults, Tags: c.tags()}
		for _, sv := range list {
			up.Targets = append(up.Targets, importer.Target{Target: net.JoinHostPort(sv.host, strconv.Itoa(sv.port))})
		}
		c.cfg.Upstreams = append(c.cfg.Upstreams, up)
		s.Host = up.Name
	}
	c.add(key, s)
	return s
}

func (c *conv) add(key string, s *importer.Service) {
	c.services[key] = s
	c.cfg.Services = append(c.cfg.Services, s)
	c.mine = append(c.mine, s)
}

// backendService is the service for an AWS HTTP integration's origin and
// timeout.
func (c *conv) backendService(origin server, timeout int, levels []level) *importer.Service {
	svcDefaults := c.defaults("service", levels)
	key := keyOf("backend", origin.scheme, origin.host, origin.port, timeout, svcDefaults)
	if s, ok := c.services[key]; ok {
		return s
	}
	host := origin.host
	if (origin.scheme == "http" && origin.port != 80) || (origin.scheme == "https" && origin.port != 443) {
		host += "-" + strconv.Itoa(origin.port)
	}
	hint := joinName(c.name, slug(host))
	s := &importer.Service{Name: c.cfg.UniqueName(importer.KindService, hint), Protocol: origin.scheme, Host: origin.host, Port: origin.port, Fields: svcDefaults, Tags: c.tags()}
	if timeout > 0 {
		timeout = min(timeout, importer.MaxTimeout)
		if s.Fields == nil {
			s.Fields = importer.Fields{}
		}
		for _, f := range []string{"connect_timeout", "read_timeout", "write_timeout"} {
			if _, set := s.Fields[f]; !set {
				s.Fields[f] = timeout
			}
		}
	}
	c.add(key, s)
	return s
}

func keyOf(parts ...any) string {
	b, _ := json.Marshal(parts)
	return string(b)
}
