package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	gojwt "github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// jwtKeys are the test's signing keys: RSA for RS*/PS* (Kong's two RS256
// credentials share one public key), one EC key per curve and Ed25519.
type jwtKeys struct {
	rsa, rsaPS       *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
}

func newJWTKeys(t *testing.T) *jwtKeys {
	t.Helper()
	k := &jwtKeys{}
	var err error
	check := func() {
		if err != nil {
			t.Fatal(err)
		}
	}
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	check()
	k.rsaPS, err = rsa.GenerateKey(rand.Reader, 2048)
	check()
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check()
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	check()
	k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	check()
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	check()
	return k
}

// pemQuoted is pub as a PEM PKIX public key, quoted for YAML.
func pemQuoted(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := "-----BEGIN PUBLIC KEY-----\n"
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		b += enc[:64] + "\n"
		enc = enc[64:]
	}
	return strconv.Quote(b + enc + "\n-----END PUBLIC KEY-----\n")
}

// jwtSign signs payload with alg and key, adding extra JOSE headers.
func jwtSign(t *testing.T, alg string, key any, payload map[string]any, extra map[string]any) string {
	t.Helper()
	tok := gojwt.NewWithClaims(gojwt.GetSigningMethod(alg), gojwt.MapClaims(payload))
	for k, v := range extra {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtPayload is Kong's spec PAYLOAD: valid for an hour.
func jwtPayload(iss string) map[string]any {
	now := time.Now().Unix()
	p := map[string]any{"nbf": now, "iat": now, "exp": now + 3600}
	if iss != "" {
		p["iss"] = iss
	}
	return p
}

// jwtSecrets are the HS secrets of the config.
const (
	jwtSecret       = "jwt-tests-consumer-secret"
	jwtSecret2      = "jwt-tests-consumer-6-secret"
	jwtBase64Secret = "the base64 consumer's secret"
	jwtHS384Secret  = "hs384-secret-of-consumer-7"
	jwtHS512Secret  = "hs512-secret-of-consumer-8"
)

// jwtConfig follows the routes of Kong's spec/03-plugins/16-jwt/
// 03-access_spec.lua (hosts jwt1.test ... jwt13.test, the same plugin
// configs), its consumers and credentials (with explicit keys, which a
// declarative file must give), the logical AND/OR routes of its second
// part, and the patterns guide's example.
const jwtConfig = `
_format_version: "3.0"
consumers:
- username: jwt_tests_consumer
  jwt_secrets: [{key: jwt-key-1, secret: ` + jwtSecret + `}]
- username: jwt_tests_consumer_6
  jwt_secrets: [{key: jwt-key-6, secret: ` + jwtSecret2 + `}]
- username: jwt_tests_base64_consumer
  jwt_secrets: [{key: jwt-key-base64, secret: {{B64}}}]
- username: jwt_tests_rsa_consumer_1
  jwt_secrets: [{key: rsa-key-1, algorithm: RS256, rsa_public_key: {{RSA}}}]
- username: jwt_tests_rsa_consumer_2
  jwt_secrets: [{key: rsa-key-2, algorithm: RS256, rsa_public_key: {{RSA}}}]
- username: jwt_tests_rsa_consumer_5
  jwt_secrets: [{key: rsa-key-3, algorithm: RS512, rsa_public_key: {{RSA}}}]
- username: jwt_tests_rsa_consumer_9
  jwt_secrets: [{key: rsa-key-4, algorithm: RS384, rsa_public_key: {{RSA}}}]
- username: jwt_tests_rsa_consumer_10
  jwt_secrets: [{key: es-key-384, algorithm: ES384, rsa_public_key: {{P384}}}]
- username: jwt_tests_rsa_consumer_11
  jwt_secrets: [{key: es-key-512, algorithm: ES512, rsa_public_key: {{P521}}}]
- username: jwt_tests_rsa_consumer_12
  jwt_secrets: [{key: ps-key-256, algorithm: PS256, rsa_public_key: {{RSAPS}}}]
- username: jwt_tests_rsa_consumer_13
  jwt_secrets: [{key: ps-key-384, algorithm: PS384, rsa_public_key: {{RSAPS}}}]
- username: jwt_tests_rsa_consumer_14
  jwt_secrets: [{key: ps-key-512, algorithm: PS512, rsa_public_key: {{RSAPS}}}]
- username: jwt_tests_rsa_consumer_15
  jwt_secrets: [{key: eddsa-key, algorithm: EdDSA, rsa_public_key: {{ED}}}]
- username: jwt_tests_es256_consumer
  jwt_secrets: [{key: es-key-256, algorithm: ES256, rsa_public_key: {{P256}}}]
- username: jwt_tests_hs_consumer_7
  jwt_secrets: [{key: hs-key-384, algorithm: HS384, secret: ` + jwtHS384Secret + `}]
- username: jwt_tests_hs_consumer_8
  jwt_secrets: [{key: hs-key-512, algorithm: HS512, secret: ` + jwtHS512Secret + `}]
- username: no-body
- username: Anonymous
- username: Mickey
  keyauth_credentials: [{key: Mouse}]
- username: Aladdin
  jwt_secrets: [{key: aladdin-key, secret: aladdin-secret}]
- username: idp-users
  jwt_secrets:
  - key: https://idp.test/
    algorithm: RS256
    jwks_uri: {{JWKS}}
    issuer: https://idp.test/
    audience: [orders]
services:
- name: svc
  url: {{UP}}
  routes:
  - {name: r1, hosts: [jwt1.test], plugins: [{name: jwt}]}
  - {name: r2, hosts: [jwt2.test], plugins: [{name: jwt, config: {uri_param_names: [token, jwt]}}]}
  - {name: r3, hosts: [jwt3.test], plugins: [{name: jwt, config: {claims_to_verify: [nbf, exp]}}]}
  - {name: r4, hosts: [jwt4.test], plugins: [{name: jwt, config: {key_claim_name: aud}}]}
  - {name: r5, hosts: [jwt5.test], plugins: [{name: jwt, config: {secret_is_base64: true}}]}
  - {name: r6, hosts: [jwt6.test], plugins: [{name: jwt, config: {anonymous: no-body}}]}
  - {name: r7, hosts: [jwt7.test], plugins: [{name: jwt, config: {anonymous: 6f1c1b9e-0000-4000-8000-000000000000}}]}
  - {name: r8, hosts: [jwt8.test], plugins: [{name: jwt, config: {run_on_preflight: false}}]}
  - {name: r9, hosts: [jwt9.test], plugins: [{name: jwt, config: {cookie_names: [silly, crumble], realm: test-jwt}}]}
  - {name: r10, hosts: [jwt10.test], plugins: [{name: jwt, config: {key_claim_name: kid}}]}
  - {name: r11, hosts: [jwt11.test], plugins: [{name: jwt, config: {claims_to_verify: [nbf, exp], maximum_expiration: 300}}]}
  - {name: r12, hosts: [jwt12.test], plugins: [{name: jwt, config: {header_names: [CustomAuthorization]}}]}
  - {name: r13, hosts: [jwt13.test], plugins: [{name: jwt, config: {anonymous: no-body}}]}
  - name: guide
    hosts: [guide.test]
    plugins:
    - name: jwt
      config:
        uri_param_names:
        - jwt
        cookie_names: []
        header_names:
        - Authorization
        claims_to_verify:
        - exp
        maximum_expiration: 3600
        run_on_preflight: true
  - name: idp
    hosts: [idp.test]
    plugins:
    - name: jwt
      config:
        claims_to_verify: [exp]
        jwks_unknown_kid_refresh_interval: 1
        claims_to_headers:
        - {claim: sub, header: X-User-Id}
        - {claim: scope, header: X-Scope}
- name: logical-and
  url: {{UP}}/request
  routes:
  - name: logical-and
    hosts: [logical-and.test]
    plugins: [{name: jwt}, {name: key-auth}]
- name: logical-or
  url: {{UP}}/request
  routes:
  - name: logical-or
    hosts: [logical-or.test]
    plugins: [{name: jwt, config: {anonymous: Anonymous}}, {name: key-auth, config: {anonymous: Anonymous}}]
`

// jwksHost is an identity provider's JWK Set endpoint on loopback.
type jwksHost struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	fetches atomic.Int64
}

func startJWKSHost(t *testing.T) *jwksHost {
	t.Helper()
	h := &jwksHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.fetches.Add(1)
		h.mu.Lock()
		doc := h.doc
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(h.Close)
	return h
}

// serve makes the endpoint serve pub under kid.
func (h *jwksHost) serve(t *testing.T, pub crypto.PublicKey, kid string) {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig,
	}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.doc = doc
	h.mu.Unlock()
}

// jwtMessage is the body of Kong's jwt failures: kong.response.exit with
// a table, so compact JSON without a request id.
func jwtMessage(msg string) string { return `{"message":"` + msg + `"}` }

func TestJWT(t *testing.T) {
	k := newJWTKeys(t)
	idpKey, idpKey2 := k.rsa, k.rsaPS
	up := gwtest.StartEcho(t, "a")
	idp := startJWKSHost(t)
	idp.serve(t, &idpKey.PublicKey, "idp-key-1")
	cfg := strings.NewReplacer(
		"{{UP}}", up.URL, "{{JWKS}}", idp.URL+"/.well-known/jwks.json",
		"{{B64}}", base64.StdEncoding.EncodeToString([]byte(jwtBase64Secret)),
		"{{RSA}}", pemQuoted(t, &k.rsa.PublicKey), "{{RSAPS}}", pemQuoted(t, &k.rsaPS.PublicKey),
		"{{P256}}", pemQuoted(t, &k.p256.PublicKey), "{{P384}}", pemQuoted(t, &k.p384.PublicKey),
		"{{P521}}", pemQuoted(t, &k.p521.PublicKey), "{{ED}}", pemQuoted(t, k.ed.Public()),
	).Replace(jwtConfig)
	gw := gwtest.Start(t, cfg, gwtest.Options{})

	hs := func(iss string) string { return jwtSign(t, "HS256", []byte(jwtSecret), jwtPayload(iss), nil) }
	now := time.Now().Unix()

	type check struct {
		name    string
		method  string
		path    string
		header  []string // Host first
		status  int
		body    string // exact; "" skips the check for 200s
		wwwAuth string
	}
	refusals := []check{
		{name: "no JWT", header: []string{"Host", "jwt1.test"}, status: 401, body: jwtMessage("Unauthorized"), wwwAuth: "Bearer"},
		{name: "no key claim", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " + jwtSign(t, "HS256", []byte("foo"), jwtPayload(""), nil)},
			status: 401, body: jwtMessage("No mandatory 'iss' in claims"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "empty key claim", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " + jwtSign(t, "HS256", []byte("foo"),
			map[string]any{"iss": "", "exp": now + 3600}, nil)}, status: 401, body: jwtMessage("Invalid 'iss' in claims"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "iss matches no credential", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " + hs("123456789")},
			status: 401, body: jwtMessage("No credentials found for given 'iss'"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "invalid signature", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " + jwtSign(t, "HS256", []byte("foo"), jwtPayload("jwt-key-1"), nil)},
			status: 401, body: jwtMessage("Invalid signature"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "alg does not match the credential", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " +
			jwtForge(t, map[string]any{"typ": "JWT", "alg": "RS256"}, jwtPayload("jwt-key-1"), gojwt.SigningMethodHS256, []byte(jwtSecret))},
			status: 401, body: jwtMessage("Invalid algorithm"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "OPTIONS with run_on_preflight false", method: http.MethodOptions, header: []string{"Host", "jwt8.test"}, status: 200},
		{name: "OPTIONS with run_on_preflight true", method: http.MethodOptions, header: []string{"Host", "jwt1.test"},
			status: 401, body: jwtMessage("Unauthorized"), wwwAuth: "Bearer"},
		{name: "exceeds maximum expiration", path: "/request/?jwt=" + jwtSign(t, "HS256", []byte(jwtSecret),
			map[string]any{"iss": "jwt-key-1", "exp": now + 3600, "nbf": now - 30}, nil), header: []string{"Host", "jwt11.test"},
			status: 401, body: `{"exp":"exceeds maximum allowed expiration"}`, wwwAuth: `Bearer error="invalid_token"`},
		{name: "within maximum expiration", path: "/request/?jwt=" + jwtSign(t, "HS256", []byte(jwtSecret),
			map[string]any{"iss": "jwt-key-1", "exp": now + 270, "nbf": now - 30}, nil), header: []string{"Host", "jwt11.test"}, status: 200},
		{name: "multiple different tokens", path: "/request?jwt=" + hs("jwt-key-1"), header: []string{"Host", "jwt1.test", "Authorization", "Bearer invalid.jwt.token"},
			status: 401, body: jwtMessage("Multiple tokens provided"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "cookie without credential", header: []string{"Host", "jwt9.test", "Cookie", "silly=" + hs("incorrect-issuer") + "; path=/;domain=.jwt9.test"},
			status: 401, body: jwtMessage("No credentials found for given 'iss'"), wwwAuth: `Bearer realm="test-jwt", error="invalid_token"`},
		{name: "corrupted cookie", header: []string{"Host", "jwt9.test", "Cookie", "silly=no-way-this-works" + hs("jwt-key-1") + "; path=/;domain=.jwt9.test"},
			status: 401, body: jwtMessage("Bad token; invalid JSON"), wwwAuth: `Bearer realm="test-jwt", error="invalid_token"`},
		{name: "no token with a realm", header: []string{"Host", "jwt9.test"}, status: 401, body: jwtMessage("Unauthorized"), wwwAuth: `Bearer realm="test-jwt"`},
		{name: "claims required", path: "/request/?jwt=" + jwtSign(t, "HS256", []byte(jwtSecret), map[string]any{"iss": "jwt-key-1"}, nil),
			header: []string{"Host", "jwt3.test"}, status: 401, body: `{"nbf":"must be a number","exp":"must be a number"}`, wwwAuth: `Bearer error="invalid_token"`},
		{name: "exp", path: "/request/?jwt=" + jwtSign(t, "HS256", []byte(jwtSecret), map[string]any{"iss": "jwt-key-1", "exp": now - 10, "nbf": now - 10}, nil),
			header: []string{"Host", "jwt3.test"}, status: 401, body: `{"exp":"token expired"}`, wwwAuth: `Bearer error="invalid_token"`},
		{name: "nbf", path: "/request/?jwt=" + jwtSign(t, "HS256", []byte(jwtSecret), map[string]any{"iss": "jwt-key-1", "exp": now + 10, "nbf": now + 5}, nil),
			header: []string{"Host", "jwt3.test"}, status: 401, body: `{"nbf":"token not valid yet"}`, wwwAuth: `Bearer error="invalid_token"`},
		{name: "anonymous that does not exist", header: []string{"Host", "jwt7.test"}, status: 500},
		{name: "alg none", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " + jwtForge(t, map[string]any{"alg": "none"}, jwtPayload("jwt-key-1"), nil, nil)},
			status: 401, body: jwtMessage("Bad token; invalid alg"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "HS256 signed with the RSA public key", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " +
			jwtForge(t, map[string]any{"alg": "HS256"}, jwtPayload("rsa-key-1"), gojwt.SigningMethodHS256, []byte(pemPlain(t, &k.rsa.PublicKey)))},
			status: 401, body: jwtMessage("Invalid algorithm"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "jku to another key set", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " +
			jwtSign(t, "RS256", k.rsaPS, jwtPayload("rsa-key-1"), map[string]any{"jku": "http://127.0.0.1:1/jwks", "kid": "x"})},
			status: 401, body: jwtMessage("Invalid signature"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "x5u to another certificate", header: []string{"Host", "jwt1.test", "Authorization", "Bearer " +
			jwtSign(t, "RS256", k.rsaPS, jwtPayload("rsa-key-1"), map[string]any{"x5u": "http://127.0.0.1:1/cert.pem"})},
			status: 401, body: jwtMessage("Invalid signature"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "kid naming another credential", header: []string{"Host", "jwt10.test", "Authorization", "Bearer " +
			jwtSign(t, "HS256", []byte("attacker"), map[string]any{"exp": now + 60}, map[string]any{"kid": "jwt-key-6"})},
			status: 401, body: jwtMessage("Invalid signature"), wwwAuth: `Bearer error="invalid_token"`},
		{name: "kid naming an RSA credential, signed with its public key", header: []string{"Host", "jwt10.test", "Authorization", "Bearer " +
			jwtForge(t, map[string]any{"alg": "HS256", "kid": "rsa-key-1"}, map[string]any{"exp": now + 60}, gojwt.SigningMethodHS256,
				[]byte(pemPlain(t, &k.rsa.PublicKey)))},
			status: 401, body: jwtMessage("Invalid algorithm"), wwwAuth: `Bearer error="invalid_token"`},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := up.Count.Load()
			resp, body := jwtDo(t, gw, c.method, c.path, c.header)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status == 200 {
				return
			}
			if c.status == 500 {
				if !strings.Contains(body, `"message":"anonymous consumer 6f1c1b9e-0000-4000-8000-000000000000 is configured but doesn't exist"`) {
					t.Errorf("body %s", body)
				}
				return
			}
			if body != c.body {
				t.Errorf("body %s, want %s", body, c.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != c.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.wwwAuth)
			}
			if up.Count.Load() != before {
				t.Error("the request reached the upstream")
			}
		})
	}

	type pass struct {
		name       string
		path       string
		header     []string
		username   string
		credential string // X-Credential-Identifier
		anonymous  bool
	}
	rs := func(alg string, key any, iss string) string { return jwtSign(t, alg, key, jwtPayload(iss), nil) }
	kidTok := jwtSign(t, "HS256", []byte(jwtSecret2), jwtPayload(""), map[string]any{"kid": "jwt-key-6"})
	audPayload := jwtPayload("")
	audPayload["aud"] = "jwt-key-1"
	spoof := []string{"X-Consumer-Username", "mallory", "X-Credential-Identifier", "evil", "X-Anonymous-Consumer", "true"}
	passes := []pass{
		{"HS256", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + hs("jwt-key-1")}, "jwt_tests_consumer", "jwt-key-1", false},
		{"key in the JOSE header", "", []string{"Host", "jwt10.test", "Authorization", "Bearer " + kidTok}, "jwt_tests_consumer_6", "jwt-key-6", false},
		{"key in another claim", "", []string{"Host", "jwt4.test", "Authorization", "Bearer " + jwtSign(t, "HS256", []byte(jwtSecret), audPayload, nil)},
			"jwt_tests_consumer", "jwt-key-1", false},
		{"base64 secret", "", []string{"Host", "jwt5.test", "Authorization", "Bearer " + jwtSign(t, "HS256", []byte(jwtBase64Secret), jwtPayload("jwt-key-base64"), nil)},
			"jwt_tests_base64_consumer", "jwt-key-base64", false},
		{"cookie crumble", "", []string{"Host", "jwt9.test", "Cookie", "crumble=" + hs("jwt-key-1") + "; path=/;domain=.jwt9.test"}, "jwt_tests_consumer", "jwt-key-1", false},
		{"cookie silly", "", []string{"Host", "jwt9.test", "Cookie", "silly=" + hs("jwt-key-1") + "; path=/;domain=.jwt9.test"}, "jwt_tests_consumer", "jwt-key-1", false},
		{"header with cookies configured", "", []string{"Host", "jwt9.test", "Authorization", "Bearer " + hs("jwt-key-1")}, "jwt_tests_consumer", "jwt-key-1", false},
		{"CustomAuthorization", "", []string{"Host", "jwt12.test", "CustomAuthorization", "Bearer " + hs("jwt-key-1")}, "jwt_tests_consumer", "jwt-key-1", false},
		{"first of a repeated CustomAuthorization", "", []string{"Host", "jwt12.test", "CustomAuthorization", "Bearer " + hs("jwt-key-1"),
			"CustomAuthorization", "Bearer other-token"}, "jwt_tests_consumer", "jwt-key-1", false},
		{"URL parameter", "/request/?jwt=" + hs("jwt-key-1"), []string{"Host", "jwt1.test"}, "jwt_tests_consumer", "jwt-key-1", false},
		{"custom URL parameter", "/request/?token=" + hs("jwt-key-1"), []string{"Host", "jwt2.test"}, "jwt_tests_consumer", "jwt-key-1", false},
		{"RS256", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("RS256", k.rsa, "rsa-key-1")}, "jwt_tests_rsa_consumer_1", "rsa-key-1", false},
		{"RS256 identifies the consumer", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("RS256", k.rsa, "rsa-key-2")}, "jwt_tests_rsa_consumer_2", "rsa-key-2", false},
		{"RS256 with secret_is_base64", "", []string{"Host", "jwt5.test", "Authorization", "Bearer " + rs("RS256", k.rsa, "rsa-key-2")}, "jwt_tests_rsa_consumer_2", "rsa-key-2", false},
		{"RS512", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("RS512", k.rsa, "rsa-key-3")}, "jwt_tests_rsa_consumer_5", "rsa-key-3", false},
		{"RS384", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("RS384", k.rsa, "rsa-key-4")}, "jwt_tests_rsa_consumer_9", "rsa-key-4", false},
		{"ES256", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("ES256", k.p256, "es-key-256")}, "jwt_tests_es256_consumer", "es-key-256", false},
		{"ES384", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("ES384", k.p384, "es-key-384")}, "jwt_tests_rsa_consumer_10", "es-key-384", false},
		{"ES512", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("ES512", k.p521, "es-key-512")}, "jwt_tests_rsa_consumer_11", "es-key-512", false},
		{"PS256", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("PS256", k.rsaPS, "ps-key-256")}, "jwt_tests_rsa_consumer_12", "ps-key-256", false},
		{"PS384", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("PS384", k.rsaPS, "ps-key-384")}, "jwt_tests_rsa_consumer_13", "ps-key-384", false},
		{"PS512", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("PS512", k.rsaPS, "ps-key-512")}, "jwt_tests_rsa_consumer_14", "ps-key-512", false},
		{"EdDSA", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("EdDSA", k.ed, "eddsa-key")}, "jwt_tests_rsa_consumer_15", "eddsa-key", false},
		{"HS384", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("HS384", []byte(jwtHS384Secret), "hs-key-384")}, "jwt_tests_hs_consumer_7", "hs-key-384", false},
		{"HS512", "", []string{"Host", "jwt1.test", "Authorization", "Bearer " + rs("HS512", []byte(jwtHS512Secret), "hs-key-512")}, "jwt_tests_hs_consumer_8", "hs-key-512", false},
		{"anonymous with right credentials", "", []string{"Host", "jwt6.test", "Authorization", "Bearer " + hs("jwt-key-1")}, "jwt_tests_consumer", "jwt-key-1", false},
		{"anonymous without credentials", "", []string{"Host", "jwt6.test"}, "no-body", "", true},
		{"anonymous by username", "", []string{"Host", "jwt13.test"}, "no-body", "", true},
	}
	for _, c := range passes {
		t.Run(c.name, func(t *testing.T) {
			// Twice: the second time the token comes from the cache.
			for i := range 2 {
				resp, body := jwtDo(t, gw, "", c.path, append(append([]string{}, c.header...), spoof...))
				if resp.StatusCode != 200 {
					t.Fatalf("try %d: status %d: %s", i, resp.StatusCode, body)
				}
				seen := gwtest.DecodeSeen(t, body)
				jwtIdentity(t, seen, c.username, c.credential, c.anonymous)
				for j := 0; j+1 < len(c.header); j += 2 {
					if h := c.header[j]; h == "Authorization" && strings.Join(seen.Header[h], "") != c.header[j+1] {
						t.Errorf("upstream Authorization %q", seen.Header[h])
					}
				}
			}
		})
	}

	t.Run("logical AND", func(t *testing.T) {
		jwtTok := "Bearer " + jwtSign(t, "HS256", []byte("aladdin-secret"), jwtPayload("aladdin-key"), nil)
		resp, body := jwtDo(t, gw, "", "", []string{"Host", "logical-and.test", "apikey", "Mouse", "Authorization", jwtTok})
		if resp.StatusCode != 200 {
			t.Fatalf("both: %d %s", resp.StatusCode, body)
		}
		// key-auth (priority 1250) runs after jwt (1450): its consumer and
		// credential id win.
		seen := gwtest.DecodeSeen(t, body)
		if seen.Header["X-Consumer-Username"][0] != "Mickey" || seen.Header["X-Anonymous-Consumer"] != nil {
			t.Errorf("both: %v", seen.Header)
		}
		for _, c := range []struct {
			header  []string
			wwwAuth string
		}{
			{[]string{"apikey", "Mouse"}, "Bearer"},
			{[]string{"Authorization", jwtTok}, "Key"},
			{nil, "Bearer"},
		} {
			resp, _ := jwtDo(t, gw, "", "", append([]string{"Host", "logical-and.test"}, c.header...))
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != c.wwwAuth {
				t.Errorf("%v: %d %q", c.header, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("logical OR", func(t *testing.T) {
		jwtTok := "Bearer " + jwtSign(t, "HS256", []byte("aladdin-secret"), jwtPayload("aladdin-key"), nil)
		for _, c := range []struct {
			header     []string
			username   string
			credential string
			anonymous  bool
		}{
			{[]string{"apikey", "Mouse", "Authorization", jwtTok}, "Aladdin", "aladdin-key", false},
			{[]string{"apikey", "Mouse"}, "Mickey", "*", false},
			{[]string{"Authorization", jwtTok}, "Aladdin", "aladdin-key", false},
			{nil, "Anonymous", "", true},
		} {
			resp, body := jwtDo(t, gw, "", "", append([]string{"Host", "logical-or.test"}, c.header...))
			if resp.StatusCode != 200 {
				t.Fatalf("%v: %d %s", c.header, resp.StatusCode, body)
			}
			jwtIdentity(t, gwtest.DecodeSeen(t, body), c.username, c.credential, c.anonymous)
		}
	})

	t.Run("patterns guide", func(t *testing.T) {
		tok := func(p map[string]any) string { return jwtSign(t, "HS256", []byte(jwtSecret), p, nil) }
		for _, c := range []struct {
			name    string
			payload map[string]any
			status  int
			body    string
		}{
			{"valid", map[string]any{"iss": "jwt-key-1", "exp": now + 1800}, 200, ""},
			{"longer than maximum_expiration", map[string]any{"iss": "jwt-key-1", "exp": now + 7200}, 401, `{"exp":"exceeds maximum allowed expiration"}`},
			{"expired", map[string]any{"iss": "jwt-key-1", "exp": now - 1}, 401, `{"exp":"token expired"}`},
			{"no exp", map[string]any{"iss": "jwt-key-1"}, 401, `{"exp":"must be a number"}`},
		} {
			for _, where := range []string{"query", "header"} {
				path, h := "/request", []string{"Host", "guide.test"}
				if where == "query" {
					path += "?jwt=" + tok(c.payload)
				} else {
					h = append(h, "Authorization", "Bearer "+tok(c.payload))
				}
				resp, body := jwtDo(t, gw, "", path, h)
				if resp.StatusCode != c.status || (c.body != "" && body != c.body) {
					t.Errorf("%s in %s: %d %s", c.name, where, resp.StatusCode, body)
				}
			}
		}
	})

	t.Run("JWKS", func(t *testing.T) {
		idpTok := func(key *rsa.PrivateKey, kid string, p map[string]any) string {
			return jwtSign(t, "RS256", key, p, map[string]any{"kid": kid})
		}
		claims := func(extra ...any) map[string]any {
			p := jwtPayload("https://idp.test/")
			p["aud"], p["sub"], p["scope"] = []string{"orders"}, "user-42", "orders:read"
			for i := 0; i+1 < len(extra); i += 2 {
				p[extra[i].(string)] = extra[i+1]
			}
			return p
		}
		get := func(tok string) (*http.Response, string) {
			return jwtDo(t, gw, "", "", []string{"Host", "idp.test", "Authorization", "Bearer " + tok, "X-User-Id", "spoofed",
				"X-User_Id", "spoofed", "x_scope", "spoofed"})
		}
		resp, body := get(idpTok(idpKey, "idp-key-1", claims()))
		if resp.StatusCode != 200 {
			t.Fatalf("idp-key-1: %d %s", resp.StatusCode, body)
		}
		seen := gwtest.DecodeSeen(t, body)
		jwtIdentity(t, seen, "idp-users", "https://idp.test/", false)
		if got := seen.Header["X-User-Id"]; len(got) != 1 || got[0] != "user-42" || seen.Header["X-Scope"][0] != "orders:read" {
			t.Errorf("claims_to_headers: X-User-Id %q X-Scope %q", got, seen.Header["X-Scope"])
		}
		// The client's copies are gone under every spelling a CGI-style
		// upstream would read as the same header.
		for name, v := range seen.Header {
			if strings.Contains(strings.Join(v, ""), "spoofed") {
				t.Errorf("the upstream got the client's %s: %q", name, v)
			}
		}
		// Rotation: a token with a new kid is refused while the provider
		// does not serve its key, and accepted once it does, through the
		// refresh on an unknown kid (at most one per second on this route).
		fetches := idp.fetches.Load()
		if resp, body := get(idpTok(idpKey2, "idp-key-2", claims())); resp.StatusCode != 401 || body != jwtMessage("Invalid signature") {
			t.Fatalf("idp-key-2 before rotation: %d %s", resp.StatusCode, body)
		}
		if n := idp.fetches.Load(); n != fetches+1 {
			t.Errorf("an unknown kid made %d fetches, want 1", n-fetches)
		}
		idp.serve(t, &idpKey2.PublicKey, "idp-key-2")
		resp, body = get(idpTok(idpKey2, "idp-key-2", claims("jti", "after-rotation")))
		if resp.StatusCode != 200 {
			t.Fatalf("idp-key-2 after rotation: %d %s", resp.StatusCode, body)
		}
		if n := idp.fetches.Load(); n != fetches+2 {
			t.Errorf("rotation took %d fetches, want 2", n-fetches)
		}
		for _, c := range []struct {
			name string
			tok  string
			body string
		}{
			{"wrong audience", idpTok(idpKey2, "idp-key-2", claims("aud", "billing")), `{"aud":"invalid audience"}`},
			{"expired", idpTok(idpKey2, "idp-key-2", claims("exp", now-5)), `{"exp":"token expired"}`},
			{"signed by an unknown key", idpTok(k.rsa, "idp-key-2", claims()), jwtMessage("Invalid signature")},
		} {
			if resp, body := get(c.tok); resp.StatusCode != 401 || body != c.body {
				t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
			}
		}
	})

	t.Run("gRPC", func(t *testing.T) {
		gup := startGrpcUpstream(t)
		ggw := gwtest.Start(t, grpcConfig(gup.Addr, "grpc")+`
consumers:
- username: grpc-user
  jwt_secrets: [{key: grpc-key, secret: grpc-secret}]
plugins:
- {name: jwt, route: health}
`, gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
		client := grpcDial(t, ggw.URL, insecure.NewCredentials())
		_, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService})
		if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || st.Message() != "Unauthorized" {
			t.Errorf("without a token: %v", err)
		}
		tok := jwtSign(t, "HS256", []byte("grpc-secret"), jwtPayload("grpc-key"), nil)
		ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "authorization", "Bearer "+tok)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService}, grpc.WaitForReady(true))
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("with a token: %v %v", resp, err)
		}
		calls := gup.calls()
		if md := calls[len(calls)-1]; strings.Join(md.Get("x-consumer-username"), "") != "grpc-user" {
			t.Errorf("upstream metadata %v", md)
		}
	})
}

// A reload that changes a credential's secret makes tokens signed with the
// old one fail, also when they were verified (and cached) before it.
func TestJWTReload(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cfg := func(secret string) string {
		return `
_format_version: "3.0"
consumers:
- username: alice
  jwt_secrets: [{key: alice-key, secret: ` + secret + `}]
services:
- name: svc
  url: ` + up.URL + `
  routes: [{name: r, paths: [/], plugins: [{name: jwt}]}]
`
	}
	gw := gwtest.Start(t, cfg("old-secret"), gwtest.Options{})
	oldTok := "Bearer " + jwtSign(t, "HS256", []byte("old-secret"), jwtPayload("alice-key"), nil)
	newTok := "Bearer " + jwtSign(t, "HS256", []byte("new-secret"), jwtPayload("alice-key"), nil)
	if resp, body := gw.Get("/", "Authorization", oldTok); resp.StatusCode != 200 {
		t.Fatalf("before reload: %d %s", resp.StatusCode, body)
	}
	if err := os.WriteFile(gw.ConfigPath(), []byte(cfg("new-secret")), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := gw.Get("/", "Authorization", newTok)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new secret not in force after 10s: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, body := gw.Get("/", "Authorization", oldTok); resp.StatusCode != 401 || body != jwtMessage("Invalid signature") {
		t.Errorf("old token after reload: %d %s", resp.StatusCode, body)
	}
}

// A reload keeps the jwt plugin instances whose config is unchanged, but
// not their JWK Sets as they were: sets of URLs no credential names any
// more are closed (their identity provider is no longer polled), and the
// others are fetched again, so a key the provider withdrew is refused from
// the reload on.
func TestJWTReloadRefetchesJWKS(t *testing.T) {
	k := newJWTKeys(t)
	up := gwtest.StartEcho(t, "a")
	idpA, idpB := startJWKSHost(t), startJWKSHost(t)
	idpA.serve(t, &k.rsa.PublicKey, "a-1")
	idpB.serve(t, &k.rsaPS.PublicKey, "b-1")
	cfg := func(withB bool) string {
		c := `
_format_version: "3.0"
consumers:
- username: a-users
  jwt_secrets: [{key: "https://a.test/", algorithm: RS256, jwks_uri: "` + idpA.URL + `/jwks", audience: [api]}]
`
		if withB {
			c += `- username: b-users
  jwt_secrets: [{key: "https://b.test/", algorithm: RS256, jwks_uri: "` + idpB.URL + `/jwks", audience: [api]}]
`
		}
		return c + `services:
- name: svc
  url: ` + up.URL + `
  routes:
  - {name: a, paths: [/a], plugins: [{name: jwt, config: {claims_to_verify: [exp]}}]}
  - {name: b, paths: [/b], plugins: [{name: jwt, config: {claims_to_verify: [exp], jwks_refresh_interval: 1}}]}
`
	}
	gw := gwtest.Start(t, cfg(true), gwtest.Options{})
	tok := func(key *rsa.PrivateKey, iss, kid string) string {
		p := jwtPayload(iss)
		p["aud"] = "api"
		return "Bearer " + jwtSign(t, "RS256", key, p, map[string]any{"kid": kid})
	}
	a1 := tok(k.rsa, "https://a.test/", "a-1")
	if resp, body := gw.Get("/a", "Authorization", a1); resp.StatusCode != 200 {
		t.Fatalf("a-1: %d %s", resp.StatusCode, body)
	}
	if resp, body := gw.Get("/b", "Authorization", tok(k.rsaPS, "https://b.test/", "b-1")); resp.StatusCode != 200 {
		t.Fatalf("b-1: %d %s", resp.StatusCode, body)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("after 5s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("b's set refreshed every second", func() bool { return idpB.fetches.Load() >= 2 })

	// Provider a withdraws a-1 for a-2; the new configuration no longer
	// has b's credential. Both routes keep their plugin instances.
	idpA.serve(t, &k.rsaPS.PublicKey, "a-2")
	if code, body := adminCall(t, gw, http.MethodPost, "/config", cfg(false)); code != 201 {
		t.Fatalf("POST /config: %d %v", code, body)
	}
	waitUntil("a's set fetched again", func() bool { return idpA.fetches.Load() >= 2 })
	if resp, body := gw.Get("/a", "Authorization", a1); resp.StatusCode != 401 || body != jwtMessage("Invalid signature") {
		t.Errorf("withdrawn a-1 after the reload: %d %s", resp.StatusCode, body)
	}
	if resp, body := gw.Get("/a", "Authorization", tok(k.rsaPS, "https://a.test/", "a-2")); resp.StatusCode != 200 {
		t.Errorf("a-2 after the reload: %d %s", resp.StatusCode, body)
	}
	n := idpB.fetches.Load()
	time.Sleep(1500 * time.Millisecond)
	if m := idpB.fetches.Load(); m != n {
		t.Errorf("b's JWK Set was fetched %d times after the reload dropped its credential", m-n)
	}
}

// The admin API lists jwt credentials with Turnpike's fields when used.
func TestJWTAdminListing(t *testing.T) {
	gw := gwtest.Start(t, `
_format_version: "3.0"
consumers:
- username: idp
  jwt_secrets: [{key: "https://idp.test/", algorithm: ES256, jwks_uri: "https://idp.test/jwks", audience: [api]}]
`, gwtest.Options{})
	req, err := http.NewRequest(http.MethodGet, gw.AdminURL+"/jwts", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := gwtest.Do(t, req)
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 || len(page.Data) != 1 {
		t.Fatalf("GET /jwts: %d %s", resp.StatusCode, body)
	}
	j := page.Data[0]
	if j["jwks_uri"] != "https://idp.test/jwks" || j["algorithm"] != "ES256" || j["key"] != "https://idp.test/" || j["issuer"] != nil {
		t.Errorf("jwt credential %v", j)
	}
}

func jwtDo(t *testing.T, gw *gwtest.Gateway, method, path string, header []string) (*http.Response, string) {
	t.Helper()
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/request"
	}
	return gwtest.Do(t, gwtest.NewRequest(t, method, gw.URL+path, "", header...))
}

// jwtIdentity checks the consumer headers the upstream got; credential "*"
// is any value other than a spoofed one.
func jwtIdentity(t *testing.T, seen gwtest.Seen, username, credential string, anonymous bool) {
	t.Helper()
	if got := seen.Header["X-Consumer-Username"]; len(got) != 1 || got[0] != username {
		t.Errorf("X-Consumer-Username %q, want %q", got, username)
	}
	if got := seen.Header["X-Consumer-Id"]; len(got) != 1 || got[0] == "" {
		t.Errorf("X-Consumer-Id %q", got)
	}
	got := seen.Header["X-Credential-Identifier"]
	switch {
	case credential == "" && got != nil:
		t.Errorf("X-Credential-Identifier %q, want none", got)
	case credential == "*" && (len(got) != 1 || got[0] == "evil"):
		t.Errorf("X-Credential-Identifier %q", got)
	case credential != "" && credential != "*" && (len(got) != 1 || got[0] != credential):
		t.Errorf("X-Credential-Identifier %q, want %q", got, credential)
	}
	anon := seen.Header["X-Anonymous-Consumer"]
	if anonymous != (len(anon) == 1 && anon[0] == "true") || (!anonymous && anon != nil) {
		t.Errorf("X-Anonymous-Consumer %q", anon)
	}
}

// jwtForge builds a token with the header of the test's choosing, signed
// with m and key (unsigned, with an empty signature, when m is nil).
func jwtForge(t *testing.T, header, payload map[string]any, m gojwt.SigningMethod, key any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(header) + "." + enc(payload)
	var sig []byte
	if m != nil {
		var err error
		if sig, err = m.Sign(signed, key); err != nil {
			t.Fatal(err)
		}
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// pemPlain is pub's PEM as configured (unquoted).
func pemPlain(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	s, err := strconv.Unquote(pemQuoted(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
