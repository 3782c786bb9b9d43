package proxy

import "net/http"

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
