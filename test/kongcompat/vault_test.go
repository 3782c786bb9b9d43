package kongcompat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// vaultCase is a reference from Kong's vault specs and the value Kong's
// env vault gives it; env is the environment the spec sets.
type vaultCase struct {
	source string
	ref    string
	env    []string
	want   string
}

var vaultCases = []vaultCase{
	{source: `spec/02-integration/13-vaults/02-env_vault_spec.lua: "get text"`,
		ref: "{vault://env/test_env}", env: []string{"TEST_ENV=test"}, want: "test"},
	{source: `spec/02-integration/13-vaults/02-env_vault_spec.lua: "get text with prefix (underscore)"`,
		ref: "{vault://env/env?prefix=test_}", env: []string{"TEST_ENV=test"}, want: "test"},
	{source: `spec/02-integration/13-vaults/02-env_vault_spec.lua: "get text with prefix (dash)"`,
		ref: "{vault://env/env?prefix=test-}", env: []string{"TEST_ENV=test"}, want: "test"},
	{source: `spec/02-integration/13-vaults/02-env_vault_spec.lua: "get json"`,
		ref: "{vault://env/test_env_json/username}", env: []string{`TEST_ENV_JSON={"username":"user", "password":"pass"}`}, want: "user"},
	{source: `spec/02-integration/13-vaults/02-env_vault_spec.lua: "get json"`,
		ref: "{vault://env/test_env_json/password}", env: []string{`TEST_ENV_JSON={"username":"user", "password":"pass"}`}, want: "pass"},
	{source: `spec/01-unit/23-vaults_spec.lua: "test init nested/path"`,
		ref: "{vault://env/test-secret/test-key}", env: []string{`TEST_SECRET={"test-key":"nested"}`}, want: "nested"},
	{source: `spec/01-unit/23-vaults_spec.lua: "test init nested/path is url decoded"`,
		ref: "{vault://env/test%3Asecret/test%3Akey}", env: []string{`TEST:SECRET={"test:key":"decoded"}`}, want: "decoded"},
	{source: `spec/01-unit/23-vaults_spec.lua: "test init nested/path ignores consecutive slashes"`,
		ref: "{vault://env//////test-secret//////test-key}", env: []string{`TEST_SECRET={"test-key":"nested"}`}, want: "nested"},
	{source: `spec/01-unit/23-vaults_spec.lua: "test init nested/path ending with slash"`,
		ref: "{vault://env/test-secret/test-key/}", env: []string{"TEST_SECRET/TEST_KEY=whole-path"}, want: "whole-path"},
	{source: `spec/01-unit/23-vaults_spec.lua: "test init version"`,
		ref: "{vault://env/test#1}", env: []string{"TEST=first"}, want: "first"},
	{source: `kong/vaults/env/init.lua (version 2 reads <NAME>_PREVIOUS)`,
		ref: "{vault://env/test#2}", env: []string{"TEST=first", "TEST_PREVIOUS=previous"}, want: "previous"},
	{source: `spec/01-unit/01-db/01-schema/11-declarative_config/01-validate_spec.lua: "accepts vaults (underscore)"`,
		ref: "{vault://aba/secret}", env: []string{"BANANA_SECRET=banana"}, want: "banana"},
	{source: `spec/01-unit/01-db/01-schema/11-declarative_config/01-validate_spec.lua: "accepts vaults (dash)"`,
		ref: "{vault://abd/secret}", env: []string{"BANANA_SECRET=banana"}, want: "banana"},
}

// TestVaultEnvResolution replays the references of Kong's env vault specs
// through the running gateway: each is the message of a request-termination
// route, so the answer shows what the reference resolved to.
func TestVaultEnvResolution(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString(`_format_version: "3.0"
vaults:
- {name: env, prefix: aba, config: {prefix: BANANA_}}
- {name: env, prefix: abd, config: {prefix: BANANA-}}
routes:
`)
	env := map[string]bool{}
	var environ []string
	for i, c := range vaultCases {
		fmt.Fprintf(&cfg, "- paths: [/case%d]\n  plugins:\n  - name: request-termination\n    config: {status_code: 200, message: %q}\n", i, c.ref)
		for _, e := range c.env {
			if !env[e] {
				env[e] = true
				environ = append(environ, e)
			}
		}
	}
	gw := gwtest.Start(t, cfg.String(), gwtest.Options{Env: environ})
	for i, c := range vaultCases {
		resp, body := gw.Get(fmt.Sprintf("/case%d", i))
		var got struct{ Message string }
		if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || got.Message != c.want {
			t.Errorf("%s (source Kong/kong %s): %d %s, want %q", c.ref, c.source, resp.StatusCode, body, c.want)
		}
	}
}

// TestVaultUnresolvable: Kong loads a reference it cannot resolve as an
// empty string and logs a warning; Turnpike refuses the configuration
// with the field path and Kong's reason (docs/secrets.md).
func TestVaultUnresolvable(t *testing.T) {
	cases := []struct{ source, ref, want string }{
		{`spec/02-integration/13-vaults/02-env_vault_spec.lua: "get undefined"`,
			"{vault://env/test_env_na}", "environment variable TEST_ENV_NA is not set"},
		{`spec/01-unit/23-vaults_spec.lua: "test init path with only slashes does not work"`,
			"{vault://env}", "reference url is missing path"},
		{`spec/01-unit/23-vaults_spec.lua: "test init path with only slashes does not work"`,
			"{vault://env/}", "reference url has empty path"},
		{`spec/01-unit/23-vaults_spec.lua: "test init path with only slashes does not work"`,
			"{vault://env/////}", "reference url has invalid path"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "kong.yml")
		doc := fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- host: example.com\n  tags: [%q]\n", c.ref)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := validate(t, path)
		want := "services[0].tags[0]: unable to resolve reference " + c.ref + " (" + c.want + ")"
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s (source Kong/kong %s): %v\n%s\nwant %q", c.ref, c.source, err, out, want)
		}
	}
}
