package importer

import (
	"fmt"
	"strings"
)

// Warning is one construct an importer could not map, or mapped only in
// part: the object (kind/namespace/name, or file:line and a path in the
// document), the field or annotation, and why.
type Warning struct {
	Object  string
	Field   string
	Message string
}

func (w Warning) String() string {
	var b strings.Builder
	b.WriteString(w.Object)
	if w.Field != "" {
		b.WriteString(": ")
		b.WriteString(w.Field)
	}
	b.WriteString(": ")
	b.WriteString(w.Message)
	return b.String()
}

// Warnings collects an import's warnings in the order found (importers
// visit their inputs in a sorted order, so that order is stable too).
type Warnings []Warning

// Add records a warning.
func (ws *Warnings) Add(object, field, format string, args ...any) {
	*ws = append(*ws, Warning{Object: object, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Strict is the error --strict gives for ws: nil when there are none.
func (ws Warnings) Strict() error {
	if len(ws) == 0 {
		return nil
	}
	return fmt.Errorf("%d warnings with --strict: nothing written", len(ws))
}
