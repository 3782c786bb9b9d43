package requesttransformer

import (
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kind is the Lua type of a value, with booleans split by value.
type kind uint8

const (
	kNil kind = iota
	kFalse
	kTrue
	kString
	kTable // a repeated header or query argument
)

// value is a Lua value of the template environment. A table is one of the
// request's own value lists, never a copy.
type value struct {
	k  kind
	s  string
	hs []string // a header's values
	as []argVal // a query argument's values
}

func strVal(s string) value { return value{k: kString, s: s} }

func (v value) truthy() bool { return v.k != kNil && v.k != kFalse }

// luaError is a run-time error with Lua's wording, so a log line reads like
// the one Kong would write for the same template.
type luaError string

func (e luaError) Error() string { return string(e) }

var typeNames = [...]string{kNil: "nil", kFalse: "boolean", kTrue: "boolean", kString: "string", kTable: "table"}

var (
	errConcat = [...]error{
		kNil:   luaError("attempt to concatenate a nil value"),
		kFalse: luaError("attempt to concatenate a boolean value"),
		kTrue:  luaError("attempt to concatenate a boolean value"),
		kTable: luaError("attempt to concatenate a table value"),
	}
	errIndex = [...]error{
		kNil:   luaError("attempt to index a nil value"),
		kFalse: luaError("attempt to index a boolean value"),
		kTrue:  luaError("attempt to index a boolean value"),
	}
	errLowerOnTable = luaError("attempt to call method 'lower' (a nil value)")
	errUpperOnTable = luaError("attempt to call method 'upper' (a nil value)")
)

// tableText stands for Lua's tostring of a table, "table: 0x" and the
// table's address: the shape is kept, the address (meaningless upstream,
// and a leak of the gateway's memory layout) is not.
const tableText = "table: 0x00000000"

// text is Penlight's tostring(v or ”), what a `$(...)` renders to.
func (v value) text() string {
	switch v.k {
	case kString:
		return v.s
	case kTrue:
		return "true"
	case kTable:
		return tableText
	}
	return ""
}

func (n *node) eval(e *env) (value, error) {
	switch n.op {
	case opLit:
		return strVal(n.s), nil
	case opHeader:
		return e.header(n), nil
	case opQuery:
		return e.queryParam(n.s), nil
	case opCaptureName:
		if c := &e.c.Captures; len(c.Positional) > 1 {
			if i, ok := c.Group(n.s); ok {
				return capture(c, i), nil
			}
		}
		return value{}, nil
	case opCaptureIndex:
		// Kong has no captures at all for a route whose regex has no group.
		if c := &e.c.Captures; len(c.Positional) > 1 && n.n < len(c.Positional) {
			return capture(c, n.n), nil
		}
		return value{}, nil
	case opOr, opAnd:
		l, err := n.kids[0].eval(e)
		if err != nil || l.truthy() == (n.op == opOr) {
			return l, err
		}
		return n.kids[1].eval(e)
	case opEq, opNe:
		l, err := n.kids[0].eval(e)
		if err != nil {
			return value{}, err
		}
		r, err := n.kids[1].eval(e)
		if err != nil {
			return value{}, err
		}
		if equal(l, r) == (n.op == opEq) {
			return value{k: kTrue}, nil
		}
		return value{k: kFalse}, nil
	case opConcat:
		return n.concat(e)
	}
	v, err := n.kids[0].eval(e)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case opType:
		return strVal(typeNames[v.k]), nil
	case opIndex:
		return index(v, n.n)
	}
	// opLower, opUpper
	switch v.k {
	case kString:
		return strVal(asciiCase(v.s, n.op == opUpper)), nil
	case kTable:
		if n.op == opUpper {
			return value{}, errUpperOnTable
		}
		return value{}, errLowerOnTable
	}
	return value{}, errIndex[v.k]
}

// capture is group i as ngx.re.match gives it: false when the group took
// no part in the match, so that `or` supplies a default.
func capture(c *plugin.Captures, i int) value {
	if !c.Matched(i) {
		return value{k: kFalse}
	}
	return strVal(c.Positional[i])
}

// index is v[i]: an element of a table (1-based, as in Lua), nothing for a
// string.
func index(v value, i int) (value, error) {
	switch v.k {
	case kString:
		return value{}, nil
	case kTable:
		switch {
		case i < 1:
		case v.hs != nil && i <= len(v.hs):
			return strVal(v.hs[i-1]), nil
		case v.as != nil && i <= len(v.as):
			return argValue(v.as[i-1]), nil
		}
		return value{}, nil
	}
	return value{}, errIndex[v.k]
}

func equal(a, b value) bool {
	switch {
	case a.k != b.k:
		return false
	case a.k == kString:
		return a.s == b.s
	case a.k == kTable:
		// Tables are equal only to themselves.
		if a.hs != nil || b.hs != nil {
			return len(a.hs) == len(b.hs) && &a.hs[0] == &b.hs[0]
		}
		return len(a.as) == len(b.as) && &a.as[0] == &b.as[0]
	}
	return true
}

// concat joins the operands with one allocation, after checking them all as
// Lua does before it concatenates, and before allocating past maxRendered.
func (n *node) concat(e *env) (value, error) {
	var buf [8]string
	parts := buf[:0]
	size := 0
	for _, k := range n.kids {
		v, err := k.eval(e)
		if err != nil {
			return value{}, err
		}
		if v.k != kString {
			return value{}, errConcat[v.k]
		}
		if size += len(v.s); size > maxRendered {
			return value{}, errTooLong
		}
		parts = append(parts, v.s)
	}
	return strVal(join(parts, size)), nil
}

func join(parts []string, size int) string {
	var b strings.Builder
	b.Grow(size)
	for _, s := range parts {
		b.WriteString(s)
	}
	return b.String()
}

// asciiCase is Lua's string.lower/upper: byte by byte, ASCII letters only.
// It returns s itself when nothing changes.
func asciiCase(s string, upper bool) string {
	from, to := byte('A'), byte('Z')
	if upper {
		from, to = 'a', 'z'
	}
	i := 0
	for i < len(s) && (s[i] < from || s[i] > to) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if from <= c && c <= to {
			c ^= 0x20
		}
		b.WriteByte(c)
	}
	return b.String()
}
