package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envSubst puts values from the environment into a document's strings:
// Kong vault references always, `${NAME}` only when expand is set
// (--expand-env; Kong has no such syntax, so by default `${...}` is text).
type envSubst struct {
	lookup func(string) (string, bool)
	expand bool
	// vaults maps the prefix of each env vault entity to its config.prefix.
	vaults map[string]string
	refs   int
	// objects caches the JSON objects read for `{vault://env/x/key}`.
	objects map[string]map[string]any
	errs    *ErrorList
	// written records every string that took a value from the
	// environment, so that errors can show it as written instead.
	written []written
}

// written is a string value as loaded and as the document wrote it.
type written struct {
	path, value, text string
}

// walk substitutes in every string scalar under v and adds the problems
// to errs, among them a value that is not valid UTF-8. Values shared by
// YAML aliases are visited once, so the walk costs what the document
// holds, not what its aliases expand to.
func (s *envSubst) walk(v *value, path string, skip func(path string) bool) {
	if v == nil || v.envDone || skip(path) {
		return
	}
	v.envDone = true
	switch v.kind {
	case kindString:
		s.substitute(v, path)
	case kindMap:
		for i, k := range v.keys {
			s.walk(v.vals[i], KeyPath(path, k), skip)
		}
	case kindSeq:
		for i, it := range v.items {
			s.walk(it, JoinPath(path, "["+strconv.Itoa(i)+"]"), skip)
		}
	}
}

func (s *envSubst) substitute(v *value, path string) {
	var (
		out string
		err error
	)
	switch {
	case isVaultRef(v.str):
		if out, err = s.resolveRef(v.str); err != nil {
			err = fmt.Errorf("unable to resolve reference %s (%v)", shorten(v.str, maxQuoted), err)
		}
	case s.expand && strings.Contains(v.str, "${"):
		out, err = expandString(v.str, s.lookup)
	default:
		return
	}
	if err != nil {
		s.errs.Add(FieldError{Path: path, Message: err.Error(), Line: v.line})
		return
	}
	if !utf8.ValidString(out) {
		s.errs.Add(FieldError{Path: path, Message: "not valid UTF-8 (from the environment)", Line: v.line})
		return
	}
	if isVaultRef(v.str) {
		v.ref = v.str
	} else {
		// `port: ${PORT}` may stand for a number, which YAML could not know.
		v.fromEnv = true
	}
	s.written = append(s.written, written{path: path, value: out, text: v.str})
	v.str = out
}

// expandString expands `${NAME}`; `$${` stands for a literal `${` and any
// other `$` is kept as is, so regexes ending in `$` need no escaping.
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
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

// redact shows, in the errors at or around a field whose value came from
// the environment, that field as the document wrote it instead of the
// value: a message may quote the value (`invalid url '...'`), and errors
// reach logs, the admin API and /status.
func redact(es Errors, ws []written) Errors {
	if len(ws) == 0 || len(es) == 0 {
		return es
	}
	ws = append([]written(nil), ws...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].path < ws[j].path })
	find := func(p string) int { return sort.Search(len(ws), func(k int) bool { return ws[k].path >= p }) }
	out := make(Errors, len(es))
	for i, e := range es {
		// The fields at the error's path or below it sort together.
		for k := find(e.Path); k < len(ws) && strings.HasPrefix(ws[k].path, e.Path); k++ {
			e.Message = hide(e.Message, ws[k])
		}
		for j := len(e.Path) - 1; j > 0; j-- {
			if c := e.Path[j]; c != '.' && c != '[' {
				continue
			}
			above := e.Path[:j]
			for k := find(above); k < len(ws) && ws[k].path == above; k++ {
				e.Message = hide(e.Message, ws[k])
			}
		}
		out[i] = e
	}
	return out
}

// hide replaces w's value in msg by w's text, where it stands as a word
// of its own: a short value ("x") must not mangle the words around it.
func hide(msg string, w written) string {
	if w.value == "" || !strings.Contains(msg, w.value) {
		return msg
	}
	text := shorten(w.text, maxQuoted)
	var sb strings.Builder
	for {
		i := strings.Index(msg, w.value)
		if i < 0 {
			break
		}
		end := i + len(w.value)
		if (i > 0 && wordByte(msg[i-1]) && wordByte(w.value[0])) ||
			(end < len(msg) && wordByte(msg[end]) && wordByte(w.value[len(w.value)-1])) {
			sb.WriteString(msg[:i+1])
			msg = msg[i+1:]
			continue
		}
		sb.WriteString(msg[:i])
		sb.WriteString(text)
		msg = msg[end:]
	}
	sb.WriteString(msg)
	return sb.String()
}

func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
