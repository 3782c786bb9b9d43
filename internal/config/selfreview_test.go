package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNestedSNIIDAndVaultComment: a nested sni's id is a UUID like every
// other id, and a vault takes _comment like every other entity.
func TestNestedSNIIDAndVaultComment(t *testing.T) {
	cert, key := testPEM(t, false)
	src := `_format_version: "3.0"
vaults:
- name: env
  prefix: my-env
  _comment: secrets from the environment
certificates:
- cert: ` + strconv.Quote(cert) + `
  key: ` + strconv.Quote(key) + `
  snis: [{name: a.example.com, id: not-a-uuid}]
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{{Path: "certificates[0].snis[0].id", Message: "expected a valid UUID"}}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
}
