// Package pathsafe holds the rules that keep a path sent upstream below
// the path it was built under: dot segments, spelt plainly, encoded or
// with Tomcat's path parameters, and encoded slashes. It is a leaf (it
// imports nothing of ours) so that the router, the proxy and plugins (the
// aggregate plugin's rendered calls) hold paths to one rule.
package pathsafe

import "strings"

// DotName reports whether the path segment seg is "." or ".." once its
// path parameters are cut (each dot also spelt %2E): `..;x` is one for
// Tomcat and Spring, which drop `;` parameters before they resolve dot
// segments.
func DotName(seg string) bool {
	name, _ := cutParams(seg)
	return dots(name) > 0
}

// cutParams splits a path segment at its first `;` (or `%3B`, which an
// upstream may decode first), which starts its path parameters.
func cutParams(seg string) (name string, params bool) {
	for i := 0; i < len(seg); i++ {
		if seg[i] == ';' || (seg[i] == '%' && i+2 < len(seg) && seg[i+1] == '3' && seg[i+2]|0x20 == 'b') {
			return seg[:i], true
		}
	}
	return seg, false
}

// dots is 1 or 2 when name is a dot segment, "." or "..", each dot also
// spelt %2E; 0 otherwise.
func dots(name string) int {
	n := 0
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] == '.':
		case name[i] == '%' && i+2 < len(name) && name[i+1] == '2' && name[i+2]|0x20 == 'e':
			i += 2
		default:
			return 0
		}
		if n++; n > 2 {
			return 0
		}
	}
	return n
}

// HasDotSegmentParams reports a segment of the normalised client path p
// that is "." or ".." with path parameters, or parameter-only and followed
// by another segment. Tomcat and Spring strip `;params` from each segment
// before they resolve dot segments and merge slashes, so they read
// `/public/..;/admin` (which matches a `/public` route) and `/;/admin`
// (which matches `/`) as /admin. A final `/;jsessionid=…` stays allowed:
// it only names the directory the router saw. It does not allocate.
func HasDotSegmentParams(p string) bool {
	for len(p) > 0 && p[0] == '/' {
		seg, _, more := strings.Cut(p[1:], "/")
		if name, params := cutParams(seg); params && (dots(name) > 0 || name == "" && more) {
			return true
		}
		p = p[1+len(seg):]
	}
	return false
}

// Upstream reports whether p, the path that goes upstream once
// strip_path and plugins (request-transformer's replace.uri) are done, is
// held to the rules of client paths that keep it below the service path:
// no dot segment (also spelt %2E), which an upstream resolves to climb
// out of it; no dot segment with path parameters, which Tomcat and Spring
// read as a dot segment (unless allowParams); no encoded slash or
// backslash (unless allowSlashes). A parameter-only segment (`/api/;v=2/x`,
// which a matrix parameter on a stripped prefix leaves, as in Kong) only
// merges two slashes upstream and cannot climb, so it passes here. The
// segments that end within p[:trusted], the service's own path from the
// configuration, are not checked. It does not allocate.
func Upstream(p string, trusted int, allowSlashes, allowParams bool) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		end := strings.IndexByte(p[i+1:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += i + 1
		}
		if end <= trusted {
			continue
		}
		seg := p[i+1 : end]
		if !allowSlashes && HasEncodedSlash(seg) {
			return false
		}
		if name, params := cutParams(seg); dots(name) > 0 && (!params || !allowParams) {
			return false
		}
	}
	return true
}

// HasEncodedSlash reports a backslash or a percent-encoded slash or
// backslash: `/public/..%2Fadmin` matches a `/public` route, and an
// upstream that decodes %2F would serve /admin.
func HasEncodedSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			return true
		case '%':
			if i+2 < len(s) {
				if a, b := s[i+1], s[i+2]|0x20; (a == '2' && b == 'f') || (a == '5' && b == 'c') {
					return true
				}
			}
		}
	}
	return false
}
