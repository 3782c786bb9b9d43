package ingress

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

const nginxPrefix = "nginx.ingress.kubernetes.io/"

// nginxHandled are the annotations read elsewhere (or together with
// another one), which the loop below must not call unknown.
var nginxHandled = []string{
	"canary", "canary-weight", "canary-weight-total", "canary-by-header", "canary-by-header-value",
	"cors-allow-origin", "cors-allow-methods", "cors-allow-headers",
	"cors-expose-headers", "cors-allow-credentials", "cors-max-age", "auth-secret", "auth-secret-type", "auth-realm",
}

// nginx applies the ingress-nginx annotations, sorted so that warnings
// come in a stable order.
func (c *converter) nginx(in *netv1.Ingress, s *settings) {
	obj := objName(in)
	a := func(name string) string { return in.Annotations[nginxPrefix+name] }
	for _, full := range slices.Sorted(maps.Keys(in.Annotations)) {
		name, ok := strings.CutPrefix(full, nginxPrefix)
		if !ok {
			continue
		}
		v := in.Annotations[full]
		bad := func(want string) { c.ws.Add(obj, full, "%q is not %s: ignored", v, want) }
		switch name {
		case "rewrite-target":
			s.regex = true
			s.addPlugin(&importer.Plugin{Name: "request-transformer", Config: c.rewriteTarget(obj, full, v)})
		case "use-regex":
			s.regex = s.regex || v == "true"
		case "ssl-redirect":
			s.sslRedirect = v != "false"
		case "force-ssl-redirect":
			s.forceSSL = v == "true"
		case "limit-rps", "limit-rpm":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				bad("a positive number")
				continue
			}
			c.rateLimit(s, name, n)
		case "limit-burst-multiplier":
			c.ws.Add(obj, full, "rate-limiting counts fixed windows without a burst allowance: ignored")
		case "limit-connections":
			c.ws.Add(obj, full, "per-client connection limits have no Kong plugin (adaptive-concurrency limits the whole service): ignored")
		case "proxy-body-size":
			c.bodySize(s, obj, full, v)
		case "proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout":
			n, err := strconv.Atoi(strings.TrimSuffix(v, "s"))
			if err != nil || n <= 0 || n > importer.MaxTimeout/1000 {
				bad(fmt.Sprintf("a number of seconds up to %d", importer.MaxTimeout/1000))
				continue
			}
			s.svc.timeouts[slices.Index([]string{"proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout"}, name)] = n * 1000
		case "enable-cors":
			if v == "true" {
				s.addPlugin(&importer.Plugin{Name: "cors", Config: cors(a)})
			}
		case "whitelist-source-range", "allowlist-source-range", "denylist-source-range":
			c.ipRestriction(s, name, v)
		case "backend-protocol":
			p, ok := map[string]string{"HTTP": "http", "HTTPS": "https", "GRPC": "grpc", "GRPCS": "grpcs"}[strings.ToUpper(v)]
			if !ok {
				c.ws.Add(obj, full, "%q has no Kong service protocol (HTTP, HTTPS, GRPC, GRPCS do): http", v)
				continue
			}
			s.svc.protocol = p
		case "upstream-hash-by":
			s.svc.hash = c.hashBy(obj, full, v)
		case "auth-type":
			if v != "basic" {
				c.ws.Add(obj, full, "%q is not imported (basic is): the routes are not protected", v)
				continue
			}
			c.basicAuth(in, s)
		case "auth-tls-secret":
			c.authTLS(in, s)
		default:
			if _, ok := authTLSOthers[name]; ok {
				if a("auth-tls-secret") == "" {
					c.ws.Add(obj, full, "without auth-tls-secret: ignored")
				}
				continue
			}
			if slices.Contains(nginxHandled, name) {
				continue
			}
			hint := ""
			if name == "rate-limit" || name == "rate-limit-window" {
				hint = " (ingress-nginx limits with limit-rps and limit-rpm)"
			}
			c.ws.Add(obj, full, "not an annotation the import maps%s: ignored", hint)
		}
	}
}

var nginxCapture = regexp.MustCompile(`\$(\d+)|\$\{(\d+)\}|\$[A-Za-z_]+`)

// rewriteTarget turns rewrite-target into request-transformer's config:
// NGINX's $1 captures become uri_captures of the regex route, and a query
// in the target is added to the request's (NGINX appends the original
// arguments to the target's).
func (c *converter) rewriteTarget(obj, field, target string) map[string]any {
	subst := func(s string) string {
		return nginxCapture.ReplaceAllStringFunc(s, func(m string) string {
			n := strings.Trim(m, "${}")
			if _, err := strconv.Atoi(n); err == nil {
				return "$(uri_captures[" + n + "])"
			}
			switch {
			case n == "host" || n == "http_host":
				return "$(headers.host)"
			case strings.HasPrefix(n, "http_"):
				return `$(headers["` + strings.ReplaceAll(n[len("http_"):], "_", "-") + `"])`
			case strings.HasPrefix(n, "arg_"):
				return `$(query_params["` + n[len("arg_"):] + `"])`
			}
			c.ws.Add(obj, field, "NGINX variable %s is not mapped ($1..., $host, $http_*, $arg_* are): sent literally", m)
			return m
		})
	}
	path, query, _ := strings.Cut(target, "?")
	cfg := map[string]any{"replace": map[string]any{"uri": subst(path)}}
	var add []any
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k != "" {
			add = append(add, k+":"+subst(v))
		}
	}
	if len(add) > 0 {
		cfg["add"] = map[string]any{"querystring": add}
	}
	return cfg
}

func (c *converter) rateLimit(s *settings, name string, n int) {
	window := map[string]string{"limit-rps": "second", "limit-rpm": "minute"}[name]
	p := &importer.Plugin{Name: "rate-limiting", Config: map[string]any{window: n, "limit_by": "ip", "policy": "local"}}
	for _, q := range s.tmpl.Plugins {
		if q.Name == "rate-limiting" {
			q.Config[window] = n
			p = nil
		}
	}
	if p != nil {
		s.addPlugin(p)
	}
}

var sizeUnits = map[byte]struct {
	unit string
	mul  int
}{'k': {"kilobytes", 1}, 'm': {"megabytes", 1}, 'g': {"megabytes", 1024}}

func (c *converter) bodySize(s *settings, obj, field, v string) {
	num, unit, mul := v, "bytes", 1
	if n := len(v); n > 0 {
		if u, ok := sizeUnits[v[n-1]|0x20]; ok {
			num, unit, mul = v[:n-1], u.unit, u.mul
		}
	}
	size, err := strconv.Atoi(num)
	if err != nil || size < 0 || size > math.MaxInt32/mul {
		c.ws.Add(obj, field, "%q is not an NGINX size (1024, 8k, 10m, 1g) of at most 2^31-1 units: ignored", v)
		return
	}
	if size == 0 {
		return // NGINX's 0: no limit
	}
	s.addPlugin(&importer.Plugin{Name: "request-size-limiting", Config: map[string]any{
		"allowed_payload_size": size * mul, "size_unit": unit}})
}

func splitList(v string) []any {
	var out []any
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cors maps enable-cors with ingress-nginx's defaults for the cors-*
// annotations not given.
func cors(a func(string) string) map[string]any {
	or := func(name, def string) string {
		if v := a(name); v != "" {
			return v
		}
		return def
	}
	cfg := map[string]any{
		"origins":     splitList(or("cors-allow-origin", "*")),
		"methods":     splitList(or("cors-allow-methods", "GET, PUT, POST, DELETE, PATCH, OPTIONS")),
		"headers":     splitList(or("cors-allow-headers", "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization")),
		"credentials": or("cors-allow-credentials", "true") == "true",
	}
	if m, err := strconv.Atoi(or("cors-max-age", "1728000")); err == nil {
		cfg["max_age"] = m
	}
	if e := splitList(a("cors-expose-headers")); len(e) > 0 {
		cfg["exposed_headers"] = e
	}
	return cfg
}

func (c *converter) ipRestriction(s *settings, name, v string) {
	field := "allow"
	if name == "denylist-source-range" {
		field = "deny"
	}
	for _, q := range s.tmpl.Plugins {
		if q.Name == "ip-restriction" {
			q.Config[field] = splitList(v)
			return
		}
	}
	s.addPlugin(&importer.Plugin{Name: "ip-restriction", Config: map[string]any{field: splitList(v)}})
}

// hashBy maps upstream-hash-by's NGINX variable to Kong's hash_on.
func (c *converter) hashBy(obj, field, v string) importer.Fields {
	f := importer.Fields{"algorithm": "consistent-hashing"}
	switch {
	case v == "$remote_addr" || v == "$binary_remote_addr":
		f["hash_on"] = "ip"
	case v == "$request_uri" || v == "$uri":
		f["hash_on"] = "path"
	case strings.HasPrefix(v, "$http_"):
		f["hash_on"], f["hash_on_header"] = "header", strings.ReplaceAll(v[len("$http_"):], "_", "-")
	case strings.HasPrefix(v, "$cookie_"):
		f["hash_on"], f["hash_on_cookie"] = "cookie", v[len("$cookie_"):]
	case strings.HasPrefix(v, "$arg_"):
		f["hash_on"], f["hash_on_query_arg"] = "query_arg", v[len("$arg_"):]
	default:
		c.ws.Add(obj, field, "%q is not one variable Kong can hash on ($remote_addr, $request_uri, $uri, $http_*, $cookie_*, $arg_*): round robin", v)
		return nil
	}
	return f
}
