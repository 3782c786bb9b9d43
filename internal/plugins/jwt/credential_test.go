package jwt

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// load parses src with jwt's credential kind declared, as the gateway
// does, and indexes it at now over prev.
func load(t *testing.T, src string, prev *snapshot.Directory) (*config.Model, *snapshot.Directory, error) {
	return credtest.Load(t, Registration(), src, now, prev)
}

// TestCredentialLoad checks what only the declaration does: a long
// duplicate key shortened in its message, the warning for a generated
// secret, and nothing of an invalid file's checks in the model.
func TestCredentialLoad(t *testing.T) {
	long := strings.Repeat("k", 300)
	_, _, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: "+long+", secret: s}, {key: "+long+", secret: t}, {key: j, audience: ['']}]}]", nil)
	want := "consumers[0].jwt_secrets[1].key: duplicate key '" + long[:256] + "…' (first defined at consumers[0].jwt_secrets[0]) (line 2)\n" +
		"consumers[0].jwt_secrets[2].audience[0]: length must be at least 1 (line 2)"
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	m, _, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, secret: s}]}]", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, w := range m.Warnings {
		got = append(got, w.Path)
	}
	if diff := cmp.Diff([]string{"consumers[0].jwt_secrets[0].secret"}, got); diff != "" || !strings.HasPrefix(m.Warnings[0].Message, "not set: a random secret is generated") {
		t.Errorf("warnings %v (-want +got):\n%s", m.Warnings, diff)
	}
}

// TestGeneratedSecret checks that a credential without a secret gets a
// random one, shown by the admin body, kept by a reload that keeps the
// credential's consumer and key, and not by one that gives the key to
// another consumer.
func TestGeneratedSecret(t *testing.T) {
	const src = "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, secret: configured}]}, {username: b}]"
	_, d, err := load(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(d *snapshot.Directory, key string) string {
		c, ok := d.Credential(kindName, key)
		if !ok {
			t.Fatalf("%s not found", key)
		}
		return c.State.(*verifyKeys).secret
	}
	first := secret(d, "j")
	if len(first) != 32 || strings.Trim(first, secretAlphabet) != "" || secret(d, "k") != "configured" {
		t.Fatalf("secrets %q, %q", first, secret(d, "k"))
	}
	k := credentialKind()
	for key, want := range map[string]any{"j": first, "k": nil} {
		c, _ := d.Credential(kindName, key)
		body := map[string]any{"secret": nil}
		k.Render(c, body)
		if body["secret"] != want {
			t.Errorf("%s: admin secret %v, want %v", key, body["secret"], want)
		}
	}
	_, kept, err := load(t, "consumers: [{username: a}, {username: b}]\njwt_secrets: [{key: j, consumer: a}]", d)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(kept, "j"); got != first {
		t.Errorf("kept credential's secret %q, want %q", got, first)
	}
	_, moved, err := load(t, "consumers: [{username: a}, {username: b, jwt_secrets: [{key: j}]}]", kept)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(moved, "j"); got == first || len(got) != 32 {
		t.Errorf("a key given to another consumer kept its secret %q", got)
	}
	// A configured secret, later removed, is not a generated one to keep.
	_, unset, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: k}]}]", d)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(unset, "k"); got == "configured" {
		t.Error("a configured secret was kept as the generated one")
	}
}

// countingTransport counts the round trips it makes.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestJWKSUsesEnvHTTPClient checks that JWK Sets are fetched through the
// gateway's outbound client (plugin.Env.HTTPClient), bounded by
// jwks_timeout rather than that client's own timeout.
func TestJWKSUsesEnvHTTPClient(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	rt := &countingTransport{}
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.JWKSTimeout = 1
	inst, err := reg.New(cfg, plugin.Env{HTTPClient: &http.Client{Transport: rt, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	in.now = func() time.Time { return now }
	t.Cleanup(in.Close)
	dir := jwksDir(srv.URL)
	tok := sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("%d round trips through Env.HTTPClient, want 1", n)
	}
	// An unknown kid asks for a fetch that hangs: jwks_timeout ends the
	// wait, not the client's minute.
	srv.setHook(func(int64, *http.Request) bool { time.Sleep(2500 * time.Millisecond); return true })
	other := sign(t, signer{"RS256", k.rsaOther}, valid("idp"), map[string]any{"kid": "k2"})
	start := time.Now()
	if got := run(t, in, newCtx(dir, authorize(other))); got.Status != 401 {
		t.Errorf("unknown kid: %+v", got)
	}
	if d := time.Since(start); d > 1800*time.Millisecond {
		t.Errorf("the request waited %v, past jwks_timeout (1s)", d)
	}
}

// pemKeys are the test keys' public halves as PEM, quoted for a YAML flow
// map.
type pemKeys struct {
	rsa, rsaPKCS1, p256, p384, p521, ed string
}

func publicPEMs(t *testing.T) pemKeys {
	t.Helper()
	k := keys(t)
	pkix := func(pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	return pemKeys{
		rsa:      pkix(&k.rsa.PublicKey),
		rsaPKCS1: strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))),
		p256:     pkix(&k.p256.PublicKey),
		p384:     pkix(&k.p384.PublicKey),
		p521:     pkix(&k.p521.PublicKey),
		ed:       pkix(k.ed.Public()),
	}
}

// TestCredentialErrors checks every rule of a jwt credential, with the
// fields all credentials have, through the real loader: path and message.
func TestCredentialErrors(t *testing.T) {
	k := publicPEMs(t)
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"top-level consumer missing", "jwt_secrets: [{key: j, secret: s}]", config.Errors{
			{Path: "jwt_secrets[0].consumer", Message: "required field missing"},
		}},
		{"dangling consumer", "consumers: [{username: alice}]\njwt_secrets: [{key: j, secret: s, consumer: {username: carol}}, {key: k, secret: s, consumer: {id: " + uuid1 + "}}]", config.Errors{
			{Path: "jwt_secrets[0].consumer", Message: "consumer 'carol' not found"},
			{Path: "jwt_secrets[1].consumer", Message: "consumer '" + uuid1 + "' not found"},
		}},
		{"bad id", "consumers: [{username: a, jwt_secrets: [{id: x, key: j, secret: s}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].id", Message: "expected a valid UUID"},
		}},
		{"duplicate ids", "consumers: [{custom_id: c3, jwt_secrets: [{key: j1, secret: s, id: 66666666-6666-4666-8666-666666666666}, {key: j2, secret: s, id: 66666666-6666-4666-8666-666666666666}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[1].id", Message: "duplicate id '66666666-6666-4666-8666-666666666666' (first defined at consumers[0].jwt_secrets[0])"},
		}},
		{"key required", "consumers: [{username: a, jwt_secrets: [{secret: s}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].key", Message: "required field missing"},
		}},
		{"key unique", "consumers: [{username: a, jwt_secrets: [{key: iss, secret: s}]}]\njwt_secrets: [{key: iss, secret: t, consumer: a}]", config.Errors{
			{Path: "jwt_secrets[0].key", Message: "duplicate key 'iss' (first defined at consumers[0].jwt_secrets[0])"},
		}},
		{"unknown algorithm", "consumers: [{username: a, jwt_secrets: [{key: j, secret: s, algorithm: none}, {key: k, secret: s, algorithm: hs256}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].algorithm", Message: "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"},
			{Path: "consumers[0].jwt_secrets[1].algorithm", Message: "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"},
		}},
		{"HS without a secret (generated)", "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, algorithm: HS512}]}]", nil},
		{"asymmetric needs a public key", "consumers: [{username: a, jwt_secrets: [{key: a1, algorithm: RS256}, {key: a2, algorithm: PS384}, {key: a3, algorithm: ES512}, {key: a4, algorithm: EdDSA}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[1].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[2].rsa_public_key", Message: "required field missing"},
			{Path: "consumers[0].jwt_secrets[3].rsa_public_key", Message: "required field missing"},
		}},
		{"every algorithm with a fitting key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: h1, secret: s}, {key: h2, secret: s, algorithm: HS384}, {key: h3, secret: s, algorithm: HS512}, " +
			"{key: r1, algorithm: RS256, rsa_public_key: " + k.rsa + "}, {key: r2, algorithm: RS384, rsa_public_key: " + k.rsaPKCS1 + "}, {key: r3, algorithm: RS512, rsa_public_key: " + k.rsa + "}, " +
			"{key: p1, algorithm: PS256, rsa_public_key: " + k.rsa + "}, {key: p2, algorithm: PS384, rsa_public_key: " + k.rsa + "}, {key: p3, algorithm: PS512, rsa_public_key: " + k.rsa + "}, " +
			"{key: e1, algorithm: ES256, rsa_public_key: " + k.p256 + "}, {key: e2, algorithm: ES384, rsa_public_key: " + k.p384 + "}, {key: e3, algorithm: ES512, rsa_public_key: " + k.p521 + "}, " +
			"{key: d1, algorithm: EdDSA, rsa_public_key: " + k.ed + "}]}]", nil},
		{"public key not PEM", "consumers: [{username: a, jwt_secrets: [{key: j, algorithm: RS256, rsa_public_key: nope}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: no PEM data found"},
		}},
		{"public key wrong PEM type", "consumers: [{username: a, jwt_secrets: [{key: j, algorithm: RS256, rsa_public_key: \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: expected a PEM public key, got 'PRIVATE KEY'"},
		}},
		{"public key checked with HS too", "consumers: [{username: a, jwt_secrets: [{key: j, secret: s, rsa_public_key: nope}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: no PEM data found"},
		}},
		{"key does not fit algorithm", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, rsa_public_key: " + k.p256 + "}, {key: j2, algorithm: ES256, rsa_public_key: " + k.rsa + "}, " +
			"{key: j3, algorithm: ES384, rsa_public_key: " + k.p256 + "}, {key: j4, algorithm: EdDSA, rsa_public_key: " + k.rsa + "}, {key: j5, algorithm: PS256, rsa_public_key: " + k.ed + "}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].rsa_public_key", Message: "invalid key: RS256 needs an RSA public key, got ECDSA"},
			{Path: "consumers[0].jwt_secrets[1].rsa_public_key", Message: "invalid key: ES256 needs an ECDSA public key, got RSA"},
			{Path: "consumers[0].jwt_secrets[2].rsa_public_key", Message: "invalid key: ES384 needs a key on curve P-384, got P-256"},
			{Path: "consumers[0].jwt_secrets[3].rsa_public_key", Message: "invalid key: EdDSA needs an Ed25519 public key, got RSA"},
			{Path: "consumers[0].jwt_secrets[4].rsa_public_key", Message: "invalid key: PS256 needs an RSA public key, got Ed25519"},
		}},
		{"jwks_uri instead of a public key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'https://idp.example/.well-known/jwks.json', issuer: 'https://idp.example/', audience: [api]}, " +
			"{key: j2, algorithm: ES256, jwks_uri: 'http://127.0.0.1:8080/jwks', secret: ignored, audience: [api]}, " +
			"{key: j3, algorithm: EdDSA, jwks_uri: 'https://idp/k', audience: [api, other]}]}]", nil},
		{"jwks_uri checks", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'ftp://idp.example/jwks', audience: [a]}, {key: j2, algorithm: RS256, jwks_uri: '/jwks', audience: [a]}, " +
			"{key: j3, jwks_uri: 'https://idp.example/jwks', audience: [a]}, {key: j4, algorithm: HS512, jwks_uri: 'https://idp.example/jwks', secret: s, audience: [a]}, " +
			"{key: j5, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', rsa_public_key: " + k.rsa + ", audience: [a]}, " +
			"{key: j6, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', audience: [a, '']}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].jwks_uri", Message: "must be an absolute http or https URL"},
			{Path: "consumers[0].jwt_secrets[1].jwks_uri", Message: "must be an absolute http or https URL"},
			{Path: "consumers[0].jwt_secrets[2].algorithm", Message: "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[3].algorithm", Message: "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[4].rsa_public_key", Message: "cannot be combined with jwks_uri"},
			{Path: "consumers[0].jwt_secrets[5].audience[1]", Message: "length must be at least 1"},
		}},
		{"jwks_uri needs an audience", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, jwks_uri: 'https://idp.example/jwks', issuer: 'https://idp.example/'}, " +
			"{key: j2, algorithm: ES256, jwks_uri: 'https://idp.example/jwks', audience: []}]}]", config.Errors{
			{Path: "consumers[0].jwt_secrets[0].audience", Message: "required with jwks_uri: the identity provider signs every client's tokens " +
				"with the same keys, so without an audience any token it issued would be accepted"},
			{Path: "consumers[0].jwt_secrets[1].audience", Message: "required with jwks_uri: the identity provider signs every client's tokens " +
				"with the same keys, so without an audience any token it issued would be accepted"},
		}},
		{"issuer and audience with a public key", "consumers: [{username: a, jwt_secrets: [" +
			"{key: j1, algorithm: RS256, rsa_public_key: " + k.rsa + ", issuer: x, audience: [y, z]}, {key: j2, secret: s, audience: [y]}]}]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.src, nil)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialModel checks what a valid file gives: every field,
// resolved consumers, order (nested first), parsed keys, the credentials
// to generate a secret for, with a warning at each, and the ids.
func TestCredentialModel(t *testing.T) {
	k := publicPEMs(t)
	m, _, err := load(t, `consumers:
  - username: alice
    jwt_secrets:
      - {key: alice-iss, secret: shh}
      - {key: alice-gen}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
jwt_secrets:
  - {key: bob-iss, algorithm: ES256, rsa_public_key: `+k.p256+`, consumer: {id: 22222222-2222-4222-8222-222222222222}}
  - {key: "https://idp.example/", algorithm: RS256, jwks_uri: "https://idp.example/jwks", issuer: "https://idp.example/", audience: [orders, billing], consumer: alice}
  - {key: bob-gen, algorithm: HS512, consumer: {id: 22222222-2222-4222-8222-222222222222}}
  - {key: bob-hs, algorithm: HS384, secret: s, consumer: 22222222-2222-4222-8222-222222222222}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := m.Consumers[0], m.Consumers[1]
	if n := len(m.Credentials); n != 6 {
		t.Fatalf("%d jwt credentials", n)
	}
	fields := func(i int) *Credential { return m.Credentials[i].Fields.(*Credential) }
	if e, j := m.Credentials[0], fields(0); e.Consumer != alice || e.Path != "consumers[0].jwt_secrets[0]" || j.Algorithm != "HS256" || j.Secret != "shh" || j.publicKey != nil {
		t.Errorf("jwt[0] = %+v, %+v", e, j)
	}
	if e, j := m.Credentials[2], fields(2); e.Consumer != bob || e.Path != "jwt_secrets[0]" || j.Algorithm != "ES256" || j.publicKey == nil {
		t.Errorf("jwt[2] = %+v, %+v", e, j)
	}
	if e, j := m.Credentials[3], fields(3); e.Consumer != alice || j.JWKSURI != "https://idp.example/jwks" || j.Issuer != "https://idp.example/" ||
		!slices.Equal(j.Audience, []string{"orders", "billing"}) || j.publicKey != nil {
		t.Errorf("jwt[3] = %+v, %+v", e, j)
	}
	var gen []bool
	for i := range m.Credentials {
		gen = append(gen, fields(i).generate)
	}
	if diff := cmp.Diff([]bool{false, true, false, false, true, false}, gen); diff != "" {
		t.Errorf("generate (-want +got):\n%s", diff)
	}
	var paths []string
	for _, w := range m.Warnings {
		paths = append(paths, w.Path)
		if !strings.Contains(w.Message, "each node and each restart generates its own") || w.Line == 0 {
			t.Errorf("warning %v: want the cluster advice and a line", w)
		}
	}
	if diff := cmp.Diff([]string{"consumers[0].jwt_secrets[1].secret", "jwt_secrets[2].secret"}, paths); diff != "" {
		t.Errorf("warning paths (-want +got):\n%s", diff)
	}
	if !strings.Contains(m.Summary(), "2 consumers, 6 credentials") {
		t.Errorf("Summary() = %q", m.Summary())
	}
	// Pinned: Turnpike's own derivation (Kong's ids are random), which the
	// docs promise stable across nodes and reloads.
	if id := m.Credentials[0].ID; id != "30227914-b148-5f08-bdff-ae3a72230ee9" {
		t.Errorf("alice-iss id %q", id)
	}
}

// TestGeneratedSecretAcrossReloads: a generated secret is 32 random
// alphanumerics, its own per credential and per load without a previous
// directory, kept by a reload while its consumer and key stay; another
// consumer, or a secret configured in between, means a new one.
func TestGeneratedSecretAcrossReloads(t *testing.T) {
	src := func(owner, secret string) string {
		return "consumers: [{username: a}, {username: b}]\njwt_secrets:\n- {key: k, consumer: " + owner + secret + "}\n- {key: other, consumer: b}"
	}
	dir := func(src string, prev *snapshot.Directory) *snapshot.Directory {
		_, d, err := load(t, src, prev)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	secretOf := func(d *snapshot.Directory, key string) string {
		c, ok := d.Credential(kindName, key)
		if !ok {
			t.Fatalf("no jwt credential %s", key)
		}
		return c.State.(*verifyKeys).secret
	}
	d1 := dir(src("a", ""), nil)
	s1 := secretOf(d1, "k")
	if len(s1) != 32 || strings.Trim(s1, secretAlphabet) != "" {
		t.Fatalf("generated secret %q: want 32 of %s", s1, secretAlphabet)
	}
	if secretOf(d1, "other") == s1 {
		t.Fatal("two credentials got the same secret")
	}
	if s := secretOf(dir(src("a", ""), nil), "k"); s == s1 {
		t.Fatal("a load without a previous directory reused a secret")
	}
	d2 := dir(src("a", ""), d1)
	if s := secretOf(d2, "k"); s != s1 {
		t.Fatalf("reload: secret %q, want the previous %q", s, s1)
	}
	if s := secretOf(dir(src("b", ""), d2), "k"); s == s1 {
		t.Fatal("the key moved to another consumer kept its secret")
	}
	d3 := dir(src("a", ", secret: given"), d2)
	if s := secretOf(d3, "k"); s != "given" {
		t.Fatalf("configured secret: got %q", s)
	}
	if s := secretOf(dir(src("a", ""), d3), "k"); s == "given" || s == s1 {
		t.Fatalf("after a configured secret was removed: %q, want a new one", s)
	}
}
