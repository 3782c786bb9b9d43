package admin

import (
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	a.tagRoutes(mux)
	absentRoutes(mux)
	return a.credentialRoutes(mux)
}

// absentRoutes answer for the entities Kong OSS has and Turnpike does not,
// which decK lists on every dump and sync: Kong's empty list, and for
// filter chains Kong's 400 while wasm is off (decK tolerates it).
func absentRoutes(mux *routeMux) {
	for _, kind := range []string{"vaults", "keys", "key-sets"} {
		mux.HandleFunc("/"+kind, only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			if _, ok := pageSize(w, r.URL.Query()); ok {
				writeJSON(w, http.StatusOK, map[string]any{"data": []any{}, "next": nil})
			}
		}))
	}
	mux.HandleFunc("/filter-chains", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, message("this endpoint is only available when wasm is enabled"))
	})
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
// request's ?tags=, in configuration order, with Kong's paging: `size`
// (default 100, at most 1000), `offset` (the next entity's id, so a page
// boundary stays put when entities are added before it, and a reload that
// removed it is reported rather than silently skipping entities) and
// `next`. A nested list (keep set) ignores ?tags= and its next carries no
// size, as Kong's (its tags spec, #6779; kong/api/endpoints.lua).
func (a *api) list(w http.ResponseWriter, r *http.Request, ix *index, kind string, keep func(*entity) bool) {
	q := r.URL.Query()
	size, ok := pageSize(w, q)
	if !ok {
		return
	}
	match := func([]string) bool { return true }
	tags, filtered := q["tags"]
	if filtered && keep == nil {
		var msg string
		if match, msg = parseTags(tags[0]); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"code": 11, "name": "invalid options", "message": "invalid option (tags: " + msg + ")",
			})
			return
		}
	}
	var items []*entity
	for _, e := range ix.byKind[kind] {
		if (keep == nil || keep(e)) && match(e.tags) {
			items = append(items, e)
		}
	}
	start, ok := pageStart(w, q.Get("offset"), len(items), func(i int) string { return items[i].id })
	if !ok {
		return
	}
	end := min(start+size, len(items))
	data := make([]any, 0, end-start)
	for _, e := range items[start:end] {
		data = append(data, e.body)
	}
	body := map[string]any{"data": data, "next": nil}
	if end < len(items) {
		off := offsetToken(items[end].id)
		next := r.URL.EscapedPath() + "?offset=" + off
		if keep == nil && filtered {
			next += "&tags=" + url.QueryEscape(tags[0])
		}
		if s := q.Get("size"); keep == nil && s != "" {
			next += "&size=" + url.QueryEscape(s)
		}
		body["next"], body["offset"] = next, off
	}
	writeJSON(w, http.StatusOK, body)
}

// pageSize reads ?size= as Kong does (a number, then an integer between 1
// and 1000), or answers Kong's 400.
func pageSize(w http.ResponseWriter, q url.Values) (int, bool) {
	s := q.Get("size")
	if s == "" {
		return defaultPageSize, true
	}
	msg := ""
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		msg = "size must be a number"
	case f != math.Floor(f) || f < 1 || f > maxPageSize:
		msg = "size must be an integer between 1 and " + strconv.Itoa(maxPageSize)
	default:
		return int(f), true
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 9, "name": "invalid size", "message": msg})
	return 0, false
}

// offsetToken is the offset naming the row keyed key.
func offsetToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// pageStart finds the row an offset names among n rows (keyOf gives a
// row's key), 0 without one, or answers Kong's 400.
func pageStart(w http.ResponseWriter, off string, n int, keyOf func(int) string) (int, bool) {
	if off == "" {
		return 0, true
	}
	key, err := base64.RawURLEncoding.DecodeString(off)
	if err == nil {
		for i := range n {
			if keyOf(i) == string(key) {
				return i, true
			}
		}
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"code": 7, "name": "invalid offset", "message": "'" + off + "' is not a valid offset",
	})
	return 0, false
}

// parseTags reads Kong's tag filter: `a,b` needs every tag, `a/b` any of
// them, at most five, never both separators; empty is refused. It returns
// the matcher, or the reason the filter is invalid.
func parseTags(s string) (func([]string) bool, string) {
	if s == "" {
		return nil, "cannot be null"
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
	for _, t := range want {
		if !validTag(t) {
			return nil, "invalid filter syntax"
		}
	}
	if len(want) > maxTags {
		return nil, "cannot query more than " + strconv.Itoa(maxTags) + " tags"
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

// validTag accepts the bytes Kong's tag filter does (kong/api/endpoints.lua
// TAGS_AND_REGEX): printable ASCII, the space included, but for the
// separators `,` and `/`, and the bytes of UTF-8 sequences (0x80-0xF4).
func validTag(t string) bool {
	if t == "" {
		return false
	}
	for i := range len(t) {
		c := t[i]
		if c < 0x20 || c == ',' || c == '/' || c == 0x7f || c > 0xf4 {
			return false
		}
	}
	return true
}
