package router

import (
	"strings"

	"github.com/turnpikegw/turnpike/internal/pathsafe"
)

// UpstreamPath joins the service path, and the request path with the
// route's matched part stripped when strip_path is on, exactly as Kong's
// path_handling v0 does; its default router applies v0 to routes set to v1
// as well (kong/router/atc.lua). reqPath is the normalised request path;
// matched is what the route's path matched ("" for a route without paths).
func UpstreamPath(base, reqPath, matched string, strip bool) string {
	if base == "" {
		base = "/"
	}
	postfix := ""
	if strip {
		if matched == "" {
			matched = "/"
		}
		if len(matched) <= len(reqPath) {
			postfix = sanitizePostfix(reqPath[len(matched):])
		}
	}
	if strings.HasSuffix(base, "/") {
		if !strip {
			if base == "/" {
				return reqPath
			}
			return join(reqPath, base, reqPath[1:])
		}
		switch {
		case postfix == "" && base == "/":
			return "/"
		case postfix == "" && strings.HasSuffix(reqPath, "/"):
			return base
		case postfix == "":
			return base[:len(base)-1]
		case postfix[0] == '/':
			return join(reqPath, base[:len(base)-1], postfix)
		}
		return join(reqPath, base, postfix)
	}
	if !strip {
		if reqPath == "/" {
			return base
		}
		return join(reqPath, base, reqPath)
	}
	switch {
	case postfix == "" && len(reqPath) > 1 && strings.HasSuffix(reqPath, "/"):
		return base + "/"
	case postfix == "":
		return base
	case postfix[0] == '/':
		return join(reqPath, base, postfix)
	}
	return base + "/" + postfix
}

// join is a + b: the end of whole when whole ends with them, which
// allocates nothing (a route on / with strip_path leaves the request path
// as it was), else a new string.
func join(whole, a, b string) string {
	if n := len(a) + len(b); n <= len(whole) {
		if t := whole[len(whole)-n:]; t[:len(a)] == a && t[len(a):] == b {
			return t
		}
	}
	return a + b
}

// sanitizePostfix drops a leading dot segment left over after stripping,
// so a route prefix cannot be used to climb above the service path. A dot
// segment with path parameters counts as one: `/public..;/secret` leaves
// `..;/secret`, and Tomcat and Spring drop `;` parameters before they
// resolve dot segments.
func sanitizePostfix(p string) string {
	seg, rest, slash := strings.Cut(p, "/")
	if !pathsafe.DotName(seg) {
		return p
	}
	if !slash {
		return ""
	}
	return rest
}
