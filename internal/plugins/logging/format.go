package logging

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Bounds on a format: it is configuration, but one line is written per
// request, so its size is the gateway's to limit.
const (
	maxDepth     = 8    // maps nested in log_format
	maxFields    = 256  // keys in all of log_format
	maxLeafBytes = 4096 // one leaf's template
	maxKeyBytes  = 256  // one key
	maxInPath    = 64   // of a key, in an error's path
	maxLiteral   = 64 << 10
)

// format is a compiled log_format: the line is ops in order, each its
// literal bytes (keys, punctuation, text around variables, already JSON)
// then its variable, then tail.
type format struct {
	ops  []op
	tail []byte
}

// op is literal bytes followed by one variable's value: bare when the
// variable is a whole leaf and a number (null when absent), otherwise
// escaped text inside a string whose quotes are in the literals.
type op struct {
	lit  []byte
	v    variable
	bare bool
}

// render appends one line (without its newline) for the request.
func (f *format) render(b []byte, c *plugin.Ctx) []byte {
	for i := range f.ops {
		o := &f.ops[i]
		b = append(b, o.lit...)
		if !o.bare {
			b = o.v.appendText(b, c)
			continue
		}
		var ok bool
		if b, ok = o.v.appendNumber(b, c); !ok {
			b = append(b, "null"...)
		}
	}
	return append(b, f.tail...)
}

// compiler builds a format, collecting every problem with its path
// relative to the plugin's config.
type compiler struct {
	f      format
	lit    []byte // literal bytes not yet attached to an op
	fields int
	errs   plugin.Errors
}

func compileFormat(m *plugin.Ordered, path string) (*format, plugin.Errors) {
	c := &compiler{}
	c.object(m, path, 1)
	if len(c.lit) > maxLiteral {
		c.fail(path, "the format's fixed text is longer than "+strconv.Itoa(maxLiteral)+" bytes")
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	c.f.tail = c.lit
	return &c.f, nil
}

func (c *compiler) fail(path, msg string) {
	c.errs = append(c.errs, plugin.Problem{Path: path, Message: msg})
}

func (c *compiler) object(m *plugin.Ordered, path string, depth int) {
	if depth > maxDepth {
		c.fail(path, "nested deeper than "+strconv.Itoa(maxDepth)+" maps")
		return
	}
	c.lit = append(c.lit, '{')
	for i, key := range m.Keys {
		kp := keyPath(path, key)
		if c.fields++; c.fields > maxFields {
			c.fail(path, "more than "+strconv.Itoa(maxFields)+" fields")
			return
		}
		if len(key) > maxKeyBytes {
			c.fail(kp, "key longer than "+strconv.Itoa(maxKeyBytes)+" bytes")
			continue
		}
		if i > 0 {
			c.lit = append(c.lit, ',')
		}
		c.lit = jsonw.AppendString(c.lit, key)
		c.lit = append(c.lit, ':')
		c.value(m.Values[i], kp, depth)
	}
	c.lit = append(c.lit, '}')
}

func (c *compiler) value(v any, path string, depth int) {
	switch v := v.(type) {
	case *plugin.Ordered:
		c.object(v, path, depth+1)
	case string:
		c.leaf(v, path)
	case int64:
		c.lit = strconv.AppendInt(c.lit, v, 10)
	case float64:
		c.lit = strconv.AppendFloat(c.lit, v, 'g', -1, 64)
	case bool:
		c.lit = strconv.AppendBool(c.lit, v)
	case nil:
		c.lit = append(c.lit, "null"...)
	default:
		c.fail(path, "expected a string, a number, a boolean or a map")
	}
}

// leaf compiles one string template: a lone numeric variable becomes a
// bare number, anything else a JSON string.
func (c *compiler) leaf(s, path string) {
	if len(s) > maxLeafBytes {
		c.fail(path, "longer than "+strconv.Itoa(maxLeafBytes)+" bytes")
		return
	}
	parts, err := parseTemplate(s)
	if err != "" {
		c.fail(path, err)
		return
	}
	if len(parts) == 1 && parts[0].isVar && parts[0].v.kind.numeric() {
		c.flush(parts[0].v, true)
		return
	}
	c.lit = append(c.lit, '"')
	for _, p := range parts {
		if p.isVar {
			c.flush(p.v, false)
		} else {
			c.lit = jsonw.AppendInner(c.lit, p.text)
		}
	}
	c.lit = append(c.lit, '"')
}

// flush ends the pending literal with variable v.
func (c *compiler) flush(v variable, bare bool) {
	c.f.ops = append(c.f.ops, op{lit: c.lit, v: v, bare: bare})
	c.lit = nil
}

// part is a piece of a template: literal text or a variable.
type part struct {
	text  string
	v     variable
	isVar bool
}

// parseTemplate splits s into text and variables, NGINX's way: $name is
// the longest run of letters, digits and '_', ${name} delimits it from
// text that follows; a '$' that starts neither is text. The error
// message is "" when s is valid.
func parseTemplate(s string) ([]part, string) {
	var parts []part
	text := 0 // start of the pending text
	for i := 0; i < len(s); {
		if s[i] != '$' {
			i++
			continue
		}
		var name string
		end := i + 1
		switch {
		case end < len(s) && s[end] == '{':
			close := strings.IndexByte(s[end:], '}')
			if close < 0 {
				return nil, "unterminated ${ in " + strconv.Quote(s)
			}
			name, end = s[end+1:end+close], end+close+1
			if name == "" {
				return nil, "empty ${} in " + strconv.Quote(s)
			}
		default:
			for end < len(s) && isNameByte(s[end]) {
				end++
			}
			name = s[i+1 : end]
		}
		if name == "" {
			i++
			continue
		}
		v, ok := lookupVariable(name)
		if !ok {
			return nil, "unknown variable $" + name
		}
		if text < i {
			parts = append(parts, part{text: s[text:i]})
		}
		parts = append(parts, part{v: v, isVar: true})
		i, text = end, end
	}
	if text < len(s) || len(parts) == 0 {
		parts = append(parts, part{text: s[text:]})
	}
	return parts, ""
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// keyPath joins a key to a field path as config's error paths do, a long
// key shortened.
func keyPath(path, key string) string {
	if len(key) > maxInPath {
		n := maxInPath
		for n > 0 && !utf8.RuneStart(key[n]) {
			n--
		}
		key = key[:n] + "…"
	}
	return path + "." + key
}
