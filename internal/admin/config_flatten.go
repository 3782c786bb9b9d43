package admin

import (
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/ident"
	"github.com/turnpikegw/turnpike/internal/jsonw"
)

// flattenTruthy is Kong's reading of POST /config's flatten_errors flag
// (kong/api/routes/config.lua: true, 1, on or yes, in any case).
func flattenTruthy(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "on", "yes":
		return true
	}
	return false
}

// foreignKeys are the fields the write model's references name, each
// once: the foreign keys an entity may give as an object, which Kong
// shows as its primary key only. Derived, so a reference added there is
// reduced here too.
func (wm *writeModel) foreignKeys() []string {
	var out []string
	for _, r := range wm.refs {
		if !slices.Contains(out, r.field) {
			out = append(out, r.field)
		}
	}
	return out
}

// flatEntity is one entry of flattened_errors being built.
type flatEntity struct {
	kind   string
	entity map[string]any
	errors []map[string]any
}

// flattenedError is Kong's 400 for POST /config?flatten_errors=1
// (kong/db/errors.lua, declarative_config_flattened): each error inside
// an entity of doc (the document as sent, plain Go data) is listed under
// that entity with its field in Kong's dotted form ("config.origins.1",
// 1-based), nested entities on their own with their parent's primary key;
// `fields` and the message keep only what is in no entity. KIC turns each
// entry into an Event on the object its entity_tags name. Each error also
// carries Turnpike's full `path` and `line`.
// Entities are echoed within echo bytes (about their JSON size): aliases
// let a small document repeat one large entity a thousand times.
func flattenedError(errs config.Errors, doc any, wm *writeModel, echo int) map[string]any {
	credentialKinds, foreignKeys := wm.credentialNames, wm.foreignKeys()
	root, _ := doc.(map[string]any)
	var order []string
	byEntity := map[string]*flatEntity{}
	var rest config.Errors
	for _, e := range errs {
		at := locate(root, pathTokens(e.Path), credentialKinds)
		if at.entity == nil {
			rest = append(rest, e)
			continue
		}
		// The entity is copied once, however many of its fields are wrong.
		fe, ok := byEntity[at.key]
		if !ok {
			fe = &flatEntity{kind: at.kind, entity: shown(at, credentialKinds, foreignKeys)}
			byEntity[at.key] = fe
			order = append(order, at.key)
		}
		item := map[string]any{"message": e.Message, "path": e.Path, "type": "entity"}
		if at.field != "" {
			item["type"], item["field"] = "field", at.field
		}
		if e.Line > 0 {
			item["line"] = e.Line
		}
		fe.errors = append(fe.errors, item)
	}
	var out map[string]any
	if len(rest) > 0 {
		out = declarativeError(rest)
	} else {
		// Every error went to an entity: Kong's drained table.
		out = map[string]any{"code": codeDeclarativeConfig, "name": "invalid declarative configuration",
			"message": "declarative config is invalid: {}", "fields": map[string]any{}}
	}
	flat := make([]map[string]any, 0, len(order))
	for _, key := range order {
		flat = append(flat, byEntity[key].render(&echo))
	}
	out["flattened_errors"] = flat
	return out
}

// spot is where an error is: the innermost entity of the document its
// path points into, with the entity's own path (key), its list (kind),
// its parent and the foreign key naming the parent when nested, and the
// rest of the path as Kong's field name. A nil entity: in no entity.
type spot struct {
	key, kind, fk, field string
	entity, parent       map[string]any
}

// locate finds the spot of the error at toks in root.
func locate(root map[string]any, toks []any, credentialKinds []string) spot {
	var at spot
	at.kind, _ = firstString(toks)
	list, _ := root[at.kind].([]any)
	ent, end := element(list, toks, 1)
	if ent == nil {
		return spot{}
	}
	at.entity = ent
	for {
		child, ok := firstString(toks[end:])
		field := childField(at.kind, child, credentialKinds)
		if !ok || field == "" {
			break
		}
		next, nextEnd := element(listOf(at.entity[child]), toks, end+1)
		if next == nil {
			break
		}
		at.parent, at.kind, at.entity, at.fk, end = at.entity, child, next, field, nextEnd
	}
	at.key, at.field = pathOf(toks[:end]), kongField(toks[end:])
	return at
}

func firstString(toks []any) (string, bool) {
	if len(toks) == 0 {
		return "", false
	}
	s, ok := toks[0].(string)
	return s, ok
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// element is the object at the index toks[at] of list, and where the
// tokens after it start.
func element(list []any, toks []any, at int) (map[string]any, int) {
	if at >= len(toks) {
		return nil, 0
	}
	i, ok := toks[at].(int)
	if !ok || i >= len(list) {
		return nil, 0
	}
	m, _ := list[i].(map[string]any)
	return m, at + 1
}

// childField is the foreign key of child entities nested in kind's, or
// "" when child is no such list.
func childField(kind, child string, credentialKinds []string) string {
	for _, n := range nestings {
		if n.parent == kind && n.child == child {
			return n.field
		}
	}
	if kind == "consumers" {
		for _, ck := range credentialKinds {
			if ck == child {
				return "consumer"
			}
		}
	}
	return ""
}

// shown is the entity as Kong echoes it: without its nested lists, with
// a foreign key object reduced to its id and, when nested, its parent's
// id (when the parent has a valid one).
func shown(at spot, credentialKinds, foreignKeys []string) map[string]any {
	out := make(map[string]any, len(at.entity)+1)
	for k, v := range at.entity {
		if _, nested := v.([]any); nested && childField(at.kind, k, credentialKinds) != "" {
			continue
		}
		out[k] = v
	}
	for _, f := range foreignKeys {
		if m, ok := out[f].(map[string]any); ok {
			if pk := primaryKey(m); pk != nil {
				out[f] = pk
			} else {
				delete(out, f)
			}
		}
	}
	if _, set := out[at.fk]; at.fk != "" && !set {
		if pk := primaryKey(at.parent); pk != nil {
			out[at.fk] = pk
		}
	}
	return out
}

func primaryKey(m map[string]any) map[string]any {
	if id := validID(m["id"]); id != "" {
		return map[string]any{"id": id}
	}
	return nil
}

func validID(v any) string {
	s, _ := v.(string)
	if _, ok := ident.Parse(s); !ok {
		return ""
	}
	return s
}

// kongField prints the tokens after an entity as Kong names a field:
// dotted, list positions 1-based.
func kongField(toks []any) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte('.')
		}
		switch v := t.(type) {
		case int:
			b.WriteString(strconv.Itoa(v + 1))
		case string:
			b.WriteString(v)
		}
	}
	return b.String()
}

// render is the entry: entity_name, entity_id and entity_tags only when
// well-formed (the entity keeps what was sent), entity_type singular.
// The tags, which Kong's ingress controller reads, and the entity are
// left out once echo, the bytes left to echo entities, runs out.
func (fe *flatEntity) render(echo *int) map[string]any {
	out := map[string]any{
		"entity_type": strings.TrimSuffix(fe.kind, "s"),
		"errors":      fe.errors,
	}
	if name, ok := fe.entity["name"].(string); ok && name != "" && spend(echo, name) {
		out["entity_name"] = name
	}
	if id := validID(fe.entity["id"]); id != "" {
		out["entity_id"] = id
	}
	if tags, ok := stringList(fe.entity["tags"]); ok && spend(echo, fe.entity["tags"]) {
		out["entity_tags"] = tags
	}
	if spend(echo, fe.entity) {
		out["entity"] = fe.entity
	}
	return out
}

// spend takes about the JSON size of v from budget, if it has that much:
// strings (and keys) as JSON writes them, escapes and all.
func spend(budget *int, v any) bool {
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch t := v.(type) {
		case string:
			// Escapes only add to a string's length: one longer than
			// what is left is not scanned.
			if n += len(t) + 3; n > *budget {
				return false
			}
			n += jsonw.Len(t) - len(t) - 2
		case map[string]any:
			for k, e := range t {
				if n += jsonw.Len(k) + 2; n > *budget || !walk(e) {
					return false
				}
			}
		case []any:
			for _, e := range t {
				if n++; n > *budget || !walk(e) {
					return false
				}
			}
		default:
			n += 24
		}
		return n <= *budget
	}
	if !walk(v) {
		return false
	}
	*budget -= n
	return true
}

func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(l))
	for i, it := range l {
		if out[i], ok = it.(string); !ok {
			return nil, false
		}
	}
	return out, true
}
