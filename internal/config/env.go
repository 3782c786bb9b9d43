package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxExpanded bounds, in bytes, the strings `${NAME}` expansion produces
// in one document (--expand-env): each `${NAME}` copies the variable, so a
// small document naming a large variable many times could otherwise ask
// for gigabytes before the load's memory budget is ever looked at.
const MaxExpanded = 64 << 20

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
	// cp stops a walk of an abandoned load: aliases can make it long.
	cp checkpoint
	// expanded counts the bytes `${NAME}` expansion has produced; past
	// MaxExpanded expansion stops (over) and the load fails.
	expanded int
	over     bool
	// fields lists every path whose string took a value from the
	// environment, including each path an alias reaches it by; texts
	// holds each such string as written; secrets every value read from
	// the environment with the text that stands for it (see redaction).
	fields  []written
	texts   map[*value]string
	secrets map[string]string
}

// written is a field that took its value from the environment, with its
// text as written.
type written struct {
	path, text string
}

// walk substitutes in every string scalar under v, adds the problems to
// errs, among them a value that is not valid UTF-8, and reports whether a
// string under v took a value from the environment. Values shared by YAML
// aliases are substituted once, so expansion costs what the document
// holds; a shared value holding such a string is walked again for each
// path it is reached by (as decoding does), only to record that path.
func (s *envSubst) walk(v *value, path string, skip func(path string) bool) bool {
	if v == nil || s.cp.stop() || skip(path) {
		return false
	}
	if v.envDone {
		if v.envUsed {
			s.record(v, path, skip)
		}
		return v.envUsed
	}
	v.envDone = true
	switch v.kind {
	case kindString:
		v.envUsed = s.substitute(v, path)
	case kindMap:
		for i, k := range v.keys {
			v.envUsed = s.walk(v.vals[i], KeyPath(path, k), skip) || v.envUsed
		}
	case kindSeq:
		for i, it := range v.items {
			v.envUsed = s.walk(it, JoinPath(path, "["+strconv.Itoa(i)+"]"), skip) || v.envUsed
		}
	}
	return v.envUsed
}

// record adds path, and the paths below it, to the fields taken from the
// environment, for a value already substituted.
func (s *envSubst) record(v *value, path string, skip func(path string) bool) {
	if !v.envUsed || s.cp.stop() || skip(path) {
		return
	}
	switch v.kind {
	case kindString:
		s.fields = append(s.fields, written{path: path, text: s.texts[v]})
	case kindMap:
		for i, k := range v.keys {
			s.record(v.vals[i], KeyPath(path, k), skip)
		}
	case kindSeq:
		for i, it := range v.items {
			s.record(it, JoinPath(path, "["+strconv.Itoa(i)+"]"), skip)
		}
	}
}

// substitute resolves or expands v's string and reports whether it took
// a value from the environment.
func (s *envSubst) substitute(v *value, path string) bool {
	var (
		out string
		err error
	)
	switch {
	case isVaultRef(v.str):
		if out, err = s.resolveRef(v.str); err != nil {
			err = fmt.Errorf("unable to resolve reference %s (%v)", Shorten(v.str, maxQuoted), err)
		} else {
			s.secret(out, v.str)
		}
	case s.expand && !s.over && strings.Contains(v.str, "${"):
		out, err = s.expandString(v.str)
	default:
		return false
	}
	if err != nil {
		s.errs.Add(FieldError{Path: path, Message: err.Error(), Line: v.line})
		return false
	}
	if !utf8.ValidString(out) {
		s.errs.Add(FieldError{Path: path, Message: "not valid UTF-8 (from the environment)", Line: v.line})
		return false
	}
	if isVaultRef(v.str) {
		v.ref = v.str
	} else {
		// `port: ${PORT}` may stand for a number, which YAML could not know.
		v.fromEnv = true
	}
	if s.texts == nil {
		s.texts = map[*value]string{}
	}
	s.texts[v] = v.str
	s.fields = append(s.fields, written{path: path, text: v.str})
	v.str = out
	return true
}

// secret notes a value read from the environment and the text that stands
// for it in messages: the first reference or `${NAME}` that read it.
func (s *envSubst) secret(value, text string) {
	if s.secrets == nil {
		s.secrets = map[string]string{}
	}
	if _, ok := s.secrets[value]; !ok && value != "" {
		s.secrets[value] = text
	}
}

// expandString expands `${NAME}`; `$${` stands for a literal `${` and any
// other `$` is kept as is, so regexes ending in `$` need no escaping. The
// parts are gathered first, without copying, so that the bound on what
// expansion produces is checked before anything is allocated for it.
func (s *envSubst) expandString(str string) (string, error) {
	var (
		parts []string
		n     int
	)
	add := func(p string) {
		parts = append(parts, p)
		n += len(p)
	}
	for i := 0; i < len(str); {
		lit := i
		for i < len(str) && !strings.HasPrefix(str[i:], "${") && !strings.HasPrefix(str[i:], "$${") {
			i++
		}
		add(str[lit:i])
		switch {
		case i == len(str):
		case str[i+1] == '$':
			add(str[i+1 : i+3])
			i += 3
		default:
			end := strings.IndexByte(str[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", Shorten(str, maxQuoted))
			}
			name := str[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q", Shorten(name, maxQuoted))
			}
			val, ok := s.lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			if s.expanded+n+len(val) > MaxExpanded {
				s.over = true
				return "", fmt.Errorf("expanding ${%s} would take the document's expanded strings past %d MiB (--expand-env)", name, MaxExpanded>>20)
			}
			s.secret(val, "${"+name+"}")
			add(val)
			i += 2 + end + 1
		}
	}
	s.expanded += n
	var sb strings.Builder
	sb.Grow(n)
	for _, p := range parts {
		sb.WriteString(p)
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
