package proxy

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

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
