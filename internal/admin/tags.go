package admin

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// tagRow is one row of Kong's /tags: an entity and one of its tags, with
// the key its offset names (an entity lists a tag once).
type tagRow struct {
	tag, kind, key string
	e              *entity
}

// tagIndex is every tag row of one snapshot, built with its entity index:
// a request then only pages, and an offset scan compares keys without
// building them.
type tagIndex struct {
	all   []tagRow
	byTag map[string][]tagRow
}

// newTagIndex lists the rows of kinds in order (the core kinds, then the
// credential kinds), each entity's tags in its order.
func newTagIndex(ix *index, kinds []string) tagIndex {
	ti := tagIndex{byTag: map[string][]tagRow{}}
	for _, kind := range kinds {
		for _, e := range ix.byKind[kind] {
			for _, t := range e.tags {
				row := tagRow{tag: t, kind: kind, key: e.id + "\x00" + t, e: e}
				ti.all = append(ti.all, row)
				ti.byTag[t] = append(ti.byTag[t], row)
			}
		}
	}
	return ti
}

// tagRoutes serves Kong's `GET /tags` and `GET /tags/{tag}`: every tag of
// every entity, one row per entity and tag, paged like the lists; ?tags=
// is ignored there, as Kong's tags spec checks.
func (a *api) tagRoutes(mux *routeMux) {
	get := func(h func(http.ResponseWriter, *http.Request, *index)) http.HandlerFunc {
		return only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			ix := a.entities()
			if ix == nil {
				writeJSON(w, http.StatusServiceUnavailable, message("no configuration loaded"))
				return
			}
			h(w, r, ix)
		})
	}
	mux.HandleFunc("/tags", get(func(w http.ResponseWriter, r *http.Request, ix *index) {
		tagPage(w, r, ix, "", false)
	}))
	mux.HandleFunc("/tags/{tag}", get(func(w http.ResponseWriter, r *http.Request, ix *index) {
		tag := r.PathValue("tag")
		if msg := tagError(tag); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"code": 1, "name": "invalid primary key",
				"message": "invalid primary key: '" + luaPretty(map[string]any{"tag": msg}) + "'",
				"fields":  map[string]any{"tag": msg},
			})
			return
		}
		tagPage(w, r, ix, tag, true)
	}))
}

// tagPage answers one page of the rows, of tag only when one is set.
func tagPage(w http.ResponseWriter, r *http.Request, ix *index, tag string, one bool) {
	size, ok := pageSize(w, r.URL.Query())
	if !ok {
		return
	}
	rows := ix.tags.all
	if one {
		rows = ix.tags.byTag[tag]
	}
	keyOf := func(i int) string { return rows[i].key }
	start, ok := pageStart(w, r.URL.Query().Get("offset"), len(rows), keyOf)
	if !ok {
		return
	}
	end := min(start+size, len(rows))
	data := make([]any, 0, end-start)
	for _, row := range rows[start:end] {
		data = append(data, map[string]any{"tag": row.tag, "entity_name": row.kind, "entity_id": row.e.id})
	}
	body := map[string]any{"data": data, "next": nil}
	if end < len(rows) {
		off := offsetToken(rows[end].key)
		next := "/tags?offset=" + off
		if one {
			next = "/tags/" + url.PathEscape(tag) + "?offset=" + off
		}
		body["next"], body["offset"] = next, off
	}
	writeJSON(w, http.StatusOK, body)
}

// tagError is why Kong's tag type refuses a tag (typedefs.tag), "" when
// it is valid.
func tagError(tag string) string {
	for i := 0; i < len(tag); {
		r, n := utf8.DecodeRuneInString(tag[i:])
		if r == utf8.RuneError && n <= 1 {
			return "invalid utf-8 character sequence detected at position " + strconv.Itoa(i+1)
		}
		i += n
	}
	if !validTag(tag) {
		return "invalid tag '" + tag + "': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
	}
	return ""
}
