package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// kind is the type of a generic YAML value.
type kind int

const (
	kindNull kind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindMap
	kindSeq
)

// value is a parsed YAML/JSON value, independent of any Go type. Maps keep
// their key order so that errors come out in document order, and every value
// remembers its line for error messages.
type value struct {
	kind  kind
	str   string
	i     int64
	f     float64
	b     bool
	keys  []string // kindMap, in document order
	vals  []*value // kindMap, parallel to keys
	items []*value // kindSeq
	line  int
	// fromEnv marks a string that had `${NAME}` substituted: it may stand
	// for a number or boolean (`port: ${PORT}`), which YAML could not know.
	fromEnv bool
	// size counts the values in the tree under this one with aliases
	// expanded, itself included; depth is how many maps and arrays nest in
	// it. Values are shared by aliases, so walking a tree costs its size.
	size  int
	depth int
	// envDone: `${NAME}` expansion has visited this value.
	envDone bool
}

// get returns the map entry for key, or nil.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kindMap {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// plain converts the value to ordinary Go values (map[string]any, []any,
// string, int64, float64, bool, nil) for consumers that want untyped data.
func (v *value) plain() any {
	if v == nil {
		return nil
	}
	switch v.kind {
	case kindString:
		return v.str
	case kindInt:
		return v.i
	case kindFloat:
		return v.f
	case kindBool:
		return v.b
	case kindMap:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = v.vals[i].plain()
		}
		return m
	case kindSeq:
		s := make([]any, len(v.items))
		for i, it := range v.items {
			s[i] = it.plain()
		}
		return s
	}
	return nil
}

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindMap:
		return "a map"
	case kindSeq:
		return "an array"
	}
	return "null"
}

// parseTree parses one YAML (or JSON, which is YAML) document. goccy's AST is
// walked directly rather than decoded into `any` so that every value keeps
// its line number.
func parseTree(data []byte) (*value, error) {
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	var bodies []ast.Node
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			bodies = append(bodies, doc.Body)
		}
	}
	switch len(bodies) {
	case 0:
		return &value{kind: kindNull, line: 1}, nil
	case 1:
	default:
		return nil, fmt.Errorf("expected one YAML document, found %d", len(bodies))
	}
	b := &treeBuilder{anchors: map[string]*value{}}
	return b.build(bodies[0])
}

type treeBuilder struct {
	anchors map[string]*value
	aliases aliasBudget
}

func line(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// build converts n and measures the result (value.size, value.depth).
func (b *treeBuilder) build(n ast.Node) (*value, error) {
	v, err := b.node(n)
	if err != nil {
		return nil, err
	}
	if v.size == 0 {
		v.size = 1
		for _, c := range v.vals {
			v.size += c.size
			v.depth = max(v.depth, c.depth)
		}
		for _, c := range v.items {
			v.size += c.size
			v.depth = max(v.depth, c.depth)
		}
		if v.kind == kindMap || v.kind == kindSeq {
			v.depth++
		}
		if v.depth > MaxDepth {
			return nil, errTooDeep(v.line)
		}
	}
	return v, nil
}

func (b *treeBuilder) node(n ast.Node) (*value, error) {
	switch n := n.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case *ast.DocumentNode:
		return b.build(n.Body)
	case *ast.NullNode:
		return &value{kind: kindNull, line: line(n)}, nil
	case *ast.StringNode:
		return &value{kind: kindString, str: n.Value, line: line(n)}, nil
	case *ast.LiteralNode:
		return &value{kind: kindString, str: n.Value.Value, line: line(n)}, nil
	case *ast.BoolNode:
		return &value{kind: kindBool, b: n.Value, line: line(n)}, nil
	case *ast.IntegerNode:
		return intValue(n.Value, line(n))
	case *ast.FloatNode:
		return &value{kind: kindFloat, f: n.Value, line: line(n)}, nil
	case *ast.InfinityNode:
		return &value{kind: kindFloat, f: n.Value, line: line(n)}, nil
	case *ast.NanNode:
		return &value{kind: kindFloat, f: math.NaN(), line: line(n)}, nil
	case *ast.AnchorNode:
		v, err := b.build(n.Value)
		if err != nil {
			return nil, err
		}
		b.anchors[n.Name.String()] = v
		return v, nil
	case *ast.AliasNode:
		name := n.Value.String()
		v, ok := b.anchors[name]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown alias %q", line(n), name)
		}
		if err := b.aliases.use(v, line(n)); err != nil {
			return nil, err
		}
		return v, nil
	case *ast.TagNode:
		return b.buildTagged(n)
	case *ast.MappingNode:
		return b.buildMap(n.Values, line(n))
	case *ast.MappingValueNode:
		return b.buildMap([]*ast.MappingValueNode{n}, line(n))
	case *ast.SequenceNode:
		v := &value{kind: kindSeq, items: []*value{}, line: line(n)}
		for _, item := range n.Values {
			iv, err := b.build(item)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, iv)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node %s", line(n), n.Type())
}

func intValue(raw any, ln int) (*value, error) {
	switch x := raw.(type) {
	case int64:
		return &value{kind: kindInt, i: x, line: ln}, nil
	case uint64:
		if x <= math.MaxInt64 {
			return &value{kind: kindInt, i: int64(x), line: ln}, nil
		}
		return &value{kind: kindFloat, f: float64(x), line: ln}, nil
	}
	return nil, fmt.Errorf("line %d: unsupported integer %v", ln, raw)
}

// buildTagged honours the core-schema tags people actually write (mostly
// `!!str` to keep a number or `yes` a string); other tags are ignored.
func (b *treeBuilder) buildTagged(n *ast.TagNode) (*value, error) {
	v, err := b.build(n.Value)
	if err != nil {
		return nil, err
	}
	tag := ""
	if n.Start != nil {
		tag = n.Start.Value
	}
	switch tag {
	case "!!str", "tag:yaml.org,2002:str":
		if v.kind == kindMap || v.kind == kindSeq {
			return v, nil
		}
		if tk := n.Value.GetToken(); tk != nil {
			return &value{kind: kindString, str: tk.Value, line: v.line}, nil
		}
	case "!!float", "tag:yaml.org,2002:float":
		if v.kind == kindInt {
			return &value{kind: kindFloat, f: float64(v.i), line: v.line}, nil
		}
		if v.kind == kindString {
			if f, err := strconv.ParseFloat(v.str, 64); err == nil {
				return &value{kind: kindFloat, f: f, line: v.line}, nil
			}
		}
	case "!!int", "tag:yaml.org,2002:int":
		if v.kind == kindString {
			if i, err := strconv.ParseInt(v.str, 0, 64); err == nil {
				return &value{kind: kindInt, i: i, line: v.line}, nil
			}
		}
	}
	return v, nil
}

func (b *treeBuilder) buildMap(pairs []*ast.MappingValueNode, ln int) (*value, error) {
	v := &value{kind: kindMap, line: ln}
	var ix keyIndex
	for _, p := range pairs {
		if p.Key != nil && p.Key.IsMergeKey() {
			src, err := b.build(p.Value)
			if err != nil {
				return nil, err
			}
			if err := mergeInto(v, &ix, src); err != nil {
				return nil, fmt.Errorf("line %d: %w", line(p), err)
			}
			continue
		}
		key, err := b.build(p.Key)
		if err != nil {
			return nil, err
		}
		ks, ok := keyString(key)
		if !ok {
			return nil, fmt.Errorf("line %d: map keys must be scalars", key.line)
		}
		val, err := b.build(p.Value)
		if err != nil {
			return nil, err
		}
		if val.line == 0 {
			val.line = key.line
		}
		ix.set(v, ks, val)
	}
	return v, nil
}

// mergeInto implements the `<<` merge key: keys already present win.
func mergeInto(dst *value, ix *keyIndex, src *value) error {
	var srcs []*value
	switch src.kind {
	case kindMap:
		srcs = []*value{src}
	case kindSeq:
		srcs = src.items
	default:
		return fmt.Errorf("merge key value must be a map or a list of maps")
	}
	for _, s := range srcs {
		if s.kind != kindMap {
			return fmt.Errorf("merge key value must be a map or a list of maps")
		}
		for i, k := range s.keys {
			if ix.find(dst, k) < 0 {
				ix.set(dst, k, s.vals[i])
			}
		}
	}
	return nil
}

// keyIndex finds the keys of a map being built. Small maps are searched
// in order; a large one gets an index so that building it stays linear.
type keyIndex struct {
	pos map[string]int
}

const keyIndexMin = 16

func (ix *keyIndex) find(m *value, key string) int {
	if ix.pos != nil {
		if i, ok := ix.pos[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range m.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// set sets a key, replacing an earlier one (which can only come from a
// merge, since goccy rejects literal duplicate keys).
func (ix *keyIndex) set(m *value, key string, val *value) {
	if i := ix.find(m, key); i >= 0 {
		m.vals[i] = val
		return
	}
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, val)
	if ix.pos != nil {
		ix.pos[key] = len(m.keys) - 1
	} else if len(m.keys) >= keyIndexMin {
		ix.pos = make(map[string]int, 2*len(m.keys))
		for i, k := range m.keys {
			ix.pos[k] = i
		}
	}
}

func keyString(k *value) (string, bool) {
	switch k.kind {
	case kindString:
		return k.str, true
	case kindInt:
		return strconv.FormatInt(k.i, 10), true
	case kindFloat:
		return strconv.FormatFloat(k.f, 'g', -1, 64), true
	case kindBool:
		return strconv.FormatBool(k.b), true
	case kindNull:
		return "null", true
	}
	return "", false
}

// expandEnv replaces `${NAME}` in every string scalar under v and adds the
// problems to errs, among them a variable whose value is not valid UTF-8.
// Values shared by YAML aliases are visited once, so the walk costs what
// the document holds, not what its aliases expand to.
func expandEnv(v *value, path string, lookup func(string) (string, bool), skip func(path string) bool, errs *ErrorList) {
	if v == nil || v.envDone || skip(path) {
		return
	}
	v.envDone = true
	switch v.kind {
	case kindString:
		s, err := expandString(v.str, lookup)
		if err != nil {
			errs.Add(FieldError{Path: path, Message: err.Error(), Line: v.line})
			return
		}
		if !utf8.ValidString(s) {
			errs.Add(FieldError{Path: path, Message: "not valid UTF-8 (from the environment)", Line: v.line})
			return
		}
		v.fromEnv = strings.Contains(v.str, "${")
		v.str = s
	case kindMap:
		for i, k := range v.keys {
			expandEnv(v.vals[i], KeyPath(path, k), lookup, skip, errs)
		}
	case kindSeq:
		for i, it := range v.items {
			expandEnv(it, JoinPath(path, "["+strconv.Itoa(i)+"]"), lookup, skip, errs)
		}
	}
}

// expandString expands `${NAME}`; `$${` stands for a literal `${` and any
// other `$` is kept as is, so regexes ending in `$` need no escaping.
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			sb.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", shorten(s, maxQuoted))
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q", shorten(name, maxQuoted))
			}
			val, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			sb.WriteString(val)
			i += 2 + end + 1
		default:
			sb.WriteByte(s[i])
			i++
		}
	}
	return sb.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
