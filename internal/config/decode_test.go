package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreLine leaves out of a comparison an error's line, and a
// duplicate's first place (TestDuplicatesNameTheirFirst checks those).
var ignoreLine = cmpopts.IgnoreFields(FieldError{}, "Line", "First", "Note")

// corsLike stands for a plugin's typed config.
type corsLike struct {
	Origins     []string            `yaml:"origins"`
	MaxAge      *int                `yaml:"max_age"`
	Credentials bool                `yaml:"credentials"`
	Methods     []string            `yaml:"methods"`
	Headers     map[string][]string `yaml:"headers"`
	Limits      limits              `yaml:"limits"`
	Nested      []limits            `yaml:"nested"`
	Ratio       float64             `yaml:"ratio"`
	Extra       any                 `yaml:"extra"`
}

func (c *corsLike) SetDefaults() { c.Methods = []string{"GET", "HEAD"} }

type limits struct {
	Minute int    `yaml:"minute"`
	Policy string `yaml:"policy"`
}

func (l *limits) SetDefaults() { l.Policy = "local" }

func intPtr(n int) *int { return &n }

func TestRawDecode(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		want     corsLike
		wantErrs Errors
	}{
		{
			name: "unset gives defaults",
			src:  "",
			want: corsLike{Methods: []string{"GET", "HEAD"}, Limits: limits{Policy: "local"}},
		},
		{
			name: "all fields",
			src: `
origins: [a.example, b.example]
max_age: 3600
credentials: true
methods: [POST]
headers: {X-A: [one, two]}
limits: {minute: 5}
nested: [{minute: 1}, {policy: redis}]
ratio: 2
extra: {k: [1, x]}
`,
			want: corsLike{
				Origins: []string{"a.example", "b.example"}, MaxAge: intPtr(3600), Credentials: true,
				Methods: []string{"POST"}, Headers: map[string][]string{"X-A": {"one", "two"}},
				Limits: limits{Minute: 5, Policy: "local"},
				Nested: []limits{{Minute: 1, Policy: "local"}, {Policy: "redis"}},
				Ratio:  2, Extra: map[string]any{"k": []any{int64(1), "x"}},
			},
		},
		{
			name: "integer written as float, null keeps default",
			src:  "max_age: 5.0\nmethods: null\nlimits: ~",
			want: corsLike{MaxAge: intPtr(5), Methods: []string{"GET", "HEAD"}, Limits: limits{Policy: "local"}},
		},
		{
			name: "unknown field and wrong types, all reported",
			src: `
origin: x
origins: a
max_age: 5.5
credentials: "yes"
headers: {X-A: [1]}
limits: [1]
nested: [{minute: x, bogus: 1}]
ratio: fast
`,
			want: corsLike{Methods: []string{"GET", "HEAD"}, Limits: limits{Policy: "local"},
				Headers: map[string][]string{"X-A": {""}},
				Nested:  []limits{{Policy: "local"}}},
			wantErrs: Errors{
				{Path: "plugins[0].config.origin", Message: "unknown field"},
				{Path: "plugins[0].config.origins", Message: "expected an array"},
				{Path: "plugins[0].config.max_age", Message: "expected an integer"},
				{Path: "plugins[0].config.credentials", Message: "expected a boolean"},
				{Path: "plugins[0].config.headers.X-A[0]", Message: "expected a string"},
				{Path: "plugins[0].config.limits", Message: "expected a map"},
				{Path: "plugins[0].config.nested[0].minute", Message: "expected an integer"},
				{Path: "plugins[0].config.nested[0].bogus", Message: "unknown field"},
				{Path: "plugins[0].config.ratio", Message: "expected a number"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := ParseRaw([]byte(tt.src), "plugins[0].config")
			if err != nil {
				t.Fatal(err)
			}
			var got corsLike
			errs := raw.Decode(&got)
			if diff := cmp.Diff(tt.wantErrs, errs, ignoreLine, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRawFromConfig(t *testing.T) {
	src := `_format_version: "3.0"
services:
  - name: s
    host: example.com
    plugins:
      - name: cors
      - name: rate-limiting
        config:
          minute: 10
          policy: 7
`
	m, err := Parse([]byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Plugins[0].Plugin.Config.IsSet() {
		t.Error("config of plugins[0] should be unset")
	}
	raw := m.Plugins[1].Plugin.Config
	if got, want := raw.Path(), "services[0].plugins[1].config"; got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	if got, want := raw.Line(), 9; got != want {
		t.Errorf("Line() = %d, want %d", got, want)
	}
	var l limits
	errs := raw.Decode(&l)
	want := Errors{{Path: "services[0].plugins[1].config.policy", Message: "expected a string", Line: 10}}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if got, want := errs.Error(), "services[0].plugins[1].config.policy: expected a string (line 10)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if diff := cmp.Diff(map[string]any{"minute": int64(10), "policy": int64(7)}, raw.Value()); diff != "" {
		t.Errorf("Value() (-want +got):\n%s", diff)
	}
	if err := raw.Decode(l); err == nil {
		t.Error("Decode into a non-pointer should fail")
	}
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"UPSTREAM": "backend.internal", "PORT": "9000", "WEIRD": "a: b # {c}"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name     string
		src      string
		wantHost string
		wantTag  string
		wantErrs Errors
	}{
		{
			name:     "set",
			src:      "url: http://${UPSTREAM}:${PORT}/x\n    tags: [t]",
			wantHost: "backend.internal",
			wantTag:  "t",
		},
		{
			name:     "value with YAML-special characters is literal",
			src:      "host: h\n    tags: [\"${WEIRD}\"]",
			wantHost: "h",
			wantTag:  "a: b # {c}",
		},
		{
			name:     "escaped",
			src:      "host: h\n    tags: [\"$${UPSTREAM}-$HOME\"]",
			wantHost: "h",
			wantTag:  "${UPSTREAM}-$HOME",
		},
		{
			name: "unset and malformed",
			src:  "host: ${NOPE}\n    tags: [\"${UPSTREAM\", \"${1X}\"]",
			wantErrs: Errors{
				{Path: "services[0].host", Message: "environment variable NOPE is not set"},
				{Path: "services[0].tags[0]", Message: `unterminated ${ in "${UPSTREAM"`},
				{Path: "services[0].tags[1]", Message: `invalid environment variable name "1X"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "_format_version: \"3.0\"\n_comment: \"${NOT_EXPANDED}\"\nservices:\n  - " + tt.src + "\n"
			m, err := Parse([]byte(src), Options{ExpandEnv: true, LookupEnv: lookup})
			if diff := cmp.Diff(tt.wantErrs, asErrors(t, err), ignoreLine); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			s := m.Services[0].Service
			if s.Host != tt.wantHost || s.Tags[0] != tt.wantTag {
				t.Errorf("host %q tag %q, want %q %q", s.Host, s.Tags[0], tt.wantHost, tt.wantTag)
			}
		})
	}
}

func TestEnvTypedScalars(t *testing.T) {
	env := map[string]string{"PORT": "9000", "VERIFY": "true", "RATIO": "0.5", "BAD": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src := `_format_version: "3.0"
services:
  - host: h
    protocol: https
    port: ${PORT}
    tls_verify: ${VERIFY}
    retries: "7"
upstreams:
  - name: u
    healthchecks: {threshold: "${RATIO}", active: {concurrency: "${BAD}"}}
`
	_, err := Parse([]byte(src), Options{ExpandEnv: true, LookupEnv: lookup})
	// Only substituted strings may stand for numbers: a quoted "7" stays a
	// string, as in Kong. An error about a substituted string names it as
	// written instead of saying what is wrong with the value.
	want := Errors{
		{Path: "services[0].retries", Message: "expected an integer"},
		{Path: "upstreams[0].healthchecks.active.concurrency", Message: "invalid value (from ${BAD})"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
	m, err := Parse([]byte(strings.NewReplacer(`    retries: "7"`+"\n", "", `"${BAD}"`, "3").Replace(src)), Options{ExpandEnv: true, LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	s, u := m.Services[0].Service, m.Upstreams[0].Upstream
	if s.Port != 9000 || s.TLSVerify == nil || !*s.TLSVerify || u.Healthchecks.Threshold != 0.5 {
		t.Errorf("port %d tls_verify %v threshold %v", s.Port, s.TLSVerify, u.Healthchecks.Threshold)
	}
}

func TestRefForms(t *testing.T) {
	src := `_format_version: "3.0"
services: [{name: s, host: h}]
routes:
  - {paths: [/a], service: s}
  - {paths: [/b], service: {name: s}}
  - {paths: [/c], service: 5}
  - {paths: [/d], service: {nme: s}}
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{
		{Path: "routes[2].service", Message: "expected a string or a map"},
		{Path: "routes[3].service.nme", Message: "unknown field"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestDefaultLookupEnv(t *testing.T) {
	t.Setenv("TURNPIKE_TEST_HOST", "from-env")
	m, err := Parse([]byte("_format_version: \"3.0\"\nservices: [{host: \"${TURNPIKE_TEST_HOST}\"}]"), Options{ExpandEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Services[0].Service.Host; got != "from-env" {
		t.Errorf("host = %q", got)
	}
}

func TestYAMLFeatures(t *testing.T) {
	src := `_format_version: "3.0"
x-defaults: &defaults
  retries: 2
services:
  - <<: *defaults
    name: s
    host: h
    port: !!int "8080"
    tags: [!!str 123, !!str yes]
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{{Path: "x-defaults", Message: "unknown field", Line: 2}}
	if diff := cmp.Diff(want, asErrors(t, err)); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
	// Unknown keys are rejected, but anchors may live in `_ignore`, a list.
	m, err := Parse([]byte(strings.Replace(src, "x-defaults: &defaults\n  retries: 2", "_ignore:\n- &defaults\n  retries: 2", 1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.Services[0].Service
	if s.Retries != 2 || s.Port != 8080 || !cmp.Equal(s.Tags, []string{"123", "yes"}) {
		t.Errorf("got retries %d port %d tags %q", s.Retries, s.Port, s.Tags)
	}
}

func asErrors(t *testing.T, err error) Errors {
	t.Helper()
	if err == nil {
		return nil
	}
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	return errs
}

// `\/` in a double-quoted YAML scalar is `/`, as in YAML 1.2 and libyaml
// (Kong's parser): JSON-minded files write URLs and regex paths that way.
// Elsewhere a backslash stays what it is.
func TestSlashEscapeInDoubleQuotes(t *testing.T) {
	doc := "_format_version: \"3.0\"\n# a comment with \"quotes\\/\n" +
		"services:\n- name: s\n  url: \"http:\\/\\/127.0.0.1:9\\/api\"\n  routes:\n  - name: r\n" +
		"    paths: [\"~\\/users\\/[0-9]+$\", '/x\\/y']\n    tags: [plain\\/text, \"a\\\\/b\"]\n"
	m, err := Parse([]byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.Services[0].Service
	if s.Host != "127.0.0.1" || s.Path != "/api" {
		t.Errorf("service %s %s", s.Host, s.Path)
	}
	r := m.Routes[0].Route
	if diff := cmp.Diff([]string{"~/users/[0-9]+$", `/x\/y`}, r.Paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`plain\/text`, `a\/b`}, r.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := Parse([]byte("_format_version: \"3.0\"\n_comment: \"a\\qb\"\n"), Options{}); err == nil || !strings.Contains(err.Error(), "unknown escape") {
		t.Errorf("another unknown escape: %v", err)
	}
}

// A JSON document with a syntax error is reported at the line where the
// JSON tokenizer stopped, not where the YAML parser, which it falls back
// to, gave up.
func TestJSONSyntaxErrorLine(t *testing.T) {
	doc := "{\n  \"_format_version\": \"3.0\",\n  \"services\": [\n    {\"name\": \"a\", \"url\": \"http://a:1\"}\n" +
		"    {\"name\": \"b\", \"url\": \"http://b:1\"}\n  ]\n}\n"
	_, err := Parse([]byte(doc), Options{})
	if err == nil || !strings.Contains(err.Error(), "line 5: invalid JSON") {
		t.Fatalf("err %v, want line 5: invalid JSON", err)
	}
	// Flow YAML that neither reads keeps the YAML parser's error.
	_, err = Parse([]byte("{a: [1, }"), Options{})
	if err == nil || strings.Contains(err.Error(), "invalid JSON") {
		t.Fatalf("flow YAML: %v", err)
	}
}
