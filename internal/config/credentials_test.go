package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// testKeys are PEM public keys, quoted for a YAML flow map.
type testKeys struct {
	rsa, rsaPKCS1, p256, p384, p521, ed string
}

func makeTestKeys(t *testing.T) testKeys {
	t.Helper()
	pkix := func(pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec := func(c elliptic.Curve) string {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return pkix(&k.PublicKey)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{
		rsa:      pkix(&rk.PublicKey),
		rsaPKCS1: strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)}))),
		p256:     ec(elliptic.P256()),
		p384:     ec(elliptic.P384()),
		p521:     ec(elliptic.P521()),
		ed:       pkix(edPub),
	}
}

// bcryptMin is a valid bcrypt hash of "secret" at the minimum cost, so
// tests stay fast.
func bcryptMin(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestCredentialErrors checks every credential rule's path and message.
// Each src follows `_format_version: "3.0"`.
func TestCredentialErrors(t *testing.T) {
	k := makeTestKeys(t)
	hash := bcryptMin(t, "pw")
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		// Consumer references.
		{"nested and top-level accepted", "consumers: [{username: alice, id: " + uuid1 + ", keyauth_credentials: [{key: k1}]}]\nkeyauth_credentials: [{key: k2, consumer: alice}, {key: k3, consumer: " + uuid1 + "}, {key: k4, consumer: {username: alice}}, {key: k5, consumer: {id: " + uuid1 + "}}]", nil},
		{"top-level consumer missing", "keyauth_credentials: [{key: k}]\nbasicauth_credentials: [{username: u, password: p}]\njwt_secrets: [{key: j, secret: s}]\nacls: [{group: g}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "required field missing"},
			{Path: "basicauth_credentials[0].consumer", Message: "required field missing"},
			{Path: "jwt_secrets[0].consumer", Message: "required field missing"},
			{Path: "acls[0].consumer", Message: "required field missing"},
		}},
		{"dangling consumer", "consumers: [{username: alice}]\nkeyauth_credentials: [{key: k, consumer: bob}]\nbasicauth_credentials: [{username: u, password: p, consumer: {id: " + uuid1 + "}}]\njwt_secrets: [{key: j, secret: s, consumer: {username: carol}}]\nacls: [{group: g, consumer: dave}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "consumer 'bob' not found"},
			{Path: "basicauth_credentials[0].consumer", Message: "consumer '" + uuid1 + "' not found"},
			{Path: "jwt_secrets[0].consumer", Message: "consumer 'carol' not found"},
			{Path: "acls[0].consumer", Message: "consumer 'dave' not found"},
		}},
		{"empty consumer ref", "consumers: [{username: alice}]\nacls: [{group: g, consumer: {}}]", Errors{
			{Path: "acls[0].consumer", Message: "must set 'id' or 'username'"},
		}},
		{"consumer ref of the wrong type", "consumers: [{username: alice}]\nacls: [{group: g, consumer: 5}]", Errors{
			{Path: "acls[0].consumer", Message: "expected a string or a map"},
		}},
		{"another consumer set on a nested credential", "consumers: [{username: alice, keyauth_credentials: [{key: k, consumer: bob}], acls: [{group: g, consumer: {id: 0fe87b4a-ce29-515a-88ec-8547e66550b9}}]}, {username: bob}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].consumer", Message: "value must be null: it may only name the consumer it is nested in"},
			{Path: "consumers[0].acls[0].consumer", Message: "value must be null: it may only name the consumer it is nested in"},
		}},
		{"unknown credential field", "consumers: [{username: alice, keyauth_credentials: [{key: k, name: x}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].name", Message: "unknown field"},
		}},
		{"bad ids", "consumers: [{username: a, keyauth_credentials: [{id: x, key: k}], basicauth_credentials: [{id: x, username: u, password: p}], jwt_secrets: [{id: x, key: j, secret: s}], acls: [{id: x, group: g}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].id", Message: "expected a valid UUID"},
			{Path: "consumers[0].basicauth_credentials[0].id", Message: "expected a valid UUID"},
			{Path: "consumers[0].jwt_secrets[0].id", Message: "expected a valid UUID"},
			{Path: "consumers[0].acls[0].id", Message: "expected a valid UUID"},
		}},
		{"duplicate ids", "consumers: [{username: a, keyauth_credentials: [{id: " + uuid1 + ", key: k1}, {id: " + uuid1 + ", key: k2}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[1].id", Message: "duplicate id '" + uuid1 + "' (first defined at consumers[0].keyauth_credentials[0])"},
		}},

		// basic-auth.
		{"basic-auth required fields", "consumers: [{username: a, basicauth_credentials: [{}]}]", Errors{
			{Path: "consumers[0].basicauth_credentials[0].username", Message: "required field missing"},
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "required field missing"},
		}},
		{"basic-auth username unique", "consumers: [{username: a, basicauth_credentials: [{username: u, password: p}]}, {username: b, basicauth_credentials: [{username: u, password: q}]}]", Errors{
			{Path: "consumers[1].basicauth_credentials[0].username", Message: "duplicate username 'u' (first defined at consumers[0].basicauth_credentials[0])"},
		}},
		{"basic-auth bad hash", "consumers: [{username: a, basicauth_credentials: [{username: u, password: '$2b$10$short'}]}]", Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "invalid bcrypt hash: crypto/bcrypt: hashedSecret too short to be a bcrypted password"},
		}},
		{"basic-auth password too long", "consumers: [{username: a, basicauth_credentials: [{username: u, password: " + strings.Repeat("x", 73) + "}]}]", Errors{
			{Path: "consumers[0].basicauth_credentials[0].password", Message: "length must be at most 72 bytes (bcrypt's limit)"},
		}},
		{"basic-auth pre-hashed accepted", "consumers: [{username: a, basicauth_credentials: [{username: u, password: '" + hash + "'}]}]", nil},

		// jwt.
		{"jwt key required", "consumers: [{username: a, jwt_secrets: [{secret: s}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].key", Message: "required field missing"},
		}},
		{"jwt key unique", "consumers: [{username: a, jwt_secrets: [{key: iss, secret: s}]}]\njwt_secrets: [{key: iss, secret: t, consumer: a}]", Errors{
			{Path: "jwt_secrets[0].key", Message: "duplicate key 'iss' (first defined at consumers[0].jwt_secrets[0])"},
		}},
		{"jwt unknown algorithm", "consumers: [{username: a, jwt_secrets: [{key: j, secret: s, algorithm: none}, {key: k, secret: s, algorithm: hs256}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].algorithm", Message: "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"},
			{Path: "consumers[0].jwt_secrets[1].algorithm", Message: "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"},
		}},
		{"jwt HS without a secret (generated)", "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, algorithm: HS512}]}]", nil},
		{"jwt asymmetric needs a public key", "consumers: [{username: a, jwt_secrets: [{key: a1, algorithm: RS256}, {key: a2, algorithm: PS384}, {key: a3, algorithm: ES512}, {key: a4, algorithm: EdDSA}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[1].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[2].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[3].rsa_public_key", Message: "required field missing"},
		}},
		{"jwt every algorithm with a fitting key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: h1, secret: s}, {key: h2, secret: s, algorithm: HS384}, {key: h3, secret: s, algorithm: HS512}, " +
			"{key: r1, algorithm: RS256, rsa_public_key: " + k.rsa + "}, {key: r2, algorithm: RS384, rsa_public_key: " + k.rsaPKCS1 + "}, {key: r3, algorithm: RS512, rsa_public_key: " + k.rsa + "}, " +
			"{key: p1, algorithm: PS256, rsa_public_key: " + k.rsa + "}, {key: p2, algorithm: PS384, rsa_public_key: " + k.rsa + "}, {key: p3, algorithm: PS512, rsa_public_key: " + k.rsa + "}, " +
			"{key: e1, algorithm: ES256, rsa_public_key: " + k.p256 + "}, {key: e2, algorithm: ES384, rsa_public_key: " + k.p384 + "}, {key: e3, algorithm: ES512, rsa_public_key: " + k.p521 + "}, " +
			"{key: d1, algorithm: EdDSA, rsa_public_key: " + k.ed + "}]}]", nil},
		{"jwt public key not PEM", "consumers: [{username: a, jwt_secrets: [{key: j, algorithm: RS256, rsa_public_key: nope}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: no PEM data found"},
		}},
		{"jwt public key wrong PEM type", "consumers: [{username: a, jwt_secrets: [{key: j, algorithm: RS256, rsa_public_key: \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: expected a PEM public key, got 'PRIVATE KEY'"},
		}},
		{"jwt public key checked with HS too", "consumers: [{username: a, jwt_secrets: [{key: j, secret: s, rsa_public_key: nope}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: no PEM data found"},
		}},
		{"jwt key does not fit algorithm", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, rsa_public_key: " + k.p256 + "}, {key: j2, algorithm: ES256, rsa_public_key: " + k.rsa + "}, " +
			"{key: j3, algorithm: ES384, rsa_public_key: " + k.p256 + "}, {key: j4, algorithm: EdDSA, rsa_public_key: " + k.rsa + "}, {key: j5, algorithm: PS256, rsa_public_key: " + k.ed + "}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: RS256 needs an RSA public key, got ECDSA"},
			{Path: "consumers[0].jwt_secrets[1].rsa_public_key", Message: "invalid key: ES256 needs an ECDSA public key, got RSA"},
			{Path: "consumers[0].jwt_secrets[2].rsa_public_key", Message: "invalid key: ES384 needs a key on curve P-384, got P-256"},
			{Path: "consumers[0].jwt_secrets[3].rsa_public_key", Message: "invalid key: EdDSA needs an Ed25519 public key, got RSA"},
			{Path: "consumers[0].jwt_secrets[4].rsa_public_key", Message: "invalid key: PS256 needs an RSA public key, got Ed25519"},
		}},
		{"jwt jwks_uri instead of a public key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'https://idp.example/.well-known/jwks.json', issuer: 'https://idp.example/', audience: [api]}, " +
			"{key: j2, algorithm: ES256, jwks_uri: 'http://127.0.0.1:8080/jwks', secret: ignored, audience: [api]}, " +
			"{key: j3, algorithm: EdDSA, jwks_uri: 'https://idp/k', audience: [api, other]}]}]", nil},
		{"jwt jwks_uri checks", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'ftp://idp.example/jwks', audience: [a]}, {key: j2, algorithm: RS256, jwks_uri: '/jwks', audience: [a]}, " +
			"{key: j3, jwks_uri: 'https://idp.example/jwks', audience: [a]}, {key: j4, algorithm: HS512, jwks_uri: 'https://idp.example/jwks', secret: s, audience: [a]}, " +
			"{key: j5, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', rsa_public_key: " + k.rsa + ", audience: [a]}, " +
			"{key: j6, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', audience: [a, '']}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].jwks_uri", Message: "must be an absolute http or https URL"},
			{Path: "consumers[0].jwt_secrets[1].jwks_uri", Message: "must be an absolute http or https URL"},
			{Path: "consumers[0].jwt_secrets[2].algorithm", Message: "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[3].algorithm", Message: "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[4].rsa_public_key", Message: "cannot be combined with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[5].audience[1]", Message: "length must be at least 1"},
		}},
		{"jwt jwks_uri needs an audience", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', issuer: 'https://idp.example/'}, " +
			"{key: j2, algorithm: ES256, jwks_uri: 'https://idp.example/jwks', audience: []}]}]", Errors{
			{Path: "consumers[0].jwt_secrets[0].audience", Message: "required with jwks_uri: the identity provider signs every client's tokens " +
				"with the same keys, so without an audience any token it issued would be accepted"},
			{Path: "consumers[0].jwt_secrets[1].audience", Message: "required with jwks_uri: the identity provider signs every client's tokens " +
				"with the same keys, so without an audience any token it issued would be accepted"},
		}},
		{"jwt issuer and audience with a public key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, rsa_public_key: " + k.rsa + ", issuer: x, audience: [y, z]}, {key: j2, secret: s, audience: [y]}]}]", nil},

		// acl.
		{"acl group required", "consumers: [{username: a, acls: [{}]}]", Errors{
			{Path: "consumers[0].acls[0].group", Message: "required field missing"},
		}},
		{"acl group unique per consumer", "consumers: [{username: a, acls: [{group: g}]}, {username: b, acls: [{group: g}]}]\nacls: [{group: g, consumer: a}]", Errors{
			{Path: "acls[0].group", Message: "duplicate group 'g' for this consumer (first defined at consumers[0].acls[0])"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "_format_version: \"3.0\"\n" + tt.src + "\n"
			_, err := Parse([]byte(src), withKeyAuth)
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCredentialModel checks what a valid config puts in the model: every
// field, resolved consumers, order (nested first) and password hashing.
func TestCredentialModel(t *testing.T) {
	keys := makeTestKeys(t)
	prehashed := bcryptMin(t, "given")
	src := `_format_version: "3.0"
consumers:
  - username: alice
    custom_id: A1
    keyauth_credentials:
      - {id: 11111111-1111-4111-8111-111111111111, key: alice-key, ttl: 60, tags: [t1]}
    basicauth_credentials:
      - {username: alice, password: plain-pw, tags: [t2]}
    jwt_secrets:
      - {key: alice-iss, secret: shh}
    acls:
      - {group: admins, tags: [t3]}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
keyauth_credentials:
  - {key: bob-key, consumer: 22222222-2222-4222-8222-222222222222}
basicauth_credentials:
  - {username: bob, password: '` + prehashed + `', consumer: {id: 22222222-2222-4222-8222-222222222222}}
jwt_secrets:
  - {key: bob-iss, algorithm: ES256, rsa_public_key: ` + keys.p256 + `, consumer: {id: 22222222-2222-4222-8222-222222222222}}
  - {key: "https://idp.example/", algorithm: RS256, jwks_uri: "https://idp.example/jwks", issuer: "https://idp.example/", audience: [orders, billing], consumer: alice}
acls:
  - {group: users, consumer: alice}
  - {group: users, consumer: 22222222-2222-4222-8222-222222222222}
`
	m, err := Parse([]byte(src), withKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := m.Consumers[0], m.Consumers[1]

	type kv struct {
		Path, Key string
		TTL       int
		Consumer  *ConsumerEntry
		Tags      []string
	}
	var gotKA []kv
	for _, e := range m.Credentials {
		f := e.Fields.(*keyAuthFields)
		gotKA = append(gotKA, kv{e.Path, f.Key, f.TTL, e.Consumer, e.Tags})
	}
	wantKA := []kv{
		{"consumers[0].keyauth_credentials[0]", "alice-key", 60, alice, []string{"t1"}},
		{"keyauth_credentials[0]", "bob-key", 0, bob, nil},
	}
	if diff := cmp.Diff(wantKA, gotKA, cmp.Comparer(func(a, b *ConsumerEntry) bool { return a == b })); diff != "" {
		t.Errorf("key-auth (-want +got):\n%s", diff)
	}
	if id := m.Credentials[0].ID; id != "11111111-1111-4111-8111-111111111111" {
		t.Errorf("key-auth id = %q", id)
	}

	if n := len(m.BasicAuthCredentials); n != 2 {
		t.Fatalf("%d basic-auth credentials", n)
	}
	ba := m.BasicAuthCredentials[0]
	if ba.Consumer != alice || ba.Path != "consumers[0].basicauth_credentials[0]" || ba.Credential.Username != "alice" {
		t.Errorf("basic-auth[0] = %+v", ba)
	}
	if cost, err := bcrypt.Cost([]byte(ba.PasswordHash)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("plain password hashed at cost %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(ba.PasswordHash), []byte("plain-pw")) != nil {
		t.Error("hash does not match the plain password")
	}
	if bb := m.BasicAuthCredentials[1]; bb.Consumer != bob || bb.PasswordHash != prehashed {
		t.Errorf("pre-hashed password not kept: %+v", bb)
	}

	if n := len(m.JWTSecrets); n != 3 {
		t.Fatalf("%d jwt secrets", n)
	}
	if j := m.JWTSecrets[0]; j.Consumer != alice || j.Secret.Algorithm != "HS256" || j.Secret.Secret != "shh" || j.PublicKey != nil {
		t.Errorf("jwt[0] = %+v (algorithm %q)", j, j.Secret.Algorithm)
	}
	if j := m.JWTSecrets[1]; j.Consumer != bob || j.Secret.Algorithm != "ES256" || j.PublicKey == nil {
		t.Errorf("jwt[1] = %+v", j)
	}
	if j := m.JWTSecrets[2].Secret; j.JWKSURI != "https://idp.example/jwks" || j.Issuer != "https://idp.example/" ||
		!slices.Equal(j.Audience, []string{"orders", "billing"}) || m.JWTSecrets[2].PublicKey != nil {
		t.Errorf("jwt[2] = %+v", j)
	}

	var groups []string
	for _, a := range m.ACLs {
		groups = append(groups, a.Consumer.Path+":"+a.ACL.Group)
	}
	if diff := cmp.Diff([]string{"consumers[0]:admins", "consumers[0]:users", "consumers[1]:users"}, groups); diff != "" {
		t.Errorf("acls (-want +got):\n%s", diff)
	}
	if !strings.Contains(m.Summary(), "2 consumers, 7 credentials") {
		t.Errorf("Summary() = %q", m.Summary())
	}
}

// TestJWTSecretToGenerate: an HMAC jwt credential without a secret is
// marked for the snapshot to generate one, with a warning at its path; one
// with a secret, or asymmetric, is not.
func TestJWTSecretToGenerate(t *testing.T) {
	m, err := Parse([]byte(`_format_version: "3.0"
consumers:
- username: a
  jwt_secrets:
  - {key: j}
  - {key: k, algorithm: HS384, secret: s}
jwt_secrets:
- {key: l, algorithm: HS512, consumer: a}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var gen []bool
	for _, e := range m.JWTSecrets {
		gen = append(gen, e.GenerateSecret)
	}
	if diff := cmp.Diff([]bool{true, false, true}, gen); diff != "" {
		t.Errorf("GenerateSecret (-want +got):\n%s", diff)
	}
	var paths []string
	for _, w := range m.Warnings {
		paths = append(paths, w.Path)
		if !strings.Contains(w.Message, "each node and each restart generates its own") || w.Line == 0 {
			t.Errorf("warning %v: want the cluster advice and a line", w)
		}
	}
	if diff := cmp.Diff([]string{"consumers[0].jwt_secrets[0].secret", "jwt_secrets[0].secret"}, paths); diff != "" {
		t.Errorf("warning paths (-want +got):\n%s", diff)
	}
}
