package all_test

import (
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// TestCredentialErrorOrder checks that the credentials of the kinds the
// plugins declare are checked in the order they always were: key-auth,
// basic-auth, jwt, acls, nested before top-level. Kinds are checked in the
// plugin list's order, so reordering the list shows here.
func TestCredentialErrorOrder(t *testing.T) {
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	src := "_format_version: \"3.0\"\n" +
		"acls: [{group: g}]\njwt_secrets: [{key: j, secret: s}]\nbasicauth_credentials: [{username: u, password: p}]\nkeyauth_credentials: [{key: k}]\n" +
		"consumers: [{username: a, acls: [{}], jwt_secrets: [{}], basicauth_credentials: [{password: p}], keyauth_credentials: [{}]}]\n"
	_, err = config.Parse([]byte(src), config.Options{Credentials: snapshot.CredentialKinds(reg)})
	want := "consumers[0].keyauth_credentials[0].key: required field missing (line 6)\n" +
		"consumers[0].basicauth_credentials[0].username: required field missing (line 6)\n" +
		"consumers[0].jwt_secrets[0].key: required field missing (line 6)\n" +
		"consumers[0].acls[0].group: required field missing (line 6)\n" +
		"keyauth_credentials[0].consumer: required field missing (line 5)\n" +
		"basicauth_credentials[0].consumer: required field missing (line 4)\n" +
		"jwt_secrets[0].consumer: required field missing (line 3)\n" +
		"acls[0].consumer: required field missing (line 2)"
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}
