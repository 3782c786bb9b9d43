package config

import (
	"strconv"
	"strings"
)

// FieldError is one problem in a configuration, located by its field path
// (`services[0].routes[1].paths[0]`).
type FieldError struct {
	Path    string
	Message string
	// Line is the line of the offending value in the source document, or 0
	// when unknown (errors raised after decoding by code without the source).
	Line int
}

func (e FieldError) Error() string {
	msg := e.Message
	if e.Line > 0 {
		msg += " (line " + strconv.Itoa(e.Line) + ")"
	}
	if e.Path == "" {
		return msg
	}
	return e.Path + ": " + msg
}

// Errors is every problem found in one configuration. A config with errors
// is never applied.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Prefix returns the errors with prefix joined in front of each path.
func (es Errors) Prefix(prefix string) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = FieldError{Path: JoinPath(prefix, e.Path), Message: e.Message, Line: e.Line}
	}
	return out
}

// JoinPath joins a field path and a child ("a" + "b" = "a.b", "a" + "[0]" = "a[0]").
func JoinPath(prefix, child string) string {
	switch {
	case prefix == "":
		return child
	case child == "":
		return prefix
	case child[0] == '[':
		return prefix + child
	}
	return prefix + "." + child
}
