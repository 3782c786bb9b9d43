package config

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply a configuration may nest, counting every map and
// array, also through YAML aliases. A Kong configuration needs about a
// dozen levels; the YAML parser's memory grows with the square of the
// depth, so a few kilobytes of brackets could otherwise cost gigabytes.
const MaxDepth = 100

// MaxAliasValues bounds how many values YAML aliases may add to a
// document once expanded. Aliases are shared while parsing, but decoding
// walks every use, so nine levels of nine aliases (a few hundred bytes)
// would otherwise expand to 387 million values. Sharing a plugin config
// across thousands of routes stays well within it.
const MaxAliasValues = 1_000_000

// MaxAliasBytes bounds the bytes (strings and keys, as JSON writes them)
// YAML aliases may add to a document once expanded. The values are shared in memory, but
// everything that writes the configuration out (POST /config's answer,
// the admin lists, a cluster store's copy) writes every use: a 264 KB
// document repeating a 100 KB tag 3,000 times made a 301 MB answer and
// took the gateway to 1.2 GB, and a few megabytes more would have had it
// killed. A plugin config of 2 KB shared by 10,000 routes adds 20 MB.
const MaxAliasBytes = 32 << 20

// MaxNodes bounds the values (scalars, maps, arrays, keys included) a
// document may hold, counted generously by the byte scan before the
// parser runs. Parsing and decoding cost at most about 300 bytes of memory
// per counted value (measured in bench/RESULTS.md: flat lists and maps of
// one-character values), so this holds a parse under about 1 GB whatever
// the document's size, while 100,000 consumers with a key-auth credential
// each (8.6 MB of YAML) count 1.3 million.
const MaxNodes = 3_000_000

// errTooDeep is the error for a document nested deeper than MaxDepth.
func errTooDeep(line int) error {
	return fmt.Errorf("line %d: nested deeper than %d levels", line, MaxDepth)
}

// scanLimits follows YAML's structure closely enough to count the levels
// that cost memory: brackets of flow collections (JSON), block indentation
// and the compact `- - x` form, skipping quoted strings, comments and block
// scalars. It counts values from their indicators (every `[`, `{`, `,` and
// `:` in flow, every key and `-` in block, every line), more than there
// are. A misjudged corner of YAML can only miscount a level, never skip
// the brackets that matter; FuzzScanLimits holds it to the parser.
func scanLimits(data []byte, maxDepth, maxNodes int) error {
	s := depthScanner{scalarOwner: -1, maxDepth: maxDepth, maxNodes: maxNodes}
	for ln := 1; len(data) > 0; ln++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if !s.line(line) {
			if s.nodes > maxNodes {
				return fmt.Errorf("line %d: more than %d values", ln, maxNodes)
			}
			return fmt.Errorf("line %d: nested deeper than %d levels", ln, maxDepth)
		}
	}
	return nil
}

type depthScanner struct {
	// blocks holds the columns of the open block nodes.
	blocks []int
	flow   int
	// quote is the quote of a quoted scalar still open at the end of the
	// previous line, or 0.
	quote byte
	// scalarOwner is the column of the node whose block scalar (`|`, `>`)
	// is being read, or -1: lines indented deeper are its text.
	scalarOwner int
	// nodes counts values from above.
	nodes              int
	maxDepth, maxNodes int
}

// over adds n values and tells whether a limit is exceeded.
func (s *depthScanner) over(n int) bool {
	s.nodes += n
	return len(s.blocks)+s.flow > s.maxDepth || s.nodes > s.maxNodes
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// line scans one line; false means the document is too deep.
func (s *depthScanner) line(line []byte) bool {
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	blank := indent == len(line)
	if s.scalarOwner >= 0 {
		if blank || indent > s.scalarOwner {
			return true
		}
		s.scalarOwner = -1
	}
	if !blank && s.over(1) {
		return false
	}
	i := 0
	switch {
	case s.quote != 0:
		if i = s.skipQuoted(line, 0); i < 0 {
			return true
		}
		if s.flow == 0 {
			return s.value(line, i, indent)
		}
	case s.flow == 0:
		if blank || line[indent] == '#' {
			return true
		}
		if indent == 0 && len(line) >= 3 && (string(line[:3]) == "---" || string(line[:3]) == "...") && (len(line) == 3 || isBlank(line[3])) {
			s.blocks = s.blocks[:0]
			return s.value(line, 3, -1)
		}
		for len(s.blocks) > 0 && s.blocks[len(s.blocks)-1] >= indent {
			s.blocks = s.blocks[:len(s.blocks)-1]
		}
		return s.value(line, indent, indent)
	}
	return s.flowScan(line, i, indent)
}

// value scans block content from i, the start of a node at column owner.
func (s *depthScanner) value(line []byte, i, owner int) bool {
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i >= len(line) {
			return true
		}
		c := line[i]
		switch {
		case (c == '-' || c == '?' || c == ':') && (i+1 == len(line) || isBlank(line[i+1])):
			// A compact nested node: `- - x`, `? key`, `- key: v`.
			s.blocks = append(s.blocks, i)
			if s.over(2) {
				return false
			}
			owner = i
			i++
			continue
		case c == '#':
			return true
		case c == '|' || c == '>':
			s.scalarOwner = owner
			return true
		case c == '[' || c == '{':
			return s.flowScan(line, i, owner)
		case c == '&' || c == '!':
			// Node properties (an anchor, a tag) come before the node
			// they belong to, which may be a flow collection.
			i = skipProperty(line, i)
			continue
		case c == '"' || c == '\'':
			start := i
			s.quote = c
			if i = s.skipQuoted(line, i+1); i < 0 {
				return true
			}
			if i = keyColon(line, i); i < 0 {
				return true
			}
			s.blocks = append(s.blocks, start)
			if s.over(2) {
				return false
			}
			owner = start
			continue
		}
		// A plain scalar: in block context brackets and quotes inside it
		// are text. It is a key if `: ` follows.
		start := i
		for i < len(line) {
			if line[i] == ':' && (i+1 == len(line) || isBlank(line[i+1])) {
				break
			}
			if line[i] == '#' && i > start && isBlank(line[i-1]) {
				return true
			}
			i++
		}
		if i >= len(line) {
			return true
		}
		s.blocks = append(s.blocks, start)
		if s.over(2) {
			return false
		}
		owner = start
		i++
	}
}

// skipProperty returns the position after the anchor or tag at i: a
// verbatim tag `!<...>` ends at `>`, the others at a blank. A `[` or `{`
// ends it too, so that a collection written right after it is scanned
// (over-counting a level is harmless; missing one is not).
func skipProperty(line []byte, i int) int {
	if i+1 < len(line) && line[i] == '!' && line[i+1] == '<' {
		if j := bytes.IndexByte(line[i:], '>'); j >= 0 {
			return i + j + 1
		}
		return len(line)
	}
	for i < len(line) && !isBlank(line[i]) && line[i] != '[' && line[i] != '{' {
		i++
	}
	return i
}

// keyColon returns the position after `:` when a quoted scalar ending at
// i is a key, or -1.
func keyColon(line []byte, i int) int {
	for i < len(line) && isBlank(line[i]) {
		i++
	}
	if i < len(line) && line[i] == ':' {
		return i + 1
	}
	return -1
}

// skipQuoted skips the rest of the quoted scalar s.quote opened and returns
// the position after its closing quote, or -1 when it goes on past the line.
func (s *depthScanner) skipQuoted(line []byte, i int) int {
	for ; i < len(line); i++ {
		switch c := line[i]; {
		case s.quote == '"' && c == '\\':
			i++
		case c == s.quote && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
			i++
		case c == s.quote:
			s.quote = 0
			return i + 1
		}
	}
	return -1
}

// flowScan scans flow content (inside brackets) from i; when the outermost
// bracket closes, the rest of the line is block content again.
func (s *depthScanner) flowScan(line []byte, i, owner int) bool {
	// start: a quote here opens a quoted scalar rather than being text.
	start := true
	for ; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '[' || c == '{':
			s.flow++
			if s.over(2) {
				return false
			}
			start = true
			continue
		case c == ']' || c == '}':
			if s.flow > 0 {
				s.flow--
			}
			if s.flow == 0 {
				return s.value(line, i+1, owner)
			}
		case c == '#' && (i == 0 || isBlank(line[i-1])):
			return true
		case (c == '"' || c == '\'') && start:
			s.quote = c
			if i = s.skipQuoted(line, i+1); i < 0 {
				return true
			}
			i--
		case c == ',' || c == ':':
			if s.over(2) {
				return false
			}
			start = true
			continue
		case isBlank(c):
			continue
		}
		start = false
	}
	return true
}

// aliasBudget counts, while the tree is built, the values and bytes
// aliases add.
type aliasBudget struct {
	added, bytes int
}

// use accounts for one alias to v; an error when the budget is spent.
func (a *aliasBudget) use(v *value, line int) error {
	a.added += v.size
	a.bytes += v.bytes
	switch {
	case a.added > MaxAliasValues:
		return fmt.Errorf("line %d: YAML aliases expand to more than %d values", line, MaxAliasValues)
	case a.bytes > MaxAliasBytes:
		return fmt.Errorf("line %d: YAML aliases expand to more than %d MiB of text", line, MaxAliasBytes>>20)
	}
	return nil
}

// maxUTF8Errors bounds the invalid UTF-8 errors reported for one document.
const maxUTF8Errors = 20

// invalidUTF8Lines lists the lines holding bytes that are not UTF-8. The
// YAML parser turns such bytes into U+FFFD without a word, which would
// rewrite names and keys silently ("a\xff" and "a\xfe" would both become
// "a\uFFFD"); YAML and JSON are text, so the document is refused instead.
func invalidUTF8Lines(data []byte) map[int]bool {
	if utf8.Valid(data) {
		return nil
	}
	bad := map[int]bool{}
	line := 1
	for i := 0; i < len(data) && len(bad) < maxUTF8Errors; {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			bad[line] = true
		case r == '\n':
			line++
		}
		i += n
	}
	return bad
}

// utf8Errors locates the invalid bytes of a document in its tree: a string
// or key on a bad line that the parser gave a U+FFFD is reported at its
// field path, any other bad line by its number.
func utf8Errors(root *value, bad map[int]bool) Errors {
	var errs Errors
	found := map[int]bool{}
	seen := map[*value]bool{}
	var walk func(v *value, path string)
	walk = func(v *value, path string) {
		if v == nil || seen[v] || len(errs) >= maxUTF8Errors {
			return
		}
		seen[v] = true
		switch v.kind {
		case kindString:
			if bad[v.line] && strings.ContainsRune(v.str, utf8.RuneError) {
				errs = append(errs, FieldError{Path: path, Message: "not valid UTF-8", Line: v.line})
				found[v.line] = true
			}
		case kindMap:
			for i, k := range v.keys {
				if ln := v.vals[i].line; bad[ln] && strings.ContainsRune(k, utf8.RuneError) {
					errs = append(errs, FieldError{Path: path, Message: "a key is not valid UTF-8", Line: ln})
					found[ln] = true
					continue
				}
				walk(v.vals[i], KeyPath(path, k))
			}
		case kindSeq:
			for i, it := range v.items {
				walk(it, at(path, i))
			}
		}
	}
	walk(root, "")
	lines := make([]int, 0, len(bad))
	for ln := range bad {
		if !found[ln] {
			lines = append(lines, ln)
		}
	}
	slices.Sort(lines)
	for _, ln := range lines {
		errs = append(errs, FieldError{Message: "not valid UTF-8", Line: ln})
	}
	return errs
}
