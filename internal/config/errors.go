package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError is one problem in a configuration, located by its field path
// (`services[0].routes[1].paths[0]`).
type FieldError struct {
	Path    string
	Message string
	// Line is the line of the offending value in the source document, or 0
	// when unknown (errors raised after decoding by code without the source).
	Line int
	// More, on the last error of a list cut at MaxErrors, is how many
	// errors were left out (see Errors.Total).
	More int
	// First, on a duplicate (a key or id another entity had before), is
	// that entity's path; Message ends with a note naming it, from byte
	// Note on. Both are zero on other errors, and on a duplicate whose
	// message was shortened.
	First string
	Note  int
}

// Duplicate is the error at path for a key or id the entity at first had
// before: message, then a note naming first (whose id was derived, not
// written, when firstDerived).
func Duplicate(path, message, first string, firstDerived bool) FieldError {
	note := " (first defined at "
	if firstDerived {
		note = " (first derived for "
	}
	return FieldError{Path: path, Message: message + note + first + ")", First: first, Note: len(message)}
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

// Total counts the errors found: those listed, and those a list cut at
// MaxErrors left out.
func (es Errors) Total() int {
	if n := len(es); n > 0 && es[n-1].More > 0 {
		return n - 1 + es[n-1].More
	}
	return len(es)
}

// Prefix returns the errors with prefix joined in front of each path.
func (es Errors) Prefix(prefix string) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = e
		out[i].Path = JoinPath(prefix, e.Path)
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

// MaxErrors bounds the errors one configuration reports. A broken or
// hostile document can hold millions (an alias repeating a bad map, a
// list of thousands of bad entities); past the first thousand they only
// cost memory and bury the admin reply, the status page and the logs.
const MaxErrors = 1000

// maxKeyInPath, maxQuoted (a value quoted in a message) and maxMessage
// bound what a document can put in one error: a key or value kept whole
// would repeat its bytes in every error an alias repeats it in.
const (
	maxKeyInPath = 64
	maxQuoted    = 256
	maxMessage   = 1024
)

// ErrorList collects up to MaxErrors errors and counts the others.
type ErrorList struct {
	errs Errors
	more int
}

// Add adds e, its message shortened to a bounded length, or only counts it
// once the list is full.
func (l *ErrorList) Add(e FieldError) {
	if l.Full() {
		l.more++
		return
	}
	if short := Shorten(e.Message, maxMessage); short != e.Message {
		// The note naming the first place is cut.
		e.Message, e.First, e.Note = short, "", 0
	}
	l.errs = append(l.errs, e)
}

// AddAll adds every error of es, counting those a cut list left out.
func (l *ErrorList) AddAll(es Errors) {
	for _, e := range es {
		if e.More > 0 {
			l.more += e.More
			continue
		}
		l.Add(e)
	}
}

// Full reports whether further errors are only counted: callers skip
// the work of describing them.
func (l *ErrorList) Full() bool { return len(l.errs) >= MaxErrors }

// Len counts every error added, listed or not.
func (l *ErrorList) Len() int { return len(l.errs) + l.more }

// Errors returns the listed errors, followed by one saying how many more
// were found; nil when there were none.
func (l *ErrorList) Errors() Errors {
	if l.more == 0 {
		return l.errs
	}
	return append(l.errs[:len(l.errs):len(l.errs)], FieldError{
		Message: "and " + strconv.Itoa(l.more) + " more errors (only the first " + strconv.Itoa(MaxErrors) + " are listed)",
		More:    l.more,
	})
}

// KeyPath joins a map key from the document to a field path, shortened
// when long: keys are the document's to choose, and a path is copied into
// every error below it.
func KeyPath(prefix, key string) string {
	return JoinKey(prefix, Shorten(key, maxKeyInPath))
}

// JoinKey joins a map key to a field path, quoted (`a["b.c"]`) when it
// holds what a path's syntax uses: a key `x[9]` written as is would read
// as an index, and a reader of the path would build a list of that length.
func JoinKey(prefix, key string) string {
	if strings.ContainsAny(key, ".[]\"") || key == "" {
		return prefix + "[" + strconv.Quote(key) + "]"
	}
	return JoinPath(prefix, key)
}

// Shorten cuts s to about n bytes, on a character boundary, marking the
// cut with an ellipsis (3 bytes more).
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
