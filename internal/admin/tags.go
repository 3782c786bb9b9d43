package admin

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// tagRow is one row of Kong's /tags: an entity and one of its tags.
type tagRow struct {
	tag, kind string
	e         *entity
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
		a.tagPage(w, r, ix, "", false)
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
		a.tagPage(w, r, ix, tag, true)
	}))
}

// tagPage answers one page of the rows, of tag only when one is set.
func (a *api) tagPage(w http.ResponseWriter, r *http.Request, ix *index, tag string, one bool) {
	size, ok := pageSize(w, r.URL.Query())
	if !ok {
		return
	}
	var rows []tagRow
	for _, kind := range a.kinds {
		for _, e := range ix.byKind[kind] {
			for _, t := range e.tags {
				if !one || t == tag {
					rows = append(rows, tagRow{t, kind, e})
				}
			}
		}
	}
	// A row's key is its entity and tag: an entity lists a tag once.
	keyOf := func(i int) string { return rows[i].e.id + "\x00" + rows[i].tag }
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
		off := offsetToken(keyOf(end))
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
