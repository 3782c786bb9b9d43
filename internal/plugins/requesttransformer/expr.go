package requesttransformer

import (
	"errors"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Kong evaluates what is inside `$(...)` as a Lua expression in a sandbox
// holding headers, query_params, uri_captures, shared and type. Turnpike
// parses the part of that language real configs use into a small tree when
// the config is loaded, and refuses anything else then, so no request ever
// meets a template Turnpike cannot evaluate.

type op uint8

const (
	opLit          op = iota // the constant k: s for a string, n for a number
	opHeader                 // headers[s], s the lookup key
	opQuery                  // query_params[s]
	opCaptureName            // uri_captures[s]
	opCaptureIndex           // uri_captures[n]
	opIndex                  // kids[0][n]
	opLower                  // kids[0]:lower()
	opUpper                  // kids[0]:upper()
	opType                   // type(kids[0])
	opConcat                 // kids[0] .. kids[1] .. ...
	opOr                     // kids[0] or kids[1]
	opAnd                    // kids[0] and kids[1]
	opEq                     // kids[0] == kids[1]
	opNe                     // kids[0] ~= kids[1]
	opNot                    // not kids[0]
	opLen                    // #kids[0]
	opSub                    // kids[0]:sub(kids[1] [, kids[2]])
)

type node struct {
	op   op
	k    kind
	s    string
	n    int
	kids []*node
	// h is the header an opHeader reads (s is "host" for the Host).
	h plugin.HeaderName
}

// Bounds on one expression, far above what a value template needs; they
// keep a hostile config from building a deep or huge tree. maxNumber keeps
// number literals where Lua's doubles hold them exactly and print them as
// integers (LuaJIT's tostring uses 14 significant digits).
const (
	maxDepth  = 16
	maxNodes  = 64
	maxNumber = 1e14
)

// supportedForms is the sentence every refusal ends with.
const supportedForms = "Turnpike evaluates only headers.<name>, headers[\"<name>\"], query_params.<name>, " +
	"query_params[\"<name>\"], uri_captures.<name>, uri_captures[<n>], [<n>] on a multi-value header or " +
	"argument, quoted strings, integers, nil, true, false, .., or, and, not, ==, ~=, #x, type(x), x:lower(), " +
	"x:upper(), x:sub(i [, j]) and parentheses (see docs/plugins/request-transformer.md)"

type tokKind uint8

const (
	tEOF tokKind = iota
	tName
	tString
	tNumber
	tPunct // s is one of ( ) [ ] . .. : , == ~= # -
)

type token struct {
	kind tokKind
	s    string // name, punctuation, or the decoded string literal
	n    int    // a number's value
	pos  int
}

var luaKeywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "goto": true, "if": true, "in": true,
	"local": true, "nil": true, "not": true, "or": true, "repeat": true, "return": true,
	"then": true, "true": true, "until": true, "while": true,
}

type parser struct {
	src   string
	pos   int
	tok   token
	depth int
	nodes int
}

// parseFailure carries a refusal out of the recursive descent by panic,
// so that every rule need not check and return an error.
type parseFailure string

// parseExpr compiles the inside of one `$(...)`.
func parseExpr(src string) (n *node, err error) {
	p := &parser{src: src}
	defer func() {
		if r := recover(); r != nil {
			msg, ok := r.(parseFailure)
			if !ok {
				panic(r)
			}
			n, err = nil, errors.New("$("+src+"): "+string(msg)+"; "+supportedForms)
		}
	}()
	p.next()
	if p.tok.kind == tEOF {
		p.fail("empty expression")
	}
	n = p.or()
	if p.tok.kind != tEOF {
		p.unexpected()
	}
	return n, nil
}

func (p *parser) fail(msg string) { panic(parseFailure(msg)) }

func (p *parser) unexpected() {
	switch p.tok.kind {
	case tEOF:
		p.fail("unexpected end")
	case tString:
		p.fail("unexpected string at offset " + strconv.Itoa(p.tok.pos))
	}
	p.fail("unexpected '" + p.src[p.tok.pos:p.pos] + "' at offset " + strconv.Itoa(p.tok.pos))
}

func (p *parser) newNode(o op, kids ...*node) *node {
	if p.nodes++; p.nodes > maxNodes {
		p.fail("expression longer than " + strconv.Itoa(maxNodes) + " terms")
	}
	return &node{op: o, kids: kids}
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.s == s }

func (p *parser) expect(s string) {
	if !p.isPunct(s) {
		p.unexpected()
	}
	p.next()
}

func (p *parser) or() *node {
	if p.depth++; p.depth > maxDepth {
		p.fail("expression nested deeper than " + strconv.Itoa(maxDepth))
	}
	n := p.and()
	for p.tok.kind == tName && p.tok.s == "or" {
		p.next()
		n = p.newNode(opOr, n, p.and())
	}
	p.depth--
	return n
}

func (p *parser) and() *node {
	n := p.compare()
	for p.tok.kind == tName && p.tok.s == "and" {
		p.next()
		n = p.newNode(opAnd, n, p.compare())
	}
	return n
}

func (p *parser) compare() *node {
	n := p.concat()
	for p.isPunct("==") || p.isPunct("~=") {
		o := opEq
		if p.tok.s == "~=" {
			o = opNe
		}
		p.next()
		n = p.newNode(o, n, p.concat())
	}
	return n
}

// concat keeps a chain a .. b .. c as one node, so rendering it builds the
// result once.
func (p *parser) concat() *node {
	n := p.operand()
	if !p.isPunct("..") {
		return n
	}
	c := p.newNode(opConcat, n)
	for p.isPunct("..") {
		p.next()
		c.kids = append(c.kids, p.operand())
	}
	return c
}

// operand parses a unary expression. Lua allows no suffix on a literal:
// ('x'):lower(), not 'x':lower().
func (p *parser) operand() *node {
	switch p.tok.kind {
	case tString:
		return p.literal(kString, p.tok.s, 0)
	case tNumber:
		return p.literal(kNumber, "", p.tok.n)
	case tName:
		switch p.tok.s {
		case "nil":
			return p.literal(kNil, "", 0)
		case "true":
			return p.literal(kTrue, "", 0)
		case "false":
			return p.literal(kFalse, "", 0)
		case "not":
			return p.unary(opNot)
		}
		return p.suffixes(p.prefix())
	case tPunct:
		switch p.tok.s {
		case "(":
			p.next()
			n := p.or()
			p.expect(")")
			return p.suffixes(n)
		case "#":
			return p.unary(opLen)
		case "-":
			p.next()
			if p.tok.kind != tNumber {
				p.fail("a minus sign is only supported before a number")
			}
			return p.literal(kNumber, "", -p.tok.n)
		}
	}
	p.unexpected()
	return nil
}

func (p *parser) literal(k kind, s string, n int) *node {
	lit := p.newNode(opLit)
	lit.k, lit.s, lit.n = k, s, n
	p.next()
	return lit
}

// unary parses not or # and its operand; a chain of them counts as
// nesting, so that it stays within maxDepth.
func (p *parser) unary(o op) *node {
	if p.depth++; p.depth > maxDepth {
		p.fail("expression nested deeper than " + strconv.Itoa(maxDepth))
	}
	p.next()
	n := p.newNode(o, p.operand())
	p.depth--
	return n
}

// prefix parses a name and what must follow it: the lookup of a template
// table, or the call of type.
func (p *parser) prefix() *node {
	name := p.tok.s
	if luaKeywords[name] {
		p.unexpected()
	}
	p.next()
	switch name {
	case "headers", "query_params", "uri_captures":
		return p.lookup(name)
	case "type":
		p.expect("(")
		n := p.newNode(opType, p.or())
		p.expect(")")
		return n
	case "string":
		p.fail("string." + p.peekField() + "(...) is not available in Kong's sandbox either; write x:lower() or x:upper()")
	case "shared":
		p.fail("shared (kong.ctx.shared) is not supported: no Turnpike plugin writes it")
	}
	p.fail("unknown name '" + name + "'")
	return nil
}

func (p *parser) peekField() string {
	if p.isPunct(".") {
		p.next()
		if p.tok.kind == tName {
			return p.tok.s
		}
	}
	return "<name>"
}

func (p *parser) lookup(table string) *node {
	var key string
	index := -1
	switch {
	case p.isPunct("."):
		p.next()
		if p.tok.kind != tName || luaKeywords[p.tok.s] {
			p.unexpected()
		}
		key = p.tok.s
		p.next()
	case p.isPunct("["):
		p.next()
		switch p.tok.kind {
		case tString:
			key = p.tok.s
		case tNumber:
			index = p.tok.n
		default:
			p.unexpected()
		}
		p.next()
		p.expect("]")
	default:
		p.fail(table + " must be followed by .<name> or [\"<name>\"]")
	}
	var n *node
	switch {
	case table == "uri_captures" && index >= 0:
		n = p.newNode(opCaptureIndex)
		n.n = index
	case index >= 0:
		p.fail(table + " has no numbered entries; write " + table + "[\"<name>\"]")
	case table == "headers":
		n = p.newNode(opHeader)
		if strings.EqualFold(key, "host") {
			n.s = "host"
		} else {
			n.h = plugin.NewHeaderName(key)
		}
	case table == "query_params":
		n = p.newNode(opQuery)
		n.s = key
	default:
		n = p.newNode(opCaptureName)
		n.s = key
	}
	return n
}

// suffixes parses the [<n>], :lower(), :upper() and :sub(i [, j]) that may
// follow a prefix expression.
func (p *parser) suffixes(n *node) *node {
	for {
		switch {
		case p.isPunct("["):
			p.next()
			if p.tok.kind != tNumber {
				p.fail("only a number can index a header or argument value, as in headers[\"x\"][1]")
			}
			idx := p.newNode(opIndex, n)
			idx.n = p.tok.n
			p.next()
			p.expect("]")
			n = idx
		case p.isPunct(":"):
			p.next()
			n = p.method(n)
		case p.isPunct("."):
			p.fail("a field of a value is not supported; only [<n>], :lower(), :upper() and :sub(i [, j]) may follow it")
		case p.isPunct("("):
			p.fail("only type(x) can be called")
		default:
			return n
		}
	}
}

func (p *parser) method(recv *node) *node {
	if p.tok.kind != tName || p.tok.s != "lower" && p.tok.s != "upper" && p.tok.s != "sub" {
		p.fail("only the string methods :lower(), :upper() and :sub(i [, j]) are supported")
	}
	name := p.tok.s
	p.next()
	p.expect("(")
	var n *node
	switch name {
	case "lower":
		n = p.newNode(opLower, recv)
	case "upper":
		n = p.newNode(opUpper, recv)
	default:
		// Lua would ignore extra arguments and fail at run time without
		// any; both are refused here.
		if p.isPunct(")") {
			p.fail(":sub takes one or two arguments")
		}
		n = p.newNode(opSub, recv, p.or())
		if p.isPunct(",") {
			p.next()
			n.kids = append(n.kids, p.or())
		}
		if p.isPunct(",") {
			p.fail(":sub takes one or two arguments")
		}
	}
	p.expect(")")
	return n
}

// next reads the following token into p.tok, Lua's lexical rules
// restricted to the tokens above.
func (p *parser) next() {
	s := p.src
	for p.pos < len(s) && isSpace(s[p.pos]) {
		p.pos++
	}
	start := p.pos
	p.tok = token{pos: start}
	if start == len(s) {
		return
	}
	c := s[start]
	switch {
	case isNameStart(c):
		for p.pos < len(s) && (isNameStart(s[p.pos]) || isDigit(s[p.pos])) {
			p.pos++
		}
		p.tok.kind, p.tok.s = tName, s[start:p.pos]
	case isDigit(c):
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
		if p.pos < len(s) && (isNameStart(s[p.pos]) || s[p.pos] == '.') {
			p.fail("only decimal integers are supported as numbers")
		}
		n, err := strconv.Atoi(s[start:p.pos])
		if err != nil || n >= maxNumber {
			p.fail("number out of range at offset " + strconv.Itoa(start))
		}
		p.tok.kind, p.tok.n = tNumber, n
	case c == '\'' || c == '"':
		p.tok.kind, p.tok.s = tString, p.str(c)
	default:
		p.pos++
		two := ""
		if p.pos < len(s) {
			two = s[start : p.pos+1]
		}
		switch {
		case two == ".." || two == "==" || two == "~=":
			p.pos++
			if p.pos < len(s) && two == ".." && s[p.pos] == '.' {
				p.pos++
				p.unexpectedPunct(start)
			}
		case two == "--":
			p.pos++
			p.fail("comments are not supported")
		case c == '(' || c == ')' || c == '[' || c == ']' || c == '.' || c == ':' || c == ',' || c == '#' || c == '-':
		default:
			p.unexpectedPunct(start)
		}
		p.tok.kind, p.tok.s = tPunct, s[start:p.pos]
	}
}

func (p *parser) unexpectedPunct(start int) {
	p.tok = token{kind: tPunct, pos: start}
	p.unexpected()
}

// str reads a quoted string with the escapes that have a plain meaning.
// It returns a substring of src when there is no escape.
func (p *parser) str(quote byte) string {
	s := p.src
	start := p.pos
	p.pos++
	var b []byte
	for lit := p.pos; ; {
		if p.pos >= len(s) || s[p.pos] == '\n' {
			p.fail("unfinished string at offset " + strconv.Itoa(start))
		}
		c := s[p.pos]
		if c == quote {
			if b == nil {
				out := s[lit:p.pos]
				p.pos++
				return out
			}
			b = append(b, s[lit:p.pos]...)
			p.pos++
			return string(b)
		}
		if c != '\\' {
			p.pos++
			continue
		}
		b = append(b, s[lit:p.pos]...)
		if p.pos+1 >= len(s) {
			p.fail("unfinished string at offset " + strconv.Itoa(start))
		}
		switch e := s[p.pos+1]; e {
		case '\\', '"', '\'':
			b = append(b, e)
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		default:
			p.fail("only the escapes \\\\, \\\", \\', \\n, \\r and \\t are supported in strings")
		}
		p.pos += 2
		lit = p.pos
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
