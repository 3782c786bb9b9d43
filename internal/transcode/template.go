package transcode

import (
	"errors"
	"strconv"
	"strings"
)

// segKind orders segments by specificity: a literal is more specific than "*", and "*" than "**".
// The end of a template sits between "*" and "**", so /a/b beats /a/b/** but loses to /a/b/c.
type segKind uint8

const (
	segLiteral segKind = iota
	segWild
	segEnd
	segDeep
)

type segment struct {
	kind segKind
	lit  string
	// varStart and varEnd are the index of the variable that opens or closes at this segment, -1
	// when none: the matcher records captures while it walks, with no second pass.
	varStart, varEnd int
}

// template is a compiled google.api.http path template.
type template struct {
	segs []segment
	verb string
	vars []string // field paths, in order of appearance
	deep bool     // the last segment is "**": the path may have any number of segments from there
}

// parseTemplate parses the grammar of google/api/http.proto:
//
//	Template = "/" Segments [ Verb ] ;
//	Segments = Segment { "/" Segment } ;
//	Segment  = "*" | "**" | LITERAL | Variable ;
//	Variable = "{" FieldPath [ "=" Segments ] "}" ;
//	FieldPath = IDENT { "." IDENT } ;
//	Verb     = ":" LITERAL ;
func parseTemplate(s string) (*template, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, errors.New("must start with /")
	}
	p := &tparser{s: s, pos: 1, t: &template{}}
	if err := p.segments(false); err != nil {
		return nil, err
	}
	if p.pos < len(s) && s[p.pos] == ':' {
		p.pos++
		verb := p.literal()
		if verb == "" {
			return nil, errors.New("empty verb after :")
		}
		p.t.verb = verb
	}
	if p.pos != len(s) {
		return nil, errors.New("unexpected " + strconv.QuoteRune(rune(s[p.pos])) + " at offset " + strconv.Itoa(p.pos))
	}
	for i, sg := range p.t.segs {
		if sg.kind == segDeep && i != len(p.t.segs)-1 {
			return nil, errors.New("** must be the last segment")
		}
	}
	p.t.deep = p.t.segs[len(p.t.segs)-1].kind == segDeep
	return p.t, nil
}

type tparser struct {
	s   string
	pos int
	t   *template
}

func (p *tparser) segments(inVar bool) error {
	for {
		if err := p.segment(inVar); err != nil {
			return err
		}
		if p.pos < len(p.s) && p.s[p.pos] == '/' {
			p.pos++
			continue
		}
		return nil
	}
}

func (p *tparser) add(kind segKind, lit string) {
	p.t.segs = append(p.t.segs, segment{kind: kind, lit: lit, varStart: -1, varEnd: -1})
}

func (p *tparser) segment(inVar bool) error {
	rest := p.s[p.pos:]
	switch {
	case strings.HasPrefix(rest, "**"):
		p.pos += 2
		p.add(segDeep, "")
	case strings.HasPrefix(rest, "*"):
		p.pos++
		p.add(segWild, "")
	case strings.HasPrefix(rest, "{"):
		if inVar {
			return errors.New("variables cannot nest")
		}
		return p.variable()
	default:
		lit := p.literal()
		if lit == "" {
			if p.pos >= len(p.s) {
				return errors.New("empty segment at the end")
			}
			return errors.New("unexpected " + strconv.QuoteRune(rune(p.s[p.pos])) + " at offset " + strconv.Itoa(p.pos))
		}
		p.add(segLiteral, lit)
	}
	return nil
}

// literal reads a run of characters that may stand in a literal segment or a verb.
func (p *tparser) literal() string {
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune("/{}*:=", rune(p.s[p.pos])) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *tparser) variable() error {
	p.pos++ // {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != '=' && p.s[p.pos] != '}' {
		p.pos++
	}
	field := p.s[start:p.pos]
	if !validFieldPath(field) {
		return errors.New("invalid field path " + strconv.Quote(field))
	}
	idx := len(p.t.vars)
	p.t.vars = append(p.t.vars, field)
	first := len(p.t.segs)
	if p.pos < len(p.s) && p.s[p.pos] == '=' {
		p.pos++
		if err := p.segments(true); err != nil {
			return err
		}
	} else {
		p.add(segWild, "")
	}
	if p.pos >= len(p.s) || p.s[p.pos] != '}' {
		return errors.New("variable " + strconv.Quote(field) + " is not closed by }")
	}
	p.pos++
	p.t.segs[first].varStart = idx
	p.t.segs[len(p.t.segs)-1].varEnd = idx
	return nil
}

func validFieldPath(f string) bool {
	for part := range strings.SplitSeq(f, ".") {
		if part == "" || part[0] >= '0' && part[0] <= '9' {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// compareTemplates orders templates most specific first: segment by segment (literal, then *, then
// the end of the template, then **), then a template with a verb before one without. Equal ones
// keep their declaration order (the caller sorts stably).
func compareTemplates(a, b *template) int {
	for i := 0; ; i++ {
		ka, kb := kindAt(a, i), kindAt(b, i)
		if ka != kb {
			return int(ka) - int(kb)
		}
		if ka == segEnd || ka == segDeep {
			break
		}
	}
	switch {
	case a.verb != "" && b.verb == "":
		return -1
	case a.verb == "" && b.verb != "":
		return 1
	}
	return 0
}

func kindAt(t *template, i int) segKind {
	if i >= len(t.segs) {
		return segEnd
	}
	return t.segs[i].kind
}

// match reports whether path (which starts with "/", without the query) fits the template, writing
// the captured variables' raw text (slices of path) into vars.
func (t *template) match(path string, nseg int, vars *Vars) bool {
	if t.verb != "" {
		n := len(path) - len(t.verb)
		if n < 1 || path[n-1] != ':' || path[n:] != t.verb {
			return false
		}
		path = path[:n-1]
	}
	if t.deep {
		if nseg < len(t.segs)-1 {
			return false
		}
	} else if nseg != len(t.segs) {
		return false
	}
	if len(t.vars) > len(vars.vals) {
		vars.more = make([]string, len(t.vars))
	}
	idx, varFrom := 1, 0
	for i := range t.segs {
		sg := &t.segs[i]
		if sg.kind == segDeep {
			if sg.varStart >= 0 {
				varFrom = min(idx, len(path))
			}
			if sg.varEnd >= 0 {
				vars.set(sg.varEnd, path[varFrom:])
			}
			return true
		}
		end := strings.IndexByte(path[idx:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += idx
		}
		seg := path[idx:end]
		switch sg.kind {
		case segLiteral:
			if seg != sg.lit && !unescapedEqual(seg, sg.lit) {
				return false
			}
		case segWild:
			if seg == "" {
				return false
			}
		}
		if sg.varStart >= 0 {
			varFrom = idx
		}
		if sg.varEnd >= 0 {
			vars.set(sg.varEnd, path[varFrom:end])
		}
		idx = end + 1
	}
	return true
}

// unescapedEqual compares a raw path segment holding percent-escapes with a template literal,
// without allocating: /v1/us%65rs matches the literal "users".
func unescapedEqual(raw, lit string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if j >= len(lit) || lit[j] != c {
			return false
		}
		j++
	}
	return j == len(lit)
}
