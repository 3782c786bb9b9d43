package config

import (
	"strings"
	"testing"
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
