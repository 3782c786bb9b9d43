package session

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxLogoutBody bounds the body read to look for logout_post_arg; a larger
// body is passed on untouched and is no logout.
const maxLogoutBody = 64 << 10

// logout is Kong's: the method is one of logout_methods and the query has
// logout_query_arg or, with read_body_for_logout, a DELETE, PATCH, POST or
// PUT body (form or JSON) has a true logout_post_arg.
func (in *instance) logout(c *plugin.Ctx) bool {
	r := c.Req
	if !contains(in.logoutMethods, r.Method) {
		return false
	}
	if in.logoutQuery != "" && r.URL.RawQuery != "" {
		// A malformed pair is skipped; the others still count, as in Kong.
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if _, ok := q[in.logoutQuery]; ok {
			return true
		}
	}
	if !in.readBody || in.logoutPost == "" {
		return false
	}
	switch r.Method {
	case http.MethodDelete, http.MethodPatch, http.MethodPost, http.MethodPut:
		return bodyHasArg(r, in.logoutPost)
	}
	return false
}

// bodyHasArg reads a form or JSON body, up to maxLogoutBody, puts it back
// for the upstream, and reports whether it holds arg (for JSON, not false
// or null, which Lua reads as false).
func bodyHasArg(r *http.Request, arg string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(r.Header.Get("Content-Type")), ";")
	ct = strings.TrimSpace(ct)
	form := ct == "application/x-www-form-urlencoded"
	if !form && ct != "application/json" {
		return false
	}
	raw, ok := plugin.ReadBody(r, maxLogoutBody)
	if !ok || len(raw) == 0 {
		return false
	}
	if form {
		q, _ := url.ParseQuery(string(raw))
		_, ok := q[arg]
		return ok
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return false
	}
	v, ok := obj[arg]
	return ok && string(v) != "false" && string(v) != "null"
}

// The headers request_headers and response_headers may name, in
// headerNames' order.
var sessionHeaders = []string{"Session-Id", "Session-Audience", "Session-Subject", "Session-Timeout",
	"Session-Idling-Timeout", "Session-Rolling-Timeout", "Session-Absolute-Timeout"}

func headerMask(names []string) uint8 {
	var m uint8
	for _, n := range names {
		for i, h := range headerNames {
			if n == h {
				m |= 1 << i
			}
		}
	}
	return m
}

// setHeaders sets the session headers the mask names: the id, audience
// and subject, and the seconds left of each timeout (timeout: the
// soonest).
func (in *instance) setHeaders(h http.Header, mask uint8, d *data, now int64) {
	if mask == 0 {
		return
	}
	idling, rolling, absolute := in.idling, in.rolling, in.absolute
	if d.remember {
		idling, rolling, absolute = 0, in.rememberRolling, in.rememberAbsolute
	}
	left := func(from, t int64) int64 {
		if t == 0 {
			return 0
		}
		return max(from+t-now, 0)
	}
	li, lr, la := left(d.issued, idling), left(d.issued, rolling), left(d.created, absolute)
	soonest := int64(0)
	for _, v := range []int64{li, lr, la} {
		if v > 0 && (soonest == 0 || v < soonest) {
			soonest = v
		}
	}
	values := []string{
		base64.RawURLEncoding.EncodeToString(d.id[:]), in.audience, d.subject, strconv.FormatInt(soonest, 10),
		strconv.FormatInt(li, 10), strconv.FormatInt(lr, 10), strconv.FormatInt(la, 10),
	}
	for i, name := range sessionHeaders {
		if mask&(1<<i) != 0 {
			h[name] = []string{values[i]}
		}
	}
}
