package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// expandEnv replaces `${NAME}` in every string scalar under v and adds the
// problems to errs, among them a variable whose value is not valid UTF-8.
// Values shared by YAML aliases are visited once, so the walk costs what
// the document holds, not what its aliases expand to.
func expandEnv(v *value, path string, lookup func(string) (string, bool), skip func(path string) bool, errs *ErrorList) {
	if v == nil || v.envDone || skip(path) {
		return
	}
	v.envDone = true
	switch v.kind {
	case kindString:
		s, err := expandString(v.str, lookup)
		if err != nil {
			errs.Add(FieldError{Path: path, Message: err.Error(), Line: v.line})
			return
		}
		if !utf8.ValidString(s) {
			errs.Add(FieldError{Path: path, Message: "not valid UTF-8 (from the environment)", Line: v.line})
			return
		}
		v.fromEnv = strings.Contains(v.str, "${")
		v.str = s
	case kindMap:
		for i, k := range v.keys {
			expandEnv(v.vals[i], KeyPath(path, k), lookup, skip, errs)
		}
	case kindSeq:
		for i, it := range v.items {
			expandEnv(it, JoinPath(path, "["+strconv.Itoa(i)+"]"), lookup, skip, errs)
		}
	}
}

// expandString expands `${NAME}`; `$${` stands for a literal `${` and any
// other `$` is kept as is, so regexes ending in `$` need no escaping.
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
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
