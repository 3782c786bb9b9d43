package proxy

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// hasDotSegmentParams reports a segment of the normalised path p that is
// "." or ".." followed by path parameters, or empty and followed by them
// and by another segment. Tomcat and Spring strip `;params` from each
// segment before they resolve dot segments and merge slashes, so they read
// `/public/..;/admin` (which matches a `/public` route) and `/;/admin`
// (which matches `/`) as /admin. A final `/;jsessionid=…` stays allowed:
// it only names the directory the router saw. Normalising has decoded %2E
// and upper-cased %3b, so one spelling of each is enough.
func hasDotSegmentParams(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		j := i + 1
		dots := 0
		for j < len(p) && p[j] == '.' && dots < 2 {
			j++
			dots++
		}
		if j == len(p) || (p[j] != ';' && !strings.HasPrefix(p[j:], "%3B")) {
			continue
		}
		if dots > 0 || strings.IndexByte(p[j:], '/') >= 0 {
			return true
		}
	}
	return false
}

// splitTarget returns the raw (still encoded) path and the query of the
// request target.
func splitTarget(r *http.Request) (path, query string) {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] == '?' {
			return uri[:i], uri[i+1:]
		}
	}
	return uri, ""
}

// checkProtocol enforces the route's protocols: an https-only route over
// plain HTTP gets 426 or the configured redirect, a gRPC route over
// HTTP/1.x gets 426 (Kong's runloop).
func checkProtocol(route *snapshot.Route, r *http.Request, https, trusted bool) *plugin.Exit {
	if (route.GRPC || route.GRPCS) && !route.HTTP && !route.HTTPS {
		if r.ProtoMajor < 2 {
			return &plugin.Exit{Status: http.StatusUpgradeRequired, Message: msgUseHTTP2,
				Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"HTTP/2"}}}
		}
		if route.GRPCS && !route.GRPC && !https {
			return &plugin.Exit{Status: http.StatusUpgradeRequired, Message: msgUseHTTPS,
				Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"TLS/1.2, HTTP/1.1"}}}
		}
		return nil
	}
	if !route.HTTP && route.HTTPS && !https {
		if trusted && r.Header.Get("X-Forwarded-Proto") == "https" {
			return nil
		}
		if route.HTTPSRedirectStatus != http.StatusUpgradeRequired {
			host := r.Host
			if trusted {
				if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
					host = fh
				}
			}
			return &plugin.Exit{Status: route.HTTPSRedirectStatus, Message: http.StatusText(route.HTTPSRedirectStatus),
				Header: http.Header{"Location": {"https://" + host + r.RequestURI}}}
		}
		return &plugin.Exit{Status: http.StatusUpgradeRequired, Message: msgUseHTTPS,
			Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"TLS/1.2, HTTP/1.1"}}}
	}
	return nil
}

func joinComma(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	n := 0
	for _, v := range vs {
		n += len(v) + 2
	}
	b := make([]byte, 0, n)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return string(b)
}

func stripPort(host string) string {
	if host == "" {
		return host
	}
	if host[0] == '[' {
		if i := lastIndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := lastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}
