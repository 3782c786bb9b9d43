package basicauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// load parses src with basic-auth's credential kind declared, as the
// gateway does, and indexes it.
func load(t *testing.T, src string) (*config.Model, *snapshot.Directory, error) {
	return credtest.Load(t, Registration(), src, time.Now(), nil)
}

// TestCredentialErrors checks every rule of a basic-auth credential, with
// the fields all credentials have, through the real loader: path and
// message.
func TestCredentialErrors(t *testing.T) {
	pre := hash(t, "pw")
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	long := strings.Repeat("u", 300)
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"top-level consumer missing", "basicauth_credentials: [{username: u, password: p}]", config.Errors{
			{Path: "basicauth_credentials[0].consumer", Message: "required field missing"},
		}},
		{"dangling consumer", "consumers: [{username: alice}]\nbasicauth_credentials: [{username: u, password: p, consumer: {id: " + uuid1 + "}}]", config.Errors{
			{Path: "basicauth_credentials[0].consumer", Message: "consumer '" + uuid1 + "' not found"},
		}},
		{"bad id", "consumers: [{username: a, basicauth_credentials: [{id: x, username: u, password: p}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].id", Message: "expected a valid UUID"},
		}},
		{"a written id taken by a derived one", "consumers: [{username: alice, basicauth_credentials: [{username: bob, password: pw}]}, " +
			"{custom_id: c3, basicauth_credentials: [{username: carol, password: pw, id: c32b532d-e1e7-5040-b7d6-c426e350866b}]}]", config.Errors{
			{Path: "consumers[1].basicauth_credentials[0].id", Message: "duplicate id 'c32b532d-e1e7-5040-b7d6-c426e350866b' (first derived for consumers[0].basicauth_credentials[0])"},
		}},
		{"required fields", "consumers: [{username: a, basicauth_credentials: [{}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].username", Message: "required field missing"},
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "required field missing"},
		}},
		{"username unique", "consumers: [{username: a, basicauth_credentials: [{username: u, password: p}]}, {username: b, basicauth_credentials: [{username: u, password: q}]}]", config.Errors{
			{Path: "consumers[1].basicauth_credentials[0].username", Message: "duplicate username 'u' (first defined at consumers[0].basicauth_credentials[0])"},
		}},
		{"long username shortened in the duplicate message", "consumers: [{username: a, basicauth_credentials: [{username: " + long + ", password: p}, {username: " + long + ", password: q}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[1].username", Message: "duplicate username '" + long[:256] + "…' (first defined at consumers[0].basicauth_credentials[0])"},
		}},
		{"a refused credential's username is still taken", "consumers: [{username: a, basicauth_credentials: [{username: u, password: " + strings.Repeat("x", 73) + "}]}]\nbasicauth_credentials: [{username: u, password: p, consumer: a}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "length must be at most 72 bytes (bcrypt's limit)"},
			{Path: "basicauth_credentials[0].username", Message: "duplicate username 'u' (first defined at consumers[0].basicauth_credentials[0])"},
		}},
		{"bad hash", "consumers: [{username: a, basicauth_credentials: [{username: u, password: '$2b$10$short'}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "invalid bcrypt hash: crypto/bcrypt: hashedSecret too short to be a bcrypted password"},
		}},
		{"bcrypt cost above the bound", "consumers: [{username: a, basicauth_credentials: [{username: u, password: '$2b$15$" + strings.Repeat("a", 53) + "'}, {username: v, password: '$2b$14$" + strings.Repeat("a", 53) + "'}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "bcrypt cost 15 is above 14: every wrong password would cost a request that much CPU"},
		}},
		{"password too long", "consumers: [{username: a, basicauth_credentials: [{username: u, password: " + strings.Repeat("x", 73) + "}]}]", config.Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "length must be at most 72 bytes (bcrypt's limit)"},
		}},
		{"pre-hashed accepted", "consumers: [{username: a, basicauth_credentials: [{username: u, password: '" + pre + "'}]}]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.src)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialModel checks what a valid file gives: resolved consumers,
// order (nested first), plain passwords hashed at bcrypt's default cost,
// pre-hashed ones kept, Kong's ids, the directory's lookups by username
// and the admin body's hash.
func TestCredentialModel(t *testing.T) {
	prehashed := hash(t, "given")
	m, d, err := load(t, `consumers:
  - username: alice
    custom_id: A1
    basicauth_credentials:
      - {username: alice, password: plain-pw, tags: [t2]}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
basicauth_credentials:
  - {username: bob, password: '`+prehashed+`', consumer: {id: 22222222-2222-4222-8222-222222222222}}
  - {username: alice-basic, password: secret, consumer: alice}`)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := m.Consumers[0], m.Consumers[1]
	if n := len(m.Credentials); n != 3 {
		t.Fatalf("%d basic-auth credentials", n)
	}
	ba, f := m.Credentials[0], m.Credentials[0].Fields.(*Credential)
	if ba.Consumer != alice || ba.Path != "consumers[0].basicauth_credentials[0]" || f.Username != "alice" {
		t.Errorf("basic-auth[0] = %+v, %+v", ba, f)
	}
	if cost, err := bcrypt.Cost([]byte(f.hash)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("plain password hashed at cost %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(f.hash), []byte("plain-pw")) != nil {
		t.Error("hash does not match the plain password")
	}
	if bb := m.Credentials[1]; bb.Consumer != bob || bb.Fields.(*Credential).hash != prehashed {
		t.Errorf("pre-hashed password not kept: %+v", bb)
	}
	if !strings.Contains(m.Summary(), "2 consumers, 3 credentials") {
		t.Errorf("Summary() = %q", m.Summary())
	}
	// Kong's id from its cache key, computed by hand: a version 5 UUID of
	// "basicauth_credentials:*:alice-basic".
	if id := m.Credentials[2].ID; id != "a979480a-0f9c-5e3d-ba73-aca9a8c03e39" {
		t.Errorf("alice-basic id %q", id)
	}

	c, ok := d.Credential(kindName, "alice-basic")
	if !ok || c.Consumer.ID != config.ConsumerID(alice.Consumer) || c.Kind != "basic-auth" || c.Key != "alice-basic" {
		t.Fatalf("Credential(alice-basic) = %+v, %v", c, ok)
	}
	if bcrypt.CompareHashAndPassword([]byte(c.Fields.(*Credential).hash), []byte("correcthorse")) == nil {
		t.Error("hash matches a wrong password")
	}
	if _, ok := d.Credential(kindName, "B1"); ok {
		t.Error("basic-auth found by consumer custom_id")
	}
	body := map[string]any{}
	credentialKind().Render(c, body)
	if h, _ := body["password"].(string); h == "secret" || bcrypt.CompareHashAndPassword([]byte(h), []byte("secret")) != nil {
		t.Errorf("admin password %q, want the hash", h)
	}
}

// TestHashOnlyValidFiles: plain passwords are hashed only once the whole
// file is valid (a refused file does not pay for bcrypt), and an abandoned
// load stops hashing.
func TestHashOnlyValidFiles(t *testing.T) {
	reg, err := plugin.NewRegistry([]plugin.Registration{Registration()})
	if err != nil {
		t.Fatal(err)
	}
	kinds := snapshot.CredentialKinds(reg)
	var hashed int
	finish := kinds[0].Finish
	kinds[0].Finish = func(ctx context.Context, fields []any, check func(int) config.CredentialCheck) {
		hashed += len(fields)
		finish(ctx, fields, check)
	}
	_, err = config.Parse([]byte(`_format_version: "3.0"
consumers: [{username: a, basicauth_credentials: [{username: u, password: p}]}]
services: [{name: s, url: 'ftp://x'}]
`), config.Options{Credentials: kinds})
	if err == nil || hashed != 0 {
		t.Errorf("refused file: %v, %d passwords hashed", err, hashed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fields := []any{&Credential{Username: "u", Password: "p"}}
	hashPasswords(ctx, fields, nil)
	if h := fields[0].(*Credential).hash; h != "" {
		t.Errorf("abandoned load hashed %q", h)
	}
}
