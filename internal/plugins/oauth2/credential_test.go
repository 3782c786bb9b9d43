package oauth2

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

func load(t *testing.T, src string) (*config.Model, *snapshot.Directory, error) {
	return credtest.Load(t, Registration(), src, time.Now(), nil)
}

// kongStatic is the hash of "tofu" from Kong's secret spec (05-kdf_spec).
const kongStatic = "$pbkdf2-sha512$i=10000,l=32$YSBsaXR0ZSBiaXQsIGp1c3QgYSBsaXR0bGUgYml0$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI"

// TestCredentialErrors ports the refusals of Kong's oauth2 credential
// specs (01-schema_spec, 02-api_spec) through the real loader: path and
// message.
func TestCredentialErrors(t *testing.T) {
	const c = "consumers: [{username: bob, oauth2_credentials: ["
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"name required", c + "{client_id: a, client_secret: s}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].name", Message: "required field missing"},
		}},
		{"client_id and secret required", c + "{name: app}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].client_id", Message: generatedByKong},
			{Path: "consumers[0].oauth2_credentials[0].client_secret", Message: generatedByKong},
		}},
		{"public client needs no secret", c + "{name: app, client_id: a, client_type: public}]}]", nil},
		{"redirect_uris not absolute", c + "{name: app, client_id: a, client_secret: s, redirect_uris: [not-valid]}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].redirect_uris[0]", Message: "cannot parse 'not-valid'"},
		}},
		{"redirect_uris with fragment", c + "{name: app, client_id: a, client_secret: s, redirect_uris: ['http://valid.test', 'http://test.test/#with-fragment']}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].redirect_uris[1]", Message: "fragment not allowed in 'http://test.test/#with-fragment'"},
		}},
		{"client_type", c + "{name: app, client_id: a, client_secret: s, client_type: secret}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].client_type", Message: "expected one of: confidential, public"},
		}},
		{"client_id unique", c + "{name: app, client_id: a, client_secret: s}]}]\noauth2_credentials: [{name: b, client_id: a, client_secret: s, consumer: bob}]", config.Errors{
			{Path: "oauth2_credentials[0].client_id", Message: "duplicate client_id 'a' (first defined at consumers[0].oauth2_credentials[0])"},
		}},
		{"top-level consumer missing", "oauth2_credentials: [{name: app, client_id: a, client_secret: s}]", config.Errors{
			{Path: "oauth2_credentials[0].consumer", Message: "required field missing"},
		}},
		{"unknown field", c + "{name: app, client_id: a, client_secret: s, secret: x}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].secret", Message: "unknown field"},
		}},
		{"bad hash", c + "{name: app, client_id: a, client_secret: '$pbkdf2-sha512$i=10000,l=32$c2FsdA$!!', hash_secret: true}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].client_secret", Message: "invalid hashed secret: invalid hash in phc string"},
		}},
		{"too many iterations", c + "{name: app, client_id: a, client_secret: '$pbkdf2-sha512$i=100000000,l=32$YSBsaXR0ZSBiaXQsIGp1c3QgYSBsaXR0bGUgYml0$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI', hash_secret: true}]}]", config.Errors{
			{Path: "consumers[0].oauth2_credentials[0].client_secret", Message: "invalid hashed secret: pbkdf2 iterations (i) must be between 1 and 200000"},
		}},
		{"accepted nested and top level", c + "{name: app, client_id: a, client_secret: s, redirect_uris: ['http://google.test/']}]}]\noauth2_credentials: [{name: b, client_id: b, client_secret: s, consumer: bob, hash_secret: true}]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.src)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialSecrets: a plain secret matches as given; with
// hash_secret it is hashed at load in Kong's format, the admin body shows
// the hash, and the secret still matches; a hash Kong exported is kept.
func TestCredentialSecrets(t *testing.T) {
	m, d, err := load(t, `consumers: [{username: bob, oauth2_credentials: [
  {name: plain, client_id: plain, client_secret: test},
  {name: hashed, client_id: hashed, client_secret: test, hash_secret: true},
  {name: kong, client_id: kong, client_secret: '`+kongStatic+`', hash_secret: true},
  {name: pub, client_id: pub, client_type: public}]}]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("warnings %v", m.Warnings)
	}
	get := func(id string) *Credential {
		c, ok := d.Credential(kindName, id)
		if !ok {
			t.Fatalf("%s not indexed", id)
		}
		return c.Fields.(*Credential)
	}
	plain, hashed, kong, pub := get("plain"), get("hashed"), get("kong"), get("pub")
	ctx := context.Background()
	check := func(c *Credential, secret string) bool {
		t.Helper()
		ok, err := c.CheckSecret(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !check(plain, "test") || check(plain, "tes") || check(plain, "") {
		t.Error("plain secret")
	}
	if !strings.HasPrefix(hashed.hash, "$pbkdf2-sha512$i=10000,l=32$") {
		t.Fatalf("hash %q", hashed.hash)
	}
	for range 2 { // the second check is the cached one
		if !check(hashed, "test") || check(hashed, "invalid") {
			t.Error("hashed secret")
		}
	}
	if !check(kong, "tofu") || check(kong, "bun") {
		t.Error("Kong's hash")
	}
	if check(pub, "") || !pub.Public() || plain.Public() {
		t.Error("public client")
	}
	c, _ := d.Credential(kindName, "hashed")
	body := map[string]any{}
	credentialKind().Render(c, body)
	if body["client_secret"] != hashed.hash {
		t.Errorf("rendered %v", body)
	}
	c, _ = d.Credential(kindName, "plain")
	credentialKind().Render(c, body)
	if body["client_secret"] != "test" {
		t.Errorf("rendered %v", body)
	}
}

// TestKongKDF ports Kong's 05-kdf_spec: the hash of "tofu" with the spec's
// salt is its static key, byte for byte.
func TestKongKDF(t *testing.T) {
	got, err := hashWithSalt("tofu", []byte("a litte bit, just a little bit"))
	if err != nil || got != kongStatic {
		t.Fatalf("hash %q %v, want %q", got, err, kongStatic)
	}
	a, _ := hashSecret("tofu")
	b, _ := hashSecret("tofu")
	if a == b {
		t.Fatal("salt is not random")
	}
	p, err := parsePHC(a)
	if err != nil || !verified(p, "tofu") || verified(p, "bun") {
		t.Fatalf("verify %v", err)
	}
}

func verified(p *phc, secret string) bool {
	ok, _ := p.verify(context.Background(), secret)
	return ok
}

// TestVerifyGivesUp: a derivation waiting for a free CPU gives up when
// its request's context ends, rather than wait for ever.
func TestVerifyGivesUp(t *testing.T) {
	p, err := parsePHC(kongStatic)
	if err != nil {
		t.Fatal(err)
	}
	for range cap(deriving) {
		deriving <- struct{}{}
	}
	defer func() {
		for range cap(deriving) {
			<-deriving
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := p.verify(ctx, "tofu"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the derivation still waits after its context ended")
	}
}

// TestArgon2 accepts an argon2id hash as older Kongs wrote it and bounds
// its parameters.
func TestArgon2(t *testing.T) {
	// argon2id of "tofu", salt "somesaltsomesalt", m=4096,t=1,p=1, 32 bytes.
	const h = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs"
	p, err := parsePHC(h)
	if err != nil {
		t.Fatal(err)
	}
	if !verified(p, "tofu") || verified(p, "bun") {
		t.Fatal("verify")
	}
	for _, bad := range []string{
		"$argon2id$v=19$m=1048576,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs",
		"$argon2id$v=16$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs",
		"$argon2d$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs",
		"$pbkdf2-md5$i=1000,l=32$c2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs",
		"$pbkdf2-sha512$i=1000,l=16$c2FsdA$guevuLEG9OIJdA1fm+OcLHfKTkWjPgTw8v9ABIRAMZs",
	} {
		if _, err := parsePHC(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// BenchmarkCheckSecret: a plain secret, and a hashed one presented again
// (the cached check; the first costs one PBKDF2 derivation).
func BenchmarkCheckSecret(b *testing.B) {
	plain := &Credential{ClientSecret: "s3cret"}
	plain.plainSum = sha256.Sum256([]byte("s3cret"))
	p, err := parsePHC(kongStatic)
	if err != nil {
		b.Fatal(err)
	}
	hashed := &Credential{HashSecret: true, ClientSecret: kongStatic, hash: kongStatic, phc: p}
	for _, bc := range []struct {
		name   string
		c      *Credential
		secret string
	}{{"plain", plain, "s3cret"}, {"hashed-cached", hashed, "tofu"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := bc.c.CheckSecret(context.Background(), bc.secret); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
