package config

import (
	"bytes"
	"strings"
)

// slashEscapes reads `\/` in double-quoted scalars as `/`, as YAML 1.2
// and libyaml (Kong's parser) do but go.yaml.in/yaml/v3 does not: after
// the parser refused data for an unknown escape, it gives data with each
// such `\/` written `/`, and true when there was one. Only double-quoted
// scalars are touched: a `"` opens one where a value may start (after
// `:`, `-`, `?`, `[`, `{`, `,` or at the start of a line), outside plain,
// single-quoted and comment text; a backslash escapes the next byte.
func slashEscapes(data []byte, err error) ([]byte, bool) {
	if !strings.Contains(err.Error(), "unknown escape character") || !bytes.Contains(data, []byte(`\/`)) {
		return nil, false
	}
	out := make([]byte, 0, len(data))
	changed := false
	const (
		plain = iota
		double
		single
		comment
	)
	state, valueStart := plain, true
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch state {
		case double:
			if c == '\\' && i+1 < len(data) {
				if data[i+1] == '/' {
					out = append(out, '/')
					changed = true
				} else {
					out = append(out, c, data[i+1])
				}
				i++
				continue
			}
			if c == '"' {
				state, valueStart = plain, false
			}
		case single:
			if c == '\'' {
				if i+1 < len(data) && data[i+1] == '\'' {
					out = append(out, c, c)
					i++
					continue
				}
				state, valueStart = plain, false
			}
		case comment:
			if c == '\n' {
				state, valueStart = plain, true
			}
		default:
			switch {
			case c == '\n':
				valueStart = true
			case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
				state = comment
			case c == '"' && valueStart:
				state = double
			case c == '\'' && valueStart:
				state = single
			case c == ':' || c == '-' || c == '?' || c == '[' || c == '{' || c == ',':
				valueStart = true
			case c != ' ' && c != '\t' && c != '\r':
				valueStart = false
			}
		}
		out = append(out, c)
	}
	return out, changed
}
