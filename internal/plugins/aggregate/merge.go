package aggregate

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/jsonw"
)

// tree is a set of dot paths: a node without kids is a whole field.
type tree struct {
	kids map[string]*tree
}

// tree builds the tree of a list of dot paths (nil for none). A field
// named whole wins over paths under it.
func (k *checker) tree(paths []string, field string) *tree {
	if len(paths) == 0 {
		return nil
	}
	root := &tree{kids: map[string]*tree{}}
	for i, p := range paths {
		parts := splitPath(p)
		if parts == nil {
			k.add(field+"["+strconv.Itoa(i)+"]", "expected a dot path of field names")
			continue
		}
		n := root
		for j, name := range parts {
			kid, ok := n.kids[name]
			if ok && kid.kids == nil {
				break
			}
			if !ok || j == len(parts)-1 {
				kid = &tree{}
				n.kids[name] = kid
			}
			if j < len(parts)-1 && kid.kids == nil {
				kid.kids = map[string]*tree{}
			}
			n = kid
		}
	}
	return root
}

// child is the node for a raw key (nil: none).
func (t *tree) child(key []byte) *tree {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return t.kids[string(inner)]
	}
	var s string
	if json.Unmarshal(key, &s) != nil {
		return nil
	}
	return t.kids[s]
}

// shaper is what a call does to its answer: allow or deny paths and
// renames of its top-level fields.
type shaper struct {
	allow, deny *tree
	mapping     map[string]string
}

// keep decides a member: whether it is written, and the tree its value
// is shaped by (nil: written whole).
func (s *shaper) keep(t *tree, key []byte, allow bool) (*tree, bool) {
	if t == nil {
		return nil, true
	}
	n := t.child(key)
	switch {
	case n == nil:
		return nil, !allow
	case n.kids == nil:
		return nil, allow
	}
	return n, true
}

func (s *shaper) filter() (*tree, bool) {
	if s.allow != nil {
		return s.allow, true
	}
	return s.deny, false
}

// value appends the value at b[start:end], shaped; top: its fields are
// the answer's own (mapping applies).
func (s *shaper) value(out, b []byte, start, end int, t *tree, allow, top bool) []byte {
	if t == nil && (!top || s.mapping == nil) {
		return append(out, b[start:end]...)
	}
	switch b[start] {
	case '[':
		out = append(out, '[')
		first := true
		for es, ee, ok := elem(b, start+1); ok; es, ee, ok = elem(b, ee) {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = s.value(out, b, es, ee, t, allow, top)
		}
		return append(out, ']')
	case '{':
		out = append(out, '{')
		first := true
		for m, i, ok := next(b, start+1); ok; m, i, ok = next(b, i) {
			n, ok := s.keep(t, m.key, allow)
			if !ok || (allow && n != nil && b[m.start] != '{' && b[m.start] != '[') {
				continue
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = s.key(out, m.key, top)
			out = append(out, ':')
			out = s.value(out, b, m.start, m.end, n, allow, false)
		}
		return append(out, '}')
	}
	return append(out, b[start:end]...)
}

// key appends a member's key, renamed when top and mapped.
func (s *shaper) key(out, key []byte, top bool) []byte {
	if top && s.mapping != nil {
		if to, ok := s.mapping[string(key[1:len(key)-1])]; ok {
			return jsonw.AppendString(out, to)
		}
	}
	return append(out, key...)
}

// writer builds the merged answer's top-level object. With seen set,
// a key already written is skipped: the first call listed wins.
type writer struct {
	b     []byte
	n     int
	seen  map[string]struct{}
	dedup bool
}

// open writes the separator and key of a new top-level member; false
// when the key was taken.
func (w *writer) open(key string) bool {
	if w.dedup {
		if _, dup := w.seen[key]; dup {
			return false
		}
		w.seen[key] = struct{}{}
	}
	w.sep()
	w.b = jsonw.AppendString(w.b, key)
	w.b = append(w.b, ':')
	return true
}

func (w *writer) sep() {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
}

// merge writes the members of the object at b[start:end] at the top
// level, shaped.
func (w *writer) merge(s *shaper, b []byte, start, end int) {
	t, allow := s.filter()
	for m, i, ok := next(b, start+1); ok; m, i, ok = next(b, i) {
		n, ok := s.keep(t, m.key, allow)
		if !ok || (allow && n != nil && b[m.start] != '{' && b[m.start] != '[') {
			continue
		}
		if w.dedup || s.mapping != nil {
			name := unquote(m.key)
			if to, ok := s.mapping[name]; ok {
				name = to
			}
			if !w.open(name) {
				continue
			}
		} else {
			w.sep()
			w.b = append(append(w.b, m.key...), ':')
		}
		w.b = s.value(w.b, b, m.start, m.end, n, allow, false)
	}
}

// unquote is a raw key's text.
func unquote(key []byte) string {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	if json.Unmarshal(key, &s) != nil {
		return string(inner)
	}
	return s
}
