package aggregate

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// The X-Turnpike-Completed values, shared read-only by every answer.
var (
	completeHeader   = http.Header{"X-Turnpike-Completed": {"true"}}
	incompleteHeader = http.Header{"X-Turnpike-Completed": {"false"}}
)

// answer merges the results into the request's answer: 200 when every
// call answered, 200 with the errors when optional ones failed, 502 when
// a required one did, 400 when the request's values failed a required one.
func (in *instance) answer(r *run) error {
	if e := in.clientError(r); e != nil {
		return e
	}
	size := 64
	failed, fatal := 0, false
	for i := range r.results {
		res := &r.results[i]
		if res.why != "" {
			failed++
			fatal = fatal || in.calls[i].required
			size += 64 + len(res.why)
			continue
		}
		size += 16 + res.end - res.start
	}
	w := writer{b: make([]byte, 0, size), dedup: in.dedup && !fatal}
	if w.dedup {
		w.seen = make(map[string]struct{}, 8)
		if failed > 0 {
			w.seen["errors"] = struct{}{}
		}
	}
	w.b = append(w.b, '{')
	if !fatal {
		for i := range in.calls {
			in.place(&w, i, &r.results[i])
		}
	}
	if failed > 0 {
		// Reserved for this at the start: no call wrote it.
		w.dedup = false
		w.open("errors")
		w.b = in.errorList(w.b, r)
	}
	w.b = append(w.b, '}')
	e := &plugin.Exit{Status: http.StatusOK, Body: w.b, ContentType: "application/json", Header: completeHeader}
	if failed > 0 {
		e.Header = incompleteHeader
	}
	if fatal {
		e.Status = http.StatusBadGateway
	}
	if hits := in.hits(r); hits != "" {
		e.Header = http.Header{"X-Turnpike-Completed": e.Header["X-Turnpike-Completed"], hitHeader: {hits}}
	}
	return e
}

// clientError is the 400 for the first required call whose template the
// request's values could not fill (nil when none): the client's mistake,
// named in Kong's error body, not a failed backend.
func (in *instance) clientError(r *run) error {
	for i := range r.results {
		if res := &r.results[i]; res.client && in.calls[i].required {
			return &plugin.Exit{Status: http.StatusBadRequest, Message: res.why + " for call '" + in.calls[i].name + "'",
				Header: incompleteHeader}
		}
	}
	return nil
}

// place writes call i's part of the answer.
func (in *instance) place(w *writer, i int, res *result) {
	c := &in.calls[i]
	if res.why != "" {
		if c.nullOnErr && w.open(c.slot) {
			w.b = append(w.b, "null"...)
		}
		return
	}
	s := &in.shapers[i]
	t, allow := s.filter()
	b := res.body
	switch {
	case c.coll != "" && b[res.start] == '[':
		if c.group != "" {
			if !w.open(c.group) {
				return
			}
			w.b = append(w.b, '{')
			w.b = jsonw.AppendString(w.b, c.coll)
			w.b = append(w.b, ':')
			w.b = s.valueOnly(w.b, b, res.start, t, allow)
			w.b = append(w.b, '}')
			return
		}
		if w.open(c.coll) {
			w.b = s.valueOnly(w.b, b, res.start, t, allow)
		}
	case c.group != "":
		if w.open(c.group) {
			w.b = s.valueOnly(w.b, b, res.start, t, allow)
		}
	case b[res.start] == '{':
		w.merge(s, b, res.start)
	default:
		if w.open(c.slot) {
			w.b = s.valueOnly(w.b, b, res.start, t, allow)
		}
	}
}

// errorList appends [{"call":..,"reason":..},...] of the failed calls.
func (in *instance) errorList(b []byte, r *run) []byte {
	b = append(b, '[')
	first := true
	for i := range r.results {
		if r.results[i].why == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"call":`...)
		b = jsonw.AppendString(b, in.calls[i].name)
		b = append(b, `,"reason":`...)
		b = jsonw.AppendString(b, r.results[i].why)
		b = append(b, '}')
	}
	return append(b, ']')
}

// isJSON reports whether a Content-Type is JSON's (application/json or
// a +json type).
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") ||
		len(mt) > 17 && strings.EqualFold(mt[len(mt)-5:], "+json") && strings.EqualFold(mt[:12], "application/")
}

// hits names the calls answered from the cache ("": none).
func (in *instance) hits(r *run) string {
	var b []byte
	for i := range r.results {
		if r.results[i].hit {
			if b != nil {
				b = append(b, ", "...)
			}
			b = append(b, in.calls[i].name...)
		}
	}
	return string(b)
}
