package admin

import (
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
)

// Kong's error codes (kong/db/errors.lua) that the writes answer with.
const (
	codeSchemaViolation   = 2
	codePrimaryKey        = 3
	codeForeignKey        = 4
	codeUniqueViolation   = 5
	codeNotFound          = 6
	codeDeclarativeConfig = 14
)

// kongError is a Kong error body.
func kongError(code int, name, msg string, fields any) map[string]any {
	body := map[string]any{"code": code, "name": name, "message": msg}
	if fields != nil {
		body["fields"] = fields
	}
	return body
}

// violation is Kong's schema violation of errs, with the field paths made
// relative to prefix (the written entity's place in the document); an
// error elsewhere in the document keeps its full path.
func violation(errs config.Errors, prefix string) map[string]any {
	rel := make(config.Errors, 0, len(errs))
	for _, e := range errs {
		if prefix != "" {
			switch {
			case e.Path == prefix:
				e.Path = ""
			case strings.HasPrefix(e.Path, prefix+"."):
				e.Path = e.Path[len(prefix)+1:]
				if strings.HasPrefix(prefix, "certificates[") {
					e.Path = sniName(e.Path)
				}
			}
		}
		rel = append(rel, e)
	}
	fields := nestedFields(rel)
	for _, e := range rel {
		if e.Path == "" {
			list, _ := fields["@entity"].([]any)
			fields["@entity"] = append(list, e.Message)
		}
	}
	parts := violationParts(fields)
	msg := "schema violation (" + strings.Join(parts, "; ") + ")"
	if len(parts) != 1 {
		msg = strconv.Itoa(len(parts)) + " schema violations (" + strings.Join(parts, "; ") + ")"
	}
	return kongError(codeSchemaViolation, "schema violation", msg, fields)
}

// maxFieldSlots bounds the list slots one answer's `fields` holds, all
// its errors together: an index in a path makes a list that long, and a
// path is only the document's own index when the document is that long,
// which a check of a hostile body need not be. A path past the budget is
// listed whole at the top.
const maxFieldSlots = 1 << 20

// nestedFields nests errors by their paths as Kong's `fields` does:
// `config.origins[1]` is {"config": {"origins": [null, msg]}}; errors of
// errors without a path are left to the caller. Two errors on one field
// are joined; a path that runs through a field that already has a
// message is listed whole at the top.
func nestedFields(errs config.Errors) map[string]any {
	root := map[string]any{}
	slots := maxFieldSlots
	for _, e := range errs {
		if e.Path == "" {
			continue
		}
		if !setPath(root, pathTokens(e.Path), e.Message, &slots) {
			root[e.Path] = e.Message
		}
	}
	return root
}

// pathTokens splits `a.b[2].c` into "a", "b", 2, "c"; a quoted key
// (`a["b.c"]`, config.JoinKey) is one name.
func pathTokens(p string) []any {
	var out []any
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			if q, err := strconv.QuotedPrefix(p[1:]); err == nil && strings.HasPrefix(p[1+len(q):], "]") {
				name, _ := strconv.Unquote(q)
				out = append(out, name)
				p = p[len(q)+2:]
				continue
			}
			idx, tail, _ := strings.Cut(p[1:], "]")
			if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < config.MaxNodes {
				out = append(out, i)
			} else {
				out = append(out, idx)
			}
			p = tail
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// setPath puts msg at toks under container (a map or a list), making
// what is missing and charging the list slots it adds to slots; false
// when a message is in the way or the slots run out.
func setPath(container any, toks []any, msg string, slots *int) bool {
	tok, last := toks[0], len(toks) == 1
	get := func() any {
		switch c := container.(type) {
		case map[string]any:
			if s, ok := tok.(string); ok {
				return c[s]
			}
		case *[]any:
			if i, ok := tok.(int); ok && i < len(*c) {
				return (*c)[i]
			}
		}
		return nil
	}
	set := func(v any) bool {
		switch c := container.(type) {
		case map[string]any:
			s, ok := tok.(string)
			if !ok {
				s = strconv.Itoa(tok.(int))
			}
			c[s] = v
		case *[]any:
			i, ok := tok.(int)
			if !ok || i+1-len(*c) > *slots {
				return false
			}
			*slots -= max(0, i+1-len(*c))
			for len(*c) <= i {
				*c = append(*c, nil)
			}
			(*c)[i] = v
		}
		return true
	}
	cur := get()
	if last {
		if s, ok := cur.(string); ok {
			return set(s + "; " + msg)
		}
		if cur != nil {
			return false
		}
		return set(msg)
	}
	if i, isIndex := toks[1].(int); isIndex {
		if cur == nil && i >= *slots {
			return false
		}
		if cur == nil {
			cur = &[]any{}
			if !set(cur) {
				return false
			}
		}
		list, ok := cur.(*[]any)
		return ok && setPath(list, toks[1:], msg, slots)
	}
	m, ok := cur.(map[string]any)
	if cur == nil {
		m, ok = map[string]any{}, true
		if !set(m) {
			return false
		}
	}
	return ok && setPath(m, toks[1:], msg, slots)
}

// sniName reports an error of a certificate's SNI on the list of names
// Kong's certificates take (`snis[1]`), not on the SNI entity the loader
// makes of it (`snis[1].name`), so that a write and a validate of the
// same certificate agree.
func sniName(path string) string {
	if rest, ok := strings.CutPrefix(path, "snis["); ok && strings.HasSuffix(rest, "].name") {
		return strings.TrimSuffix(path, ".name")
	}
	return path
}

// violationParts are the `field: message` parts of Kong's message, the
// entity's own errors first, then by field; nested fields are named by
// their dotted path (Kong prints the table below the second level).
func violationParts(fields map[string]any) []string {
	var parts []string
	if list, ok := fields["@entity"].([]any); ok {
		for _, m := range list {
			parts = append(parts, m.(string))
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "@entity" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case string:
			parts = append(parts, prefix+": "+t)
		case map[string]any:
			ks := make([]string, 0, len(t))
			for k := range t {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			for _, k := range ks {
				walk(prefix+"."+k, t[k])
			}
		case *[]any:
			for i, it := range *t {
				if it != nil {
					walk(prefix+"."+strconv.Itoa(i+1), it)
				}
			}
		}
	}
	for _, k := range keys {
		walk(k, fields[k])
	}
	return parts
}

// uniqueViolation is Kong's 409 for a unique field another entity has.
func uniqueViolation(field string, value any) map[string]any {
	return kongError(codeUniqueViolation, "unique constraint violation",
		"UNIQUE violation detected on '{"+field+"="+luaValue(value)+"}'", map[string]any{field: value})
}

// primaryKeyViolation is Kong's 409 for a new entity with an id another
// has.
func primaryKeyViolation(id string) map[string]any {
	return kongError(codePrimaryKey, "primary key violation",
		"primary key violation on key '{id="+strconv.Quote(id)+"}'", map[string]any{"id": id})
}

// pluginViolation is Kong's 409 for a second plugin of one name on one
// scope (its cache key): the scope's foreign keys, null where unset.
func pluginViolation(name string, scope map[string]string) map[string]any {
	fields := map[string]any{"name": name}
	parts := make([]string, 0, 4)
	for _, f := range []string{"consumer", "name", "route", "service"} {
		if f == "name" {
			parts = append(parts, "name="+strconv.Quote(name))
			continue
		}
		if id := scope[f]; id != "" {
			fields[f] = map[string]any{"id": id}
			parts = append(parts, f+"={id="+strconv.Quote(id)+"}")
		} else {
			fields[f] = nil
			parts = append(parts, f+"=null")
		}
	}
	return kongError(codeUniqueViolation, "unique constraint violation",
		"UNIQUE violation detected on '{"+strings.Join(parts, ",")+"}'", fields)
}

// foreignKeyViolation is Kong's 400 for a reference to no entity.
func foreignKeyViolation(field, parent, id string) map[string]any {
	return kongError(codeForeignKey, "foreign key violation",
		"the foreign key '{id=\""+id+"\"}' does not reference an existing '"+parent+"' entity.",
		map[string]any{field: map[string]any{"id": id}})
}

// referencedBy is Kong's 400 for deleting an entity others still
// reference without cascading.
func referencedBy(parent, child string) map[string]any {
	return kongError(codeForeignKey, "foreign key violation",
		"an existing '"+child+"' entity references this '"+parent+"' entity",
		map[string]any{"@referenced_by": child})
}

// luaValue prints a value as Kong's messages do (penlight's pretty
// writer): strings quoted.
func luaValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	switch t := v.(type) {
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	return "null"
}
