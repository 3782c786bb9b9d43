package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/turnpikegw/turnpike/internal/jsonw"
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
	// ref is the vault reference a string was resolved from.
	ref string
	// size counts the values in the tree under this one with aliases
	// expanded, itself included; depth is how many maps and arrays nest in
	// it. Values are shared by aliases, so walking a tree costs its size.
	size  int
	depth int
	// bytes is the size of the strings and keys under this value as JSON
	// writes them (escapes and quotes: what an answer echoing it costs),
	// with aliases expanded.
	bytes int
	// envDone: the environment substitution has visited this value;
	// envUsed: a string in it took a value from the environment.
	envDone, envUsed bool
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

// parseTree parses one YAML (or JSON, which is YAML) document. The parser's
// node tree is walked directly rather than decoded into `any` so that every
// value keeps its line number. go.yaml.in/yaml/v3 builds it in time and
// memory linear in the document; the parser used before (goccy/go-yaml)
// stored each node's full path, so one long key over many values, or a
// block map of many keys, cost gigabytes.
// maxValues bounds the values counted before parsing: 0 means MaxNodes,
// negative no bound.
func parseTree(data []byte, maxValues int) (*value, error) {
	switch {
	case maxValues == 0:
		maxValues = MaxNodes
	case maxValues < 0:
		maxValues = math.MaxInt
	}
	if err := scanLimits(data, MaxDepth, maxValues); err != nil {
		return nil, err
	}
	var jsonErr *jsonSyntaxError
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		v, err := parseJSONTree(data)
		if !errors.Is(err, errNotJSON) {
			return v, err
		}
		if meantAsJSON(t) {
			errors.As(err, &jsonErr)
		}
	}
	// Bytes that are not UTF-8 stop the YAML parser; they are replaced (line
	// numbers stay) so that the caller can report them at their field path.
	if !utf8.Valid(data) {
		data = bytes.ToValidUTF8(data, []byte(string(utf8.RuneError)))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var body *yaml.Node
	docs := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if fixed, ok := slashEscapes(data, err); ok {
				return parseTree(fixed, maxValues)
			}
			if jsonErr != nil {
				return nil, jsonErr
			}
			return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(doc.Content) > 0 && !isEmptyNull(doc.Content[0]) {
			docs++
			body = doc.Content[0]
		}
	}
	switch docs {
	case 0:
		return &value{kind: kindNull, line: 1}, nil
	case 1:
	default:
		return nil, fmt.Errorf("expected one YAML document, found %d", docs)
	}
	b := &treeBuilder{anchors: map[*yaml.Node]*value{}}
	return b.build(body)
}

// isEmptyNull is the node of an empty document (`---` alone).
func isEmptyNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 && n.Tag == "!!null" && n.Anchor == ""
}

type treeBuilder struct {
	anchors map[*yaml.Node]*value
	aliases aliasBudget
}

// build converts n and measures the result (value.size, value.depth).
func (b *treeBuilder) build(n *yaml.Node) (*value, error) {
	v, err := b.node(n)
	if err != nil {
		return nil, err
	}
	if v.size == 0 {
		if err := measure(v); err != nil {
			return nil, err
		}
	}
	if n.Anchor != "" {
		b.anchors[n] = v
	}
	return v, nil
}

// measure sets the size, bytes and depth of a value built from its
// children's.
func measure(v *value) error {
	v.size, v.bytes = 1, 0
	if v.kind == kindString {
		v.bytes = jsonw.Len(v.str)
	}
	for i, c := range v.vals {
		v.size += c.size
		v.bytes += jsonw.Len(v.keys[i]) + c.bytes
		v.depth = max(v.depth, c.depth)
	}
	for _, c := range v.items {
		v.size += c.size
		v.bytes += c.bytes
		v.depth = max(v.depth, c.depth)
	}
	if v.kind == kindMap || v.kind == kindSeq {
		v.depth++
	}
	if v.depth > MaxDepth {
		return errTooDeep(v.line)
	}
	return nil
}

func (b *treeBuilder) node(n *yaml.Node) (*value, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &value{kind: kindNull, line: n.Line}, nil
		}
		return b.build(n.Content[0])
	case yaml.ScalarNode:
		return scalar(n)
	case yaml.AliasNode:
		v, ok := b.anchors[n.Alias]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown alias %q", n.Line, n.Value)
		}
		if err := b.aliases.use(v, n.Line); err != nil {
			return nil, err
		}
		return v, nil
	case yaml.MappingNode:
		return b.buildMap(n)
	case yaml.SequenceNode:
		v := &value{kind: kindSeq, items: make([]*value, 0, len(n.Content)), line: n.Line}
		for _, item := range n.Content {
			iv, err := b.build(item)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, iv)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// scalar resolves a scalar by the YAML 1.2 core schema, honouring the
// core tags people actually write (mostly `!!str` to keep a number or
// `true` a string); other tags are ignored. Timestamps stay strings.
func scalar(n *yaml.Node) (*value, error) {
	ln := n.Line
	tag := n.ShortTag()
	switch tag {
	case "!!str", "!!binary", "!!timestamp", "!!null", "!!bool", "!!int", "!!float":
	default:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			tag = "!!str"
		} else {
			plain := *n
			plain.Tag = ""
			tag = plain.ShortTag()
		}
	}
	s := n.Value
	switch tag {
	case "!!null":
		return &value{kind: kindNull, line: ln}, nil
	case "!!bool":
		switch strings.ToLower(s) {
		case "true":
			return &value{kind: kindBool, b: true, line: ln}, nil
		case "false":
			return &value{kind: kindBool, b: false, line: ln}, nil
		}
	case "!!int":
		if i, err := strconv.ParseInt(yamlInt(s), 0, 64); err == nil {
			return &value{kind: kindInt, i: i, line: ln}, nil
		}
		if u, err := strconv.ParseUint(yamlInt(s), 0, 64); err == nil {
			return &value{kind: kindFloat, f: float64(u), line: ln}, nil
		}
	case "!!float":
		if f, ok := yamlFloat(s); ok {
			return &value{kind: kindFloat, f: f, line: ln}, nil
		}
	}
	return &value{kind: kindString, str: s, line: ln}, nil
}

// yamlInt spells a YAML integer for strconv's base prefix rules: `0o17`
// and `017` are octal, `+1` is 1.
func yamlInt(s string) string {
	s = strings.TrimPrefix(s, "+")
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if len(digits) > 1 && digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9' {
		digits = "0o" + digits[1:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func yamlFloat(s string) (float64, bool) {
	switch strings.ToLower(strings.TrimPrefix(s, "+")) {
	case ".inf":
		return math.Inf(1), true
	case "-.inf":
		return math.Inf(-1), true
	case ".nan":
		return math.NaN(), true
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	return f, err == nil
}

func (b *treeBuilder) buildMap(n *yaml.Node) (*value, error) {
	v := &value{kind: kindMap, line: n.Line}
	var ix keyIndex
	// merged marks the entries a merge key added: a key written in the map
	// replaces them, while a key written twice is an error.
	var merged []bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			src, err := b.build(vn)
			if err != nil {
				return nil, err
			}
			if err := mergeInto(v, &ix, src); err != nil {
				return nil, fmt.Errorf("line %d: %w", kn.Line, err)
			}
			for len(merged) < len(v.keys) {
				merged = append(merged, true)
			}
			continue
		}
		key, err := b.build(kn)
		if err != nil {
			return nil, err
		}
		ks, ok := keyString(key)
		if !ok {
			return nil, fmt.Errorf("line %d: map keys must be scalars", key.line)
		}
		if j := ix.find(v, ks); j >= 0 && !merged[j] {
			return nil, fmt.Errorf("line %d: mapping key %q already defined at line %d", kn.Line, ks, v.vals[j].line)
		}
		val, err := b.build(vn)
		if err != nil {
			return nil, err
		}
		if val.line == 0 {
			val.line = key.line
		}
		if j := ix.find(v, ks); j >= 0 {
			merged[j] = false
		} else {
			merged = append(merged, false)
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
// merge: buildMap refuses a key written twice).
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
