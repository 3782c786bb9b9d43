package responsetransformer

// A small JSON scanner: it checks a whole document against JSON's grammar
// and hands back the spans of the top-level object's members, without
// decoding anything. Kong's rules touch top-level keys only, so the values
// are never decoded: they are copied as the upstream wrote them.

// maxDepth is cjson's default decode depth: a deeper document is not JSON
// to Kong, and passes unchanged.
const maxDepth = 1000

// strPlain marks the bytes a JSON string may hold unescaped.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type scanner struct {
	b []byte
	i int
	// stack holds the open containers below the top level ('{' or '['),
	// reused between documents.
	stack []byte
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips a string starting at its opening quote; escaped reports
// whether it holds an escape.
func (s *scanner) str() (ok, escaped bool) {
	b := s.b
	i := s.i + 1
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return true, escaped
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		default: // a control byte
			return false, false
		}
	}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if !s.digits() {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// scalar skips a string, number or literal at s.i.
func (s *scanner) scalar() bool {
	switch c := s.b[s.i]; {
	case c == '"':
		ok, _ := s.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// value skips one value at s.i (after white space), containers included,
// without recursion: depth is that of the value's container.
func (s *scanner) value(depth int) bool {
	s.stack = s.stack[:0]
	for {
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		c := s.b[s.i]
		if c == '{' || c == '[' {
			if depth+len(s.stack) >= maxDepth {
				return false
			}
			s.stack = append(s.stack, c)
			s.i++
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == c+2 { // '}' and ']' follow '{' and '[' by two
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
			} else if c == '{' && !s.key() {
				return false
			} else {
				continue
			}
		} else if !s.scalar() {
			return false
		}
		// A value ended: close what ends here, then expect the next one.
		for {
			if len(s.stack) == 0 {
				return true
			}
			s.ws()
			if s.i >= len(s.b) {
				return false
			}
			top := s.stack[len(s.stack)-1]
			switch s.b[s.i] {
			case ',':
				s.i++
				if top == '{' {
					s.ws()
					if !s.key() {
						return false
					}
				}
			case top + 2:
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			default:
				return false
			}
			break
		}
	}
}

// key skips a member's key and its colon.
func (s *scanner) key() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	if ok, _ := s.str(); !ok {
		return false
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return false
	}
	s.i++
	return true
}

// member is one top-level member: its key as written (quotes included)
// and its value, as offsets into the document or, when kx or vx is set,
// into the bytes the rules made (job.extra). Offsets keep a member at 24
// bytes: a body of many tiny members costs a few times its size, not ten.
type member struct {
	k0, k1, v0, v1 int32
	// name indexes job.names, the decoded keys, for a key with an escape
	// or made by a rule (-1: the key's text between its quotes is its
	// name).
	name         int32
	kx, vx, gone bool
}

// members scans doc, a whole JSON document, and appends the members of
// its top-level object to j.ms (decoded keys to j.names). ok is false when
// doc is not JSON or not an object (Kong leaves both unchanged).
func (s *scanner) members(doc []byte, j *job) bool {
	s.b, s.i = doc, 0
	s.ws()
	if s.i >= len(doc) || doc[s.i] != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(doc) && doc[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		if s.i >= len(doc) || doc[s.i] != '"' {
			return false
		}
		k0 := s.i
		ok, esc := s.str()
		if !ok {
			return false
		}
		m := member{k0: int32(k0), k1: int32(s.i), name: -1}
		s.ws()
		if s.i >= len(doc) || doc[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		v0 := s.i
		if !s.value(1) {
			return false
		}
		m.v0, m.v1 = int32(v0), int32(s.i)
		if esc {
			name, ok := decodeKey(doc[m.k0:m.k1])
			if !ok {
				return false
			}
			m.name = int32(len(j.names))
			j.names = append(j.names, name)
		}
		j.ms = append(j.ms, m)
		s.ws()
		if s.i >= len(doc) {
			return false
		}
		switch doc[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return s.end()
		default:
			return false
		}
	}
}

// end reports whether only white space follows.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}
