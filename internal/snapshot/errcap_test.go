package snapshot

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
)

// Compiling lists at most config.MaxErrors errors too, then counts the
// others.
func TestCompileErrorsCapped(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("_format_version: \"3.0\"\nservices:\n- name: s\n  host: h\n  routes:\n")
	for i := range 1500 {
		fmt.Fprintf(&sb, "  - {paths: [/%d], plugins: [{name: nope}]}\n", i)
	}
	_, err := compile(t, sb.String())
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != config.MaxErrors+1 {
		t.Fatalf("%d errors listed, want %d and a count", len(errs), config.MaxErrors)
	}
	if !strings.Contains(errs[0].Message, "plugin 'nope' is not available") {
		t.Errorf("first error %v", errs[0])
	}
	if got, want := errs[config.MaxErrors].Message, "and 500 more errors (only the first 1000 are listed)"; got != want {
		t.Errorf("last error %q, want %q", got, want)
	}
}
