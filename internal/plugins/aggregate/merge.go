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
func (t *tree) child(key []byte) *tree { return t.kids[string(unquote(key))] }

// shaper is what a call does to its answer: allow or deny paths and
// renames of its top-level fields.
type shaper struct {
	allow, deny *tree
	mapping     map[string]string
}

// keep decides the member key whose value starts with first: whether it
// is written, and the tree its value is shaped by (nil: written whole). A
// scalar where allow lists paths under it is left out.
func (s *shaper) keep(t *tree, key []byte, first byte, allow bool) (*tree, bool) {
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
	return n, !allow || first == '{' || first == '['
}

func (s *shaper) filter() (*tree, bool) {
	if s.allow != nil {
		return s.allow, true
	}
	return s.deny, false
}

// value appends the value at b[start:], shaped, and returns where it
// ends; top: its fields are the answer's own (mapping applies). Every
// byte is scanned once: a member left out or copied whole is skipped by
// one scan, a shaped one walked by this one.
func (s *shaper) value(out, b []byte, start int, t *tree, allow, top bool) ([]byte, int) {
	if t == nil && (!top || s.mapping == nil) || b[start] != '{' && b[start] != '[' {
		end := valueEnd(b, start, 0)
		return append(out, b[start:end]...), end
	}
	if b[start] == '[' {
		out = append(out, '[')
		i, ok := nextElem(b, start+1)
		for first := true; ok; first = false {
			if !first {
				out = append(out, ',')
			}
			out, i = s.value(out, b, i, t, allow, top)
			i, ok = nextElem(b, i)
		}
		return append(out, ']'), i + 1
	}
	out = append(out, '{')
	first := true
	key, v, ok := nextKey(b, start+1)
	for ; ok; key, v, ok = nextKey(b, v) {
		n, keep := s.keep(t, key, b[v], allow)
		if !keep {
			v = valueEnd(b, v, 0)
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = s.key(out, key, top)
		out = append(out, ':')
		out, v = s.value(out, b, v, n, allow, false)
	}
	return append(out, '}'), v + 1
}

// key appends a member's key, renamed when top and mapped.
func (s *shaper) key(out, key []byte, top bool) []byte {
	if top && s.mapping != nil {
		if to, ok := s.mapping[string(unquote(key))]; ok {
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

// merge writes the members of the object at b[start:] at the top
// level, shaped.
func (w *writer) merge(s *shaper, b []byte, start int) {
	t, allow := s.filter()
	key, v, ok := nextKey(b, start+1)
	for ; ok; key, v, ok = nextKey(b, v) {
		n, keep := s.keep(t, key, b[v], allow)
		if !keep {
			v = valueEnd(b, v, 0)
			continue
		}
		if w.dedup || s.mapping != nil {
			name := string(unquote(key))
			if to, ok := s.mapping[name]; ok {
				name = to
			}
			if !w.open(name) {
				v = valueEnd(b, v, 0)
				continue
			}
		} else {
			w.sep()
			w.b = append(append(w.b, key...), ':')
		}
		w.b, v = s.value(w.b, b, v, n, allow, false)
	}
}

// unquote is a raw key's text, the one reading of keys that lookups,
// renames and the top level's duplicates share. A key without escapes is
// its own bytes (no allocation: callers compare or look up with
// string(unquote(key))); one that does not decode, which a validated
// answer never has, is its raw text.
func unquote(key []byte) []byte {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	if json.Unmarshal(key, &s) != nil {
		return inner
	}
	return []byte(s)
}

// valueOnly appends a call's whole (located) answer, shaped.
func (s *shaper) valueOnly(out, b []byte, start int, t *tree, allow bool) []byte {
	out, _ = s.value(out, b, start, t, allow, true)
	return out
}
