package hmacauth

import (
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

func load(t *testing.T, src string, prev *snapshot.Directory) (*config.Model, *snapshot.Directory, error) {
	return credtest.Load(t, Registration(), src, time.Now(), prev)
}

// TestCredentialErrors checks the rules of an hmac-auth credential through
// the real loader: path and message.
func TestCredentialErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"top-level consumer missing", "hmacauth_credentials: [{username: u, secret: s}]", config.Errors{
			{Path: "hmacauth_credentials[0].consumer", Message: "required field missing"},
		}},
		{"username required", "consumers: [{username: a, hmacauth_credentials: [{secret: s}]}]", config.Errors{
			{Path: "consumers[0].hmacauth_credentials[0].username", Message: "required field missing"},
		}},
		{"username unique", "consumers: [{username: a, hmacauth_credentials: [{username: u}]}, {username: b}]\nhmacauth_credentials: [{username: u, consumer: b}]", config.Errors{
			{Path: "hmacauth_credentials[0].username", Message: "duplicate username 'u' (first defined at consumers[0].hmacauth_credentials[0])"},
		}},
		{"unknown field", "consumers: [{username: a, hmacauth_credentials: [{username: u, key: k}]}]", config.Errors{
			{Path: "consumers[0].hmacauth_credentials[0].key", Message: "unknown field"},
		}},
		{"accepted nested and top level", "consumers: [{username: a, hmacauth_credentials: [{username: u, secret: s}]}]\nhmacauth_credentials: [{username: v, secret: s, consumer: a}]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.src, nil)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialIndexed: a credential is found by its username, with Kong's
// id (derived from the username), its consumer and the secret as given.
func TestCredentialIndexed(t *testing.T) {
	m, d, err := load(t, "consumers: [{username: bob, hmacauth_credentials: [{username: bob, secret: secret}]}]", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("warnings %v", m.Warnings)
	}
	c, ok := d.Credential(kindName, "bob")
	if !ok {
		t.Fatal("not indexed")
	}
	if c.Kind != "hmac-auth" || c.Consumer == nil || c.Consumer.Username != "bob" || string(c.State.(*state).secret) != "secret" {
		t.Fatalf("credential %+v", c)
	}
	if c.ID == "" {
		t.Fatal("no id")
	}
}

// TestGeneratedSecretAcrossReloads: a credential without a secret gets 32
// random alphanumerics with a warning, kept by a reload while its consumer
// and username stay; shown by the admin API (Render).
func TestGeneratedSecretAcrossReloads(t *testing.T) {
	src := func(owner string) string {
		return "consumers: [{username: a}, {username: b}]\nhmacauth_credentials:\n- {username: u, consumer: " + owner + "}\n- {username: other, consumer: b}"
	}
	dir := func(src string, prev *snapshot.Directory) *snapshot.Directory {
		m, d, err := load(t, src, prev)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Warnings) != 2 || !strings.HasPrefix(m.Warnings[0].Message, "not set: a random secret is generated") {
			t.Fatalf("warnings %v", m.Warnings)
		}
		return d
	}
	secretOf := func(d *snapshot.Directory, user string) string {
		c, ok := d.Credential(kindName, user)
		if !ok {
			t.Fatalf("no credential %s", user)
		}
		return string(c.State.(*state).secret)
	}
	d1 := dir(src("a"), nil)
	s1 := secretOf(d1, "u")
	if len(s1) != 32 || strings.Trim(s1, secretAlphabet) != "" {
		t.Fatalf("generated secret %q", s1)
	}
	if secretOf(d1, "other") == s1 {
		t.Fatal("two credentials got the same secret")
	}
	d2 := dir(src("a"), d1)
	if s := secretOf(d2, "u"); s != s1 {
		t.Fatalf("reload: secret %q, want %q", s, s1)
	}
	if s := secretOf(dir(src("b"), d2), "u"); s == s1 {
		t.Fatal("the username moved to another consumer kept its secret")
	}
	c, _ := d2.Credential(kindName, "u")
	body := map[string]any{"secret": nil}
	credentialKind().Render(c, body)
	if body["secret"] != s1 {
		t.Fatalf("rendered %v", body)
	}
}
