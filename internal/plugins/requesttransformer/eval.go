package requesttransformer

import (
	"strconv"
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
	kNumber
)

// value is a Lua value of the template environment. A table is one of the
// request's own value lists, never a copy.
type value struct {
	k  kind
	s  string
	n  int      // a number's value
	hs []string // a header's values
	as []argVal // a query argument's values
}

func strVal(s string) value { return value{k: kString, s: s} }

func (v value) truthy() bool { return v.k != kNil && v.k != kFalse }

// luaError is a run-time error with Lua's wording, so a log line reads like
// the one Kong would write for the same template.
type luaError string

func (e luaError) Error() string { return string(e) }

var typeNames = [...]string{kNil: "nil", kFalse: "boolean", kTrue: "boolean", kString: "string", kTable: "table", kNumber: "number"}

var (
	errConcat = [...]error{
		kNil:   luaError("attempt to concatenate a nil value"),
		kFalse: luaError("attempt to concatenate a boolean value"),
		kTrue:  luaError("attempt to concatenate a boolean value"),
		kTable: luaError("attempt to concatenate a table value"),
	}
	errIndex = [...]error{
		kNil:    luaError("attempt to index a nil value"),
		kFalse:  luaError("attempt to index a boolean value"),
		kTrue:   luaError("attempt to index a boolean value"),
		kNumber: luaError("attempt to index a number value"),
	}
	errLen = [...]error{
		kNil:    luaError("attempt to get length of a nil value"),
		kFalse:  luaError("attempt to get length of a boolean value"),
		kTrue:   luaError("attempt to get length of a boolean value"),
		kNumber: luaError("attempt to get length of a number value"),
	}
	// A table has no string methods: the lookup gives nil, and the call fails.
	errMethodOnTable = [...]error{
		opLower: luaError("attempt to call method 'lower' (a nil value)"),
		opUpper: luaError("attempt to call method 'upper' (a nil value)"),
		opSub:   luaError("attempt to call method 'sub' (a nil value)"),
	}
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
	case kNumber:
		return strconv.Itoa(v.n)
	}
	return ""
}

func (n *node) eval(e *env) (value, error) {
	switch n.op {
	case opLit:
		return value{k: n.k, s: n.s, n: n.n}, nil
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
	case opSub:
		return n.sub(e)
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
	case opNot:
		if v.truthy() {
			return value{k: kFalse}, nil
		}
		return value{k: kTrue}, nil
	case opLen:
		switch v.k {
		case kString:
			return value{k: kNumber, n: len(v.s)}, nil
		case kTable:
			return value{k: kNumber, n: len(v.hs) + len(v.as)}, nil
		}
		return value{}, errLen[v.k]
	}
	// opLower, opUpper
	switch v.k {
	case kString:
		if err := e.build(len(v.s)); err != nil {
			return value{}, err
		}
		return strVal(asciiCase(v.s, n.op == opUpper)), nil
	case kTable:
		return value{}, errMethodOnTable[n.op]
	}
	return value{}, errIndex[v.k]
}

// sub is Lua's string.sub: byte positions from 1, negative ones counted
// from the end, clamped to the string. The result shares s's bytes. As in
// Lua, the receiver is indexed before the arguments are evaluated, and the
// call fails after.
func (n *node) sub(e *env) (value, error) {
	v, err := n.kids[0].eval(e)
	if err != nil {
		return value{}, err
	}
	if v.k != kString && v.k != kTable {
		return value{}, errIndex[v.k]
	}
	i, err := subArg(n.kids[1], e, 1)
	if err != nil {
		return value{}, err
	}
	j := -1
	if len(n.kids) > 2 {
		if j, err = subArg(n.kids[2], e, 2); err != nil {
			return value{}, err
		}
	}
	if v.k == kTable {
		return value{}, errMethodOnTable[opSub]
	}
	l := len(v.s)
	if i < 0 {
		i = max(l+i+1, 0)
	}
	if j < 0 {
		j = max(l+j+1, 0)
	}
	i, j = max(i, 1), min(j, l)
	if i > j {
		return strVal(""), nil
	}
	return strVal(v.s[i-1 : j]), nil
}

// subArg is an argument of sub as luaL_checkinteger takes it: a number,
// or a string holding one (decimal integers only here).
func subArg(k *node, e *env, pos int) (int, error) {
	v, err := k.eval(e)
	if err != nil {
		return 0, err
	}
	switch v.k {
	case kNumber:
		return v.n, nil
	case kString:
		if i, err := strconv.Atoi(strings.TrimSpace(v.s)); err == nil {
			return i, nil
		}
	}
	return 0, luaError("bad argument #" + strconv.Itoa(pos) + " to 'sub' (number expected, got " + typeNames[v.k] + ")")
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
	case a.k == kNumber:
		return a.n == b.n
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
// Lua does before it concatenates, and before allocating past maxRendered
// or the request's maxBuilt.
func (n *node) concat(e *env) (value, error) {
	var buf [8]string
	parts := buf[:0]
	size := 0
	for _, k := range n.kids {
		v, err := k.eval(e)
		if err != nil {
			return value{}, err
		}
		switch v.k {
		case kNumber:
			// Lua concatenates a number as its decimal text.
			v.s = strconv.Itoa(v.n)
		case kString:
		default:
			return value{}, errConcat[v.k]
		}
		if size += len(v.s); size > maxRendered {
			return value{}, errTooLong
		}
		parts = append(parts, v.s)
	}
	if err := e.build(size); err != nil {
		return value{}, err
	}
	return strVal(strings.Join(parts, "")), nil
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
