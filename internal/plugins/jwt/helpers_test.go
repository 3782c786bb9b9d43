package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// now is the clock of the unit tests.
var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testKeys are the signing keys of the unit tests, generated once.
type testKeys struct {
	rsa, rsaOther           *rsa.PrivateKey
	p256, p384, p521, p256b *ecdsa.PrivateKey
	ed                      ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		keysVal.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keysVal.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keysVal.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keysVal.p256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keysVal.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		keysVal.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(err)
		_, keysVal.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &keysVal
}

var (
	bob    = &plugin.Consumer{ID: "bob-id", Username: "bob", CustomID: "bob-custom"}
	alice  = &plugin.Consumer{ID: "alice-id", Username: "alice"}
	nobody = &plugin.Consumer{ID: "anon-id", Username: "no-body"}
)

// Secrets of the HS credentials.
const (
	hsSecret     = "hs256-secret-of-bob"
	b64RawSecret = "raw secret \xfb\xff with bytes"
)

// signer is how a test signs for one credential key.
type signer struct {
	alg string
	key any
}

// newDir returns a directory with one credential per algorithm, each named
// by its algorithm in lower case ("hs256", "rs256", ...), plus "alice-hs"
// (alice, HS256), "b64" (a base64 secret, standard alphabet) and "b64url"
// (the same, URL alphabet), "not-b64" (a secret that is not base64). The signers map holds how to sign for each.
func newDir(t testing.TB) (*plugintest.Directory, map[string]signer) {
	t.Helper()
	k := keys(t)
	std := base64.StdEncoding.EncodeToString([]byte(b64RawSecret))
	url := base64.RawURLEncoding.EncodeToString([]byte(b64RawSecret))
	if std == url+"=" || std == url {
		t.Fatal("the base64 secret must differ between alphabets")
	}
	creds := []struct {
		key, alg, secret string
		pub              any
		sign             any
		consumer         *plugin.Consumer
	}{
		{"hs256", "HS256", hsSecret, nil, []byte(hsSecret), bob},
		{"hs384", "HS384", "hs384-secret", nil, []byte("hs384-secret"), bob},
		{"hs512", "HS512", "hs512-secret", nil, []byte("hs512-secret"), bob},
		{"alice-hs", "HS256", "alice-secret", nil, []byte("alice-secret"), alice},
		{"not-b64", "HS256", "not base64!", nil, []byte("not base64!"), bob},
		{"b64", "HS256", std, nil, []byte(b64RawSecret), bob},
		{"b64url", "HS256", url, nil, []byte(b64RawSecret), bob},
		{"rs256", "RS256", "", &k.rsa.PublicKey, k.rsa, bob},
		{"rs384", "RS384", "", &k.rsa.PublicKey, k.rsa, bob},
		{"rs512", "RS512", "", &k.rsa.PublicKey, k.rsa, bob},
		{"ps256", "PS256", "", &k.rsa.PublicKey, k.rsa, bob},
		{"ps384", "PS384", "", &k.rsa.PublicKey, k.rsa, bob},
		{"ps512", "PS512", "", &k.rsa.PublicKey, k.rsa, bob},
		{"es256", "ES256", "", &k.p256.PublicKey, k.p256, bob},
		{"es384", "ES384", "", &k.p384.PublicKey, k.p384, bob},
		{"es512", "ES512", "", &k.p521.PublicKey, k.p521, bob},
		{"eddsa", "EdDSA", "", k.ed.Public(), k.ed, bob},
	}
	d := &plugintest.Directory{Consumers: []*plugin.Consumer{bob, alice, nobody}, ByKind: map[string]map[string]*plugin.Credential{kindName: {}}}
	signers := map[string]signer{}
	for _, c := range creds {
		d.ByKind[kindName][c.key] = credential("cred-"+c.key, c.key, c.consumer, Credential{Secret: c.secret, Algorithm: c.alg}, c.pub)
		signers[c.key] = signer{c.alg, c.sign}
	}
	return d, signers
}

// claims are a token's payload.
type claims = map[string]any

// sign makes a token for credential key with golang-jwt: {"alg","typ"}
// headers plus extra.
func sign(t testing.TB, s signer, payload claims, extra map[string]any) string {
	t.Helper()
	tok := gojwt.NewWithClaims(gojwt.GetSigningMethod(s.alg), gojwt.MapClaims(payload))
	for k, v := range extra {
		tok.Header[k] = v
	}
	out, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forge builds a token from a header and payload of the test's choosing,
// signed with method m and key (or with the signature sig when m is nil).
func forge(t testing.TB, header, payload any, m gojwt.SigningMethod, key any, sig []byte) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(header) + "." + enc(payload)
	if m != nil {
		var err error
		if sig, err = m.Sign(signed, key); err != nil {
			t.Fatal(err)
		}
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// valid is a payload for key, valid at now for an hour.
func valid(key string) claims {
	return claims{"iss": key, "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Unix() + 3600}
}

func str(s string) *string { return &s }

func build(t testing.TB, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	i := in.(*instance)
	i.now = func() time.Time { return now }
	t.Cleanup(i.Close)
	return i, nil
}

func mustBuild(t testing.TB, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// req is one request in a test: header holds name, value pairs (repeated
// names are added).
type req struct {
	method string
	target string
	header []string
}

func newCtx(d plugin.Directory, r req) *plugin.Ctx {
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.target == "" {
		r.target = "/request"
	}
	hr := httptest.NewRequest(r.method, r.target, nil)
	for i := 0; i+1 < len(r.header); i += 2 {
		hr.Header.Add(r.header[i], r.header[i+1])
	}
	return &plugin.Ctx{Req: hr, Method: hr.Method, Path: hr.URL.Path, RawQuery: hr.URL.RawQuery,
		Directory: d, Resp: plugin.Response{Header: http.Header{}}}
}

// outcome is what a test checks: the answer, or the identity the upstream
// gets.
type outcome struct {
	Status  int
	Body    string
	WWWAuth string
	// Identity is the upstream's consumer headers.
	Identity http.Header
}

var identityHeaders = []string{"X-Consumer-Id", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"}

func run(t *testing.T, in *instance, c *plugin.Ctx) outcome {
	t.Helper()
	if err := in.Access(c); err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access error %v is not an Exit", err)
		}
		body := string(e.Body)
		if e.Body == nil {
			body = e.Message
		} else if e.ContentType != contentTypeJSON {
			t.Errorf("Content-Type %q", e.ContentType)
		}
		return outcome{Status: e.Status, Body: body, WWWAuth: e.Header.Get("WWW-Authenticate")}
	}
	o := outcome{Status: 200}
	for _, h := range identityHeaders {
		if v, ok := c.Req.Header[h]; ok {
			if o.Identity == nil {
				o.Identity = http.Header{}
			}
			o.Identity[h] = v
		}
	}
	return o
}

func identity(c *plugin.Consumer, credKey string) http.Header {
	h := http.Header{"X-Consumer-Id": {c.ID}, "X-Credential-Identifier": {credKey}}
	if c.CustomID != "" {
		h["X-Consumer-Custom-Id"] = []string{c.CustomID}
	}
	if c.Username != "" {
		h["X-Consumer-Username"] = []string{c.Username}
	}
	return h
}

var anonIdentity = http.Header{
	"X-Consumer-Id":        {"anon-id"},
	"X-Consumer-Username":  {"no-body"},
	"X-Anonymous-Consumer": {"true"},
}

// fail is a 401 with Kong's {"message":...} body.
func fail(msg string, www string) outcome {
	return outcome{Status: 401, Body: `{"message":` + quoteJSON(msg) + `}`, WWWAuth: www}
}

// claimFail is a 401 with a map of claim errors.
func claimFail(body string) outcome {
	return outcome{Status: 401, Body: body, WWWAuth: `Bearer error="invalid_token"`}
}

func quoteJSON(s string) string { return string(jsonw.AppendCJSONString(nil, s)) }

const bearerErr = `Bearer error="invalid_token"`

// credential is a jwt credential compiled as the directory holds it; pub
// stands for its parsed rsa_public_key.
func credential(id, key string, consumer *plugin.Consumer, f Credential, pub crypto.PublicKey) *plugin.Credential {
	f.Key, f.publicKey = key, pub
	c := &plugin.Credential{ID: id, Kind: name, Key: key, Consumer: consumer, Fields: &f}
	compileCredential(c, nil)
	return c
}
