package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var vaultEnv = map[string]string{
	"MY_SECRET":          "s3cret",
	"MY_SECRET_PREVIOUS": "old",
	"SECRET_DB_PASS":     "from-vault-prefix",
	"SSL_KEY":            "from-query-prefix",
	"CREDS":              `{"password":"p@ss","port":5432}`,
	"A/B":                "directory",
	"EMPTY":              "",
	"NOT_JSON":           "plain",
	"API_URL":            "http://api.internal:8080/v1",
	"BAD_URL":            "not a url hunter2",
}

func vaultLookup(k string) (string, bool) { v, ok := vaultEnv[k]; return v, ok }

// parseTags parses a document whose only service carries tags, the
// strings under test, and returns the tags as loaded.
func parseTags(t *testing.T, tags string, opts Options) ([]string, error) {
	t.Helper()
	src := `_format_version: "3.0"
vaults:
- {name: env, prefix: my-env, config: {prefix: SECRET_}}
services:
- host: h
  tags: ` + tags + "\n"
	if opts.LookupEnv == nil {
		opts.LookupEnv = vaultLookup
	}
	m, err := Parse([]byte(src), opts)
	if err != nil {
		return nil, err
	}
	return m.Services[0].Service.Tags, nil
}

func TestVaultReferences(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"env vault, name mangled", `{vault://env/my-secret}`, "s3cret"},
		{"vault entity prefix and its config prefix", `{vault://my-env/db-pass}`, "from-vault-prefix"},
		{"prefix in the query", `{vault://env/key?prefix=ssl_}`, "from-query-prefix"},
		{"key into a JSON value", `{vault://env/creds/password}`, "p@ss"},
		{"trailing slash: the whole path is the resource", `{vault://env/a/b/}`, "directory"},
		{"version 2 is the previous value", `{vault://env/my-secret#2}`, "old"},
		{"version 1 is the value", `{vault://env/my-secret#1}`, "s3cret"},
		{"set but empty", `{vault://env/empty}`, ""},
		{"not a whole string: text", `x{vault://env/my-secret}`, "x{vault://env/my-secret}"},
		{"not closed: text", `{vault://env/my-secret`, "{vault://env/my-secret"},
		{"${...} is text without --expand-env", `/api/movies/${id}`, "/api/movies/${id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTags(t, `["`+tt.in+`"]`, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != tt.want {
				t.Errorf("%s: got %q, want %q", tt.in, got[0], tt.want)
			}
		})
	}
}

func TestExpandEnvOptIn(t *testing.T) {
	got, err := parseTags(t, `["${MY_SECRET}", "$${MY_SECRET}", "{vault://env/my-secret}"]`, Options{ExpandEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"s3cret", "${MY_SECRET}", "s3cret"}; !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A value from the environment is never read again as a reference or
	// as ${...}.
	env := map[string]string{"A": "${B}", "B": "x", "C": "{vault://env/b}"}
	got, err = parseTags(t, `["${A}", "${C}", "{vault://env/a}"]`, Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"${B}", "{vault://env/b}", "${B}"}; !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestVaultReferenceErrors(t *testing.T) {
	_, err := parseTags(t, `["{vault://env/nope}", "{vault://aws/x}", "{vault://env/}", "{vault://env/x#two}",
    "{vault://env/creds/user}", "{vault://env/creds/port}", "{vault://env/not-json/k}", "{vault://env/x?prefix=a.b}",
    "{vault://other-env/my-secret}"]`, Options{})
	want := Errors{
		{Path: "services[0].tags[0]", Message: "unable to resolve reference {vault://env/nope} (environment variable NOPE is not set)"},
		{Path: "services[0].tags[1]", Message: "unable to resolve reference {vault://aws/x} (could not find vault (aws))"},
		{Path: "services[0].tags[2]", Message: "unable to resolve reference {vault://env/} (reference url has empty path)"},
		{Path: "services[0].tags[3]", Message: "unable to resolve reference {vault://env/x#two} (reference url has invalid version)"},
		{Path: "services[0].tags[4]", Message: "unable to resolve reference {vault://env/creds/user} (could not get subfield value: subfield user not found in JSON secret)"},
		{Path: "services[0].tags[5]", Message: "unable to resolve reference {vault://env/creds/port} (could not get subfield value: unexpected number value in JSON secret for subfield port)"},
		{Path: "services[0].tags[6]", Message: "unable to resolve reference {vault://env/not-json/k} (could not get subfield value: environment variable NOT_JSON is not a JSON object)"},
		{Path: "services[0].tags[7]", Message: "unable to resolve reference {vault://env/x?prefix=a.b} (invalid value for prefix: a.b)"},
		{Path: "services[0].tags[8]", Message: "unable to resolve reference {vault://other-env/my-secret} (could not find vault (other-env))"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestVaultEntities(t *testing.T) {
	src := `_format_version: "3.0"
vaults:
- {name: env, prefix: aba, config: {prefix: BANANA_}, description: Banana vault, tags: ~}
- {name: env, prefix: aba}
- {name: hcv, prefix: hashi}
- {name: env, prefix: env}
- {name: env, prefix: Bad_Prefix}
- {name: env, prefix: ok, config: {prefix: "a.b", other: 1}}
- {prefix: x1}
`
	_, err := Parse([]byte(src), Options{LookupEnv: vaultLookup})
	want := Errors{
		{Path: "vaults[1].prefix", Message: "duplicate prefix 'aba' (first defined at vaults[0])"},
		{Path: "vaults[2].name", Message: "vault 'hcv' is not installed"},
		{Path: "vaults[3].prefix", Message: "must not be one of: env"},
		{Path: "vaults[4].prefix", Message: "invalid value: Bad_Prefix"},
		{Path: "vaults[5].config.other", Message: "unknown field"},
		{Path: "vaults[5].config.prefix", Message: "invalid value: a.b"},
		{Path: "vaults[6].name", Message: "required field missing"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// Values from the environment never appear in errors: the field is shown
// as written.
func TestEnvValuesNotInErrors(t *testing.T) {
	src := `_format_version: "3.0"
services:
- name: a
  url: "{vault://env/bad-url}"
- name: b
  url: "${BAD_URL}/x"
`
	_, err := Parse([]byte(src), Options{ExpandEnv: true, LookupEnv: vaultLookup})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the value is in the error:\n%s", msg)
	}
	for _, want := range []string{"services[0].url: invalid value (from {vault://env/bad-url})", "services[1].url: invalid value (from ${BAD_URL}/x)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// The admin API shows a plugin's config with its references as written.
func TestDecodeWrittenKeepsReferences(t *testing.T) {
	src := `_format_version: "3.0"
plugins:
- name: rate-limiting
  config: {redis: {password: "{vault://env/my-secret}", host: "{vault://env/api-url}"}}
`
	m, err := Parse([]byte(src), Options{LookupEnv: vaultLookup})
	if err != nil {
		t.Fatal(err)
	}
	type redis struct {
		Password string `yaml:"password"`
		Host     string `yaml:"host"`
	}
	var cfg, shown struct {
		Redis redis `yaml:"redis"`
	}
	raw := m.Plugins[0].Plugin.Config
	if errs := raw.Decode(&cfg); errs != nil || cfg.Redis.Password != "s3cret" || cfg.Redis.Host != "http://api.internal:8080/v1" {
		t.Errorf("decoded %+v %v", cfg, errs)
	}
	if errs := raw.DecodeWritten(&shown); errs != nil || shown.Redis.Password != "{vault://env/my-secret}" {
		t.Errorf("shown %+v %v", shown, errs)
	}
}

func TestUnquotedReferenceHint(t *testing.T) {
	_, err := parseTags(t, "[{vault://env/my-secret}]", Options{})
	want := Errors{{Path: "services[0].tags[0]", Message: `expected a string; quote a vault reference: "{vault://env/my-secret}"`}}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestVaultBounds(t *testing.T) {
	long := "{vault://env/" + strings.Repeat("a", maxVaultRef) + "}"
	_, err := parseTags(t, `["`+long+`"]`, Options{})
	if err == nil || !strings.Contains(err.Error(), "reference longer than 512 bytes") {
		t.Errorf("long reference: %v", err)
	}
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i <= MaxVaultRefs; i++ {
		sb.WriteString(`"{vault://env/my-secret}",`)
	}
	sb.WriteString("]")
	_, err = parseTags(t, sb.String(), Options{})
	es := asErrors(t, err)
	if len(es) != 1 || es[0].Path != "services[0].tags[10000]" || !strings.Contains(es[0].Message, "more than 10000 vault references") {
		t.Errorf("errors: %v", es)
	}
}
