package admin

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

const credentialsConfig = `_format_version: "3.0"
consumers:
- username: alice
  tags: [team-a]
  keyauth_credentials:
  - key: alice-key
    ttl: 3600
    tags: [ci]
  basicauth_credentials:
  - username: alice
    password: s3cret
  jwt_secrets:
  - key: alice-iss
    secret: alice-hmac
  acls:
  - group: admins
    tags: [ci]
  - group: users
- id: 0b8f6a2e-5d1c-4f7a-9a3b-2c4d6e8f0a1b
  username: bob
keyauth_credentials:
- id: 7d1b2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e
  key: bob-key
  consumer: bob
acls:
- group: users
  consumer: {username: bob}
`

func TestAdminCredentials(t *testing.T) {
	f := newFixture(t, credentialsConfig, nil)
	snap := f.holder.Load()
	aliceID := config.ConsumerID(&config.Consumer{Username: "alice"})
	bobID := "0b8f6a2e-5d1c-4f7a-9a3b-2c4d6e8f0a1b"

	checks := []struct{ path, field, want string }{
		{"/key-auths", "key", "alice-key,bob-key"},
		{"/basic-auths", "username", "alice"},
		{"/jwts", "key", "alice-iss"},
		{"/acls", "group", "admins,users,users"},
		{"/consumers/alice/key-auth", "key", "alice-key"},
		{"/consumers/" + bobID + "/key-auth", "key", "bob-key"},
		{"/consumers/bob/basic-auth", "username", ""},
		{"/consumers/alice/jwt", "key", "alice-iss"},
		{"/consumers/alice/acls", "group", "admins,users"},
		{"/consumers/bob/acls", "group", "users"},
		{"/acls?tags=ci", "group", "admins"},
	}
	for _, c := range checks {
		body := f.get(c.path)
		if got := strings.Join(names(t, body, c.field), ","); got != c.want {
			t.Errorf("GET %s: %s = %q, want %q", c.path, c.field, got, c.want)
		}
	}

	// Ids are the ones the auth plugins see.
	ka, _ := snap.Directory.Credential("keyauth_credentials", "alice-key")
	key := f.get("/key-auths/" + ka.ID)
	if key["key"] != "alice-key" || key["ttl"] != float64(3600) || key["consumer"].(map[string]any)["id"] != aliceID ||
		fmt.Sprint(key["tags"]) != "[ci]" {
		t.Errorf("key-auth = %v", key)
	}
	if byKey := f.get("/key-auths/bob-key"); byKey["id"] != "7d1b2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e" || byKey["ttl"] != nil {
		t.Errorf("key-auth by key = %v", byKey)
	}
	ba, _ := snap.Directory.Credential("basicauth_credentials", "alice")
	basic := f.get("/basic-auths/" + ba.ID)
	hash, _ := basic["password"].(string)
	if basic["username"] != "alice" || bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil {
		t.Errorf("basic-auth = %v (want the bcrypt hash of the password)", basic)
	}
	jw, _ := snap.Directory.Credential("jwt_secrets", "alice-iss")
	jwt := f.get("/consumers/alice/jwt/" + jw.ID)
	if jwt["key"] != "alice-iss" || jwt["secret"] != "alice-hmac" || jwt["algorithm"] != "HS256" ||
		jwt["rsa_public_key"] != nil {
		t.Errorf("jwt = %v", jwt)
	}
	if byGroup := f.get("/consumers/bob/acls/users"); byGroup["consumer"].(map[string]any)["id"] != bobID {
		t.Errorf("acl by group = %v", byGroup)
	}
	aclID := config.KongID("acls", "acls:*:"+aliceID+":admins")
	if acl := f.get("/acls/" + aclID); acl["group"] != "admins" || acl["created_at"] == nil {
		t.Errorf("acl by id = %v", acl)
	}

	for _, p := range []string{
		"/key-auths/nope", "/acls/users", "/consumers/nobody/acls", "/consumers/bob/key-auth/alice-key",
		"/consumers/alice/jwt/nope",
	} {
		if code, _, _ := f.do(http.MethodGet, p, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}

	// Paging as for the other entities.
	page := f.get("/acls?size=2")
	if len(page["data"].([]any)) != 2 || page["next"] == nil || page["offset"] == nil {
		t.Fatalf("page 1 = %v", page)
	}
	if rest := f.get(page["next"].(string)); strings.Join(names(t, rest, "group"), ",") != "users" {
		t.Errorf("page 2 = %v", rest)
	}

	// Writes are refused as in Kong's DB-less mode.
	for _, w := range []struct{ method, path, kind string }{
		{http.MethodPost, "/key-auths", "keyauth_credentials"},
		{http.MethodDelete, "/basic-auths/alice", "basicauth_credentials"},
		{http.MethodPost, "/consumers/alice/jwt", "jwt_secrets"},
		{http.MethodPut, "/consumers/alice/acls/admins", "acls"},
	} {
		code, body, _ := f.do(w.method, w.path, `{}`)
		if code != http.StatusMethodNotAllowed || !strings.Contains(body["message"].(string), "'"+w.kind+"' entities") {
			t.Errorf("%s %s: %d %v", w.method, w.path, code, body)
		}
	}
}

// TestCredentialRouteClash checks that a credential kind whose endpoint a
// core route serves stops the admin API with an error naming the kind and
// the path, not with ServeMux's panic. (Two kinds sharing an endpoint are
// refused by plugin.NewRegistry.)
func TestCredentialRouteClash(t *testing.T) {
	for _, tt := range []struct {
		endpoint, consumerEndpoint, want string
	}{
		{"services", "fake", `credential kind "fakes": admin route /services: `},
		{"consumers", "fake", `credential kind "fakes": admin route /consumers: `},
		{"fakes", "plugins", `credential kind "fakes": admin route /consumers/{id}/plugins: `},
		{"fakes", "fake", ""},
	} {
		t.Run(tt.endpoint+","+tt.consumerEndpoint, func(t *testing.T) {
			kind := plugin.CredentialKind{Name: "fakes", Label: "fake", Endpoint: tt.endpoint, ConsumerEndpoint: tt.consumerEndpoint,
				New: func() any { return &struct{}{} }, Key: func(any) string { return "" },
				Check: func(any, plugin.CredentialCheck) bool { return true }}
			reg, err := plugin.NewRegistry(append(all.Registrations(), plugin.Registration{Name: "fake", Priority: 1,
				NewConfig: func() any { return &struct{}{} }, New: func(any, plugin.Env) (plugin.Instance, error) { return nil, nil },
				Credentials: []plugin.CredentialKind{kind}}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Handler(Source{Snapshot: &snapshot.Holder{}, Registry: reg})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

// TestCredentialsUnknownKind checks that rendering a snapshot with a
// credential kind the admin API's registry does not declare fails naming
// the credential and its kind, instead of dereferencing nil.
func TestCredentialsUnknownKind(t *testing.T) {
	f := newFixture(t, credentialsConfig, nil)
	t.Cleanup(f.loader.Close)
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `admin: credential consumers[0].keyauth_credentials[0] is of kind "keyauth_credentials", which the admin API's registry does not declare`
	defer func() {
		if got := recover(); got != want {
			t.Errorf("panic %v, want %s", got, want)
		}
	}()
	buildIndex(f.holder.Load(), reg, nil, 0)
}
