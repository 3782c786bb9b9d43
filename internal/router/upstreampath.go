package router

import "strings"

// UpstreamPath joins the service path, and the request path with the
// route's matched part stripped when strip_path is on, exactly as Kong's
// path_handling v0 (the default) and v1 do. reqPath is the normalised
// request path; matched is what the route's path matched ("" for a route
// without paths).
func UpstreamPath(base, reqPath, matched string, strip, v1 bool) string {
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
	if v1 {
		if !strip {
			if base == "/" {
				return reqPath
			}
			return base + reqPath[1:]
		}
		return base + postfix
	}
	if strings.HasSuffix(base, "/") {
		if !strip {
			if base == "/" {
				return reqPath
			}
			return base + reqPath[1:]
		}
		switch {
		case postfix == "" && base == "/":
			return "/"
		case postfix == "" && strings.HasSuffix(reqPath, "/"):
			return base
		case postfix == "":
			return base[:len(base)-1]
		case postfix[0] == '/':
			return base[:len(base)-1] + postfix
		}
		return base + postfix
	}
	if !strip {
		if reqPath == "/" {
			return base
		}
		return base + reqPath
	}
	switch {
	case postfix == "" && len(reqPath) > 1 && strings.HasSuffix(reqPath, "/"):
		return base + "/"
	case postfix == "":
		return base
	case postfix[0] == '/':
		return base + postfix
	}
	return base + "/" + postfix
}

// sanitizePostfix drops a leading dot segment left over after stripping,
// so a route prefix cannot be used to climb above the service path.
func sanitizePostfix(p string) string {
	switch {
	case p == "." || p == "..":
		return ""
	case strings.HasPrefix(p, "./"):
		return p[2:]
	case strings.HasPrefix(p, "../"):
		return p[3:]
	}
	return p
}
