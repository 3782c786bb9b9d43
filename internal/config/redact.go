package config

import (
	"sort"
	"strings"
)

// redaction keeps values read from the environment out of the errors and
// warnings about a configuration, which reach logs, the admin API and
// /status. A check may quote a field's value whole, in part (a URL's
// host, a header's value after `name:`) or shortened, so looking for the
// value in a message cannot be trusted: a message about a field that took
// its value from the environment is replaced whole by a neutral text
// naming the field as written. Every other message has each value read
// from the environment replaced by the reference or `${NAME}` that read
// it, since a message may quote another field (a warning about a route
// quotes its name).
type redaction struct {
	// fields, sorted by path: each path (aliases included) whose string
	// took a value from the environment, with its text as written.
	fields []written
	// secrets, longest value first, so that a value is never replaced
	// piecewise by a shorter one it contains.
	secrets []secret
}

// secret is a value read from the environment and the text shown for it.
type secret struct{ value, text string }

// minHiddenInWords is the length from which a value is hidden inside other
// words too: a shorter one (`x`, `v1`) is hidden only where it stands as a
// word, so as not to mangle the words around it, and so says too little of
// a secret to matter.
const minHiddenInWords = 4

func newRedaction(s *envSubst) *redaction {
	if len(s.fields) == 0 && len(s.secrets) == 0 {
		return nil
	}
	r := &redaction{fields: s.fields, secrets: make([]secret, 0, len(s.secrets))}
	sort.SliceStable(r.fields, func(i, j int) bool { return r.fields[i].path < r.fields[j].path })
	for v, t := range s.secrets {
		r.secrets = append(r.secrets, secret{value: v, text: Shorten(t, maxQuoted)})
	}
	sort.Slice(r.secrets, func(i, j int) bool {
		a, b := r.secrets[i].value, r.secrets[j].value
		return len(a) > len(b) || len(a) == len(b) && a < b
	})
	return r
}

// errorText and warningText begin the neutral text that replaces a
// message about a field from the environment.
const (
	errorText   = "invalid value"
	warningText = "value to check"
)

// apply returns es redacted, a message about a field from the environment
// replaced by neutral and that field as written.
func (r *redaction) apply(es Errors, neutral string) Errors {
	if r == nil || len(es) == 0 {
		return es
	}
	out := make(Errors, len(es))
	for i, e := range es {
		was := e.Message
		if f, ok := r.field(e.Path); ok {
			e.Message = neutral + " (from " + Shorten(f.text, maxQuoted) + ")"
		} else {
			e.Message = Shorten(r.hide(e.Message), maxMessage)
		}
		if e.Message != was {
			// A duplicate's note is no longer where Note says.
			e.First, e.Note = "", 0
		}
		out[i] = e
	}
	return out
}

// field finds the field from the environment at path or above it (a
// plugin may report a part of a string: `headers[0]` of a value).
func (r *redaction) field(path string) (written, bool) {
	for end := len(path); end > 0; end-- {
		if end < len(path) && path[end] != '.' && path[end] != '[' {
			continue
		}
		p := path[:end]
		k := sort.Search(len(r.fields), func(k int) bool { return r.fields[k].path >= p })
		if k < len(r.fields) && r.fields[k].path == p {
			return r.fields[k], true
		}
	}
	return written{}, false
}

// span is a part of a message to replace by text.
type span struct {
	from, to int
	text     string
}

// hide replaces each secret in msg by its text, and the start of one cut
// off by an ellipsis (a quoted value shortened, the message cut at
// maxMessage) by its text and the ellipsis.
func (r *redaction) hide(msg string) string {
	var spans []span
	free := func(from, to int) bool {
		for _, s := range spans {
			if from < s.to && s.from < to {
				return false
			}
		}
		return true
	}
	// The longest cut start first: a whole value found inside it would
	// leave the rest of the cut one in place.
	for at := 0; ; {
		e := strings.Index(msg[at:], "…")
		if e < 0 {
			break
		}
		e += at
		at = e + len("…")
		best := span{from: -1}
		for _, s := range r.secrets {
			if i := cutStart(msg[:e], s.value); i >= 0 && (best.from < 0 || i < best.from) {
				best = span{i, e, s.text}
			}
		}
		if best.from >= 0 && free(best.from, e) {
			spans = append(spans, best)
		}
	}
	for _, s := range r.secrets {
		v := s.value
		for at := 0; len(v) <= len(msg)-at; {
			i := strings.Index(msg[at:], v)
			if i < 0 {
				break
			}
			i += at
			at = i + 1
			if (len(v) >= minHiddenInWords || isWord(msg, i, i+len(v))) && free(i, i+len(v)) {
				spans = append(spans, span{i, i + len(v), s.text})
			}
		}
	}
	if len(spans) == 0 {
		return msg
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	var sb strings.Builder
	last := 0
	for _, s := range spans {
		sb.WriteString(msg[last:s.from])
		sb.WriteString(s.text)
		last = s.to
	}
	sb.WriteString(msg[last:])
	return sb.String()
}

// cutStart returns where the longest start of v that ends msg begins, or
// -1: the part of v left before an ellipsis.
func cutStart(msg, v string) int {
	if v == "" {
		return -1
	}
	for i := max(0, len(msg)-len(v)); i < len(msg); i++ {
		if msg[i] == v[0] && strings.HasPrefix(v, msg[i:]) &&
			(len(msg)-i >= minHiddenInWords || i == 0 || !wordByte(msg[i-1]) || !wordByte(v[0])) {
			return i
		}
	}
	return -1
}

// isWord reports whether msg[from:to] stands as a word of its own.
func isWord(msg string, from, to int) bool {
	return (from == 0 || !wordByte(msg[from-1]) || !wordByte(msg[from])) &&
		(to == len(msg) || !wordByte(msg[to]) || !wordByte(msg[to-1]))
}

func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
