package admin

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxTags         = 5
)

// entityRoutes registers the read-only entity endpoints. The configuration
// is declarative, so, as Kong in DB-less mode, writes are refused with 405
// and Kong's "operation unsupported" error naming the entity.
func (a *api) entityRoutes(mux *routeMux) error {
	for _, kind := range kinds {
		if kind == "targets" {
			continue
		}
		mux.HandleFunc("/"+kind, a.readOnly(kind, func(w http.ResponseWriter, r *http.Request, ix *index) {
			a.list(w, r, ix, kind, nil)
		}))
		mux.HandleFunc("/"+kind+"/{id}", a.readOnly(kind, func(w http.ResponseWriter, r *http.Request, ix *index) {
			e := ix.find(kind, r.PathValue("id"))
			if e == nil {
				writeJSON(w, http.StatusNotFound, message("Not found"))
				return
			}
			writeJSON(w, http.StatusOK, e.body)
		}))
	}
	for _, n := range nestings {
		mux.HandleFunc("/"+n.parent+"/{id}/"+n.child, a.readOnly(n.child, func(w http.ResponseWriter, r *http.Request, ix *index) {
			p := ix.find(n.parent, r.PathValue("id"))
			if p == nil {
				writeJSON(w, http.StatusNotFound, message("Not found"))
				return
			}
			a.list(w, r, ix, n.child, func(c *entity) bool { return foreignOf(c, n.field) == p.id })
		}))
	}
	a.nestedEntityRoutes(mux)
	return a.credentialRoutes(mux)
}

// readOnly serves GET (and HEAD) with the entity index of the snapshot in
// force, and refuses writes the way Kong's DB-less mode does.
func (a *api) readOnly(kind string, h func(http.ResponseWriter, *http.Request, *index)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.src.Commit != nil && writeMethod(r.Method) {
			a.write(w, r)
			return
		}
		var op string
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			ix := a.entities()
			if ix == nil {
				writeJSON(w, http.StatusServiceUnavailable, message("no configuration loaded"))
				return
			}
			h(w, r, ix)
			return
		case http.MethodPost:
			op = "create"
		case http.MethodPut:
			op = "create or update"
		case http.MethodPatch:
			op = "update"
		case http.MethodDelete:
			op = "remove"
		default:
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
			"code": 12, "name": "operation unsupported",
			"message": "cannot " + op + " '" + kind + "' entities when not using a database",
		})
	}
}

// list answers one page of kind, filtered by keep (nil: all) and by the
// request's ?tags=, in configuration order. The offset is the next
// entity's id, so a page boundary stays put when entities are added before
// it, and a reload that removed it is reported rather than silently
// skipping entities.
func (a *api) list(w http.ResponseWriter, r *http.Request, ix *index, kind string, keep func(*entity) bool) {
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"code": 9, "name": "invalid size",
				"message": "size must be an integer between 1 and " + strconv.Itoa(maxPageSize),
			})
			return
		}
		size = n
	}
	match, msg := parseTags(q.Get("tags"))
	if msg != "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"code": 11, "name": "invalid options", "message": "invalid option (tags: " + msg + ")",
		})
		return
	}
	var items []*entity
	for _, e := range ix.byKind[kind] {
		if (keep == nil || keep(e)) && match(e.tags) {
			items = append(items, e)
		}
	}
	start := 0
	if off := q.Get("offset"); off != "" {
		id, err := base64.RawURLEncoding.DecodeString(off)
		start = -1
		if err == nil {
			for i, e := range items {
				if e.id == string(id) {
					start = i
					break
				}
			}
		}
		if start < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"code": 7, "name": "invalid offset", "message": "'" + off + "' is not a valid offset",
			})
			return
		}
	}
	end := min(start+size, len(items))
	data := make([]any, 0, end-start)
	for _, e := range items[start:end] {
		data = append(data, e.body)
	}
	body := map[string]any{"data": data, "next": nil}
	if end < len(items) {
		off := base64.RawURLEncoding.EncodeToString([]byte(items[end].id))
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("offset", off)
		body["next"] = r.URL.Path + "?" + nq.Encode()
		body["offset"] = off
	}
	writeJSON(w, http.StatusOK, body)
}

// parseTags reads Kong's tag filter: `a,b` needs every tag, `a/b` any of
// them, at most five, never both separators. It returns the matcher, or
// the reason the filter is invalid.
func parseTags(s string) (func([]string) bool, string) {
	if s == "" {
		return func([]string) bool { return true }, ""
	}
	and, or := strings.Contains(s, ","), strings.Contains(s, "/")
	if and && or {
		return nil, "invalid filter syntax"
	}
	sep := ","
	if or {
		sep = "/"
	}
	want := strings.Split(s, sep)
	if len(want) > maxTags {
		return nil, "cannot query more than " + strconv.Itoa(maxTags) + " tags"
	}
	for _, t := range want {
		if !validTag(t) {
			return nil, "invalid filter syntax"
		}
	}
	return func(tags []string) bool {
		for _, w := range want {
			found := false
			for _, t := range tags {
				if t == w {
					found = true
					break
				}
			}
			if or && found {
				return true
			}
			if !or && !found {
				return false
			}
		}
		return !or
	}, ""
}

// validTag accepts what Kong's tag type does: printable characters other
// than the filter separators and whitespace (Kong rejects `foo bar` and
// `foo@bar` in a filter).
func validTag(t string) bool {
	if t == "" || !utf8.ValidString(t) {
		return false
	}
	for _, c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == '~', c == ':':
		case c >= 0x80:
		default:
			return false
		}
	}
	return true
}
