package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func redactionOf(fields []written, secrets map[string]string) *redaction {
	return newRedaction(&envSubst{fields: fields, secrets: secrets})
}

// A message about another field has each value from the environment
// replaced by its text: longest first, a short value only where it is a
// word, the start of a value cut by an ellipsis too, and never inside the
// text put in for another value.
func TestRedactionHide(t *testing.T) {
	r := redactionOf(nil, map[string]string{
		"x":             "{vault://env/x}",
		"env":           "{vault://env/e}",
		"secretvalue":   "{vault://env/s}",
		"secretvalue-2": "${S2}",
	})
	for msg, want := range map[string]string{
		"expected x, got 'x' in text":                 "expected {vault://env/x}, got '{vault://env/x}' in text",
		"route 'secretvalue-2' and 'api-secretvalue'": "route '${S2}' and 'api-{vault://env/s}'",
		"duplicate name 'prefixsecretvalue-…'":        "duplicate name 'prefix${S2}…'",
		"the env vault":                               "the {vault://env/e} vault",
		"nothing here":                                "nothing here",
	} {
		if got := r.hide(msg); got != want {
			t.Errorf("hide(%q) = %q, want %q", msg, got, want)
		}
	}
}

// Errors at a field from the environment, or below it, are replaced
// whole; the field is found whichever alias path it was reached by.
func TestRedactionFields(t *testing.T) {
	src := `_format_version: "3.0"
services:
- name: s1
  url: &u "{vault://env/u}"
  tags: &t ["${TAG}"]
- name: s2
  url: *u
  tags: *t
`
	env := map[string]string{"U": "http://bad host/", "TAG": "t"}
	_, err := Parse([]byte(src), Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err == nil {
		t.Fatal("accepted")
	}
	if msg := err.Error(); strings.Contains(msg, "bad host") ||
		!strings.Contains(msg, "services[1].url: invalid value (from {vault://env/u})") {
		t.Errorf("errors:\n%s", msg)
	}
	r := redactionOf([]written{{path: "a.b", text: "{vault://env/b}"}}, map[string]string{"v": "{vault://env/b}"})
	es := r.apply(Errors{{Path: "a.b[0]", Message: "bad v"}, {Path: "a.bc", Message: "bad v"}, {Path: "a", Message: "bad v"}}, warningText)
	for i, want := range []string{"value to check (from {vault://env/b})", "bad {vault://env/b}", "bad {vault://env/b}"} {
		if es[i].Message != want {
			t.Errorf("%s: %q, want %q", es[i].Path, es[i].Message, want)
		}
	}
}

// Expansion stops at MaxExpanded bytes per document, with one error at the
// field that reached it; `$${` and other `$` are kept as before.
func TestRedactExpandBound(t *testing.T) {
	big := strings.Repeat("x", MaxExpanded/2+1)
	env := map[string]string{"BIG": big, "S": "v"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src := `_format_version: "3.0"
services:
- name: s
  url: http://h
  tags: ["${BIG}", "${BIG}", "${BIG}", "${S}$${S}$ $"]
`
	_, err := Parse([]byte(src), Options{ExpandEnv: true, LookupEnv: lookup})
	want := Errors{{Path: "services[0].tags[1]", Message: "expanding ${BIG} would take the document's expanded strings past 64 MiB (--expand-env)"}}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	m, err := Parse([]byte(strings.Replace(src, `"${BIG}", "${BIG}", "${BIG}", `, "", 1)), Options{ExpandEnv: true, LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Services[0].Service.Tags[0]; got != "v${S}$ $" {
		t.Errorf("tag %q", got)
	}
}
