package oauth2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// The consumers and clients of Kong's 03-access_spec, as a declarative
// file loads them (hash_secret hashed by the real loader).
const clients = `
consumers:
  - username: bob
    oauth2_credentials:
      - {name: testapp, client_id: clientid123, client_secret: secret123, hash_secret: true, redirect_uris: ["http://google.test/kong"]}
      - {name: testapp2, client_id: clientid789, client_secret: secret789, redirect_uris: ["http://google.test/kong?foo=bar&code=123"]}
      - {name: testapp3, client_id: clientid456, client_secret: secret456, redirect_uris: ["http://one.test/one/", "http://two.test/two"]}
      - {name: testapp311, client_id: clientid10112, client_secret: secret10112}
      - {name: public, client_id: clientid_public, client_type: public, redirect_uris: ["http://google.test/kong"]}
  - username: no-body
`

var testNow = time.Now().Truncate(time.Second)

func directory(t testing.TB) *snapshot.Directory {
	t.Helper()
	_, d, err := load(t.(*testing.T), clients)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// kongInstance builds Kong's shape with provision_key provision123 and
// the test's changes, over a fresh memory store.
func kongInstance(t *testing.T, set func(*Config)) *kong {
	t.Helper()
	reg := Registration()
	c := reg.NewConfig().(*Config)
	c.SetDefaults()
	c.ProvisionKey = "provision123"
	c.Scopes = []string{"email", "profile", "user.email"}
	c.EnableAuthorizationCode = true
	c.EnableImplicitGrant = true
	c.EnableClientCredentials = true
	c.EnablePasswordGrant = true
	if set != nil {
		set(c)
	}
	in, err := reg.New(c, plugin.Env{PluginID: "plugin-1"})
	if err != nil {
		t.Fatal(err)
	}
	k := in.(*kong)
	k.store = newTestStore(t)
	clock = testNow
	k.now = func() time.Time { return clock }
	t.Cleanup(k.Close)
	return k
}

// call is one request through the plugin's access phase.
type call struct {
	method, target string
	form           url.Values
	json           string
	header         http.Header
	http           bool // plain HTTP (the default is HTTPS)
	service        string
	// values is a form body with repeated names; ctx the request's
	// context (nil: the background).
	values url.Values
	ctx    context.Context
}

// answer is what the client (or the upstream) got.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	ctx    *plugin.Ctx
}

func (k *kong) do(t *testing.T, d plugin.Directory, cl call) answer {
	t.Helper()
	if cl.method == "" {
		cl.method = http.MethodPost
	}
	var body io.Reader
	ct := ""
	if cl.values != nil {
		cl.form = cl.values
	}
	switch {
	case cl.form != nil:
		body, ct = strings.NewReader(cl.form.Encode()), "application/x-www-form-urlencoded"
	case cl.json != "":
		body, ct = strings.NewReader(cl.json), "application/json"
	}
	r := httptest.NewRequest(cl.method, cl.target, body)
	if cl.ctx != nil {
		r = r.WithContext(cl.ctx)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for name, vs := range cl.header {
		r.Header[name] = vs
	}
	if cl.service == "" {
		cl.service = "svc-1"
	}
	c := &plugin.Ctx{Req: r, Directory: d, Scheme: "https", ClientPath: r.URL.Path, RawQuery: r.URL.RawQuery,
		Service: &plugin.ServiceInfo{ID: cl.service}}
	if cl.http {
		c.Scheme = "http"
	}
	err := k.Access(c)
	a := answer{status: http.StatusOK, ctx: c}
	if err == nil {
		return a
	}
	var x *plugin.Exit
	if !errors.As(err, &x) {
		t.Fatalf("access: %v", err)
	}
	a.status, a.header = x.Status, x.Header
	if x.Message != "" {
		a.body = map[string]any{"message": x.Message}
	} else if len(x.Body) > 0 {
		if err := json.Unmarshal(x.Body, &a.body); err != nil {
			t.Fatalf("body %q: %v", x.Body, err)
		}
	}
	return a
}

// form builds a form body; a name given again replaces the earlier value.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantBody(t *testing.T, a answer, status int, body map[string]any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (body %v)", a.status, status, a.body)
	}
	if diff := cmp.Diff(body, a.body); diff != "" {
		t.Fatalf("body (-want +got):\n%s", diff)
	}
}

func oauthErr(code, desc string) map[string]any {
	return map[string]any{"error": code, "error_description": desc}
}

// TestSchema ports Kong's 01-schema_spec accept and refuse cases.
func TestSchema(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{"mandatory_scope false needs no scopes", func(c *Config) { c.EnableAuthorizationCode = true }, nil},
		{"mandatory_scope with scopes", func(c *Config) {
			c.EnableAuthorizationCode, c.MandatoryScope, c.Scopes = true, true, []string{"email", "info"}
		}, nil},
		{"requires at least one flow", func(*Config) {}, plugin.Errors{{Path: "", Message: msgFlows}}},
		{"mandatory_scope requires scopes", func(c *Config) { c.EnableAuthorizationCode, c.MandatoryScope = true, true },
			plugin.Errors{{Path: "scopes", Message: "required field missing"}}},
		{"refresh_token_ttl too large", func(c *Config) { c.EnableAuthorizationCode, c.RefreshTokenTTL = true, 252979200 },
			plugin.Errors{{Path: "refresh_token_ttl", Message: "value should be between 0 and 100000000"}}},
		{"pkce one of", func(c *Config) { c.EnableImplicitGrant, c.PKCE = true, "sometimes" },
			plugin.Errors{{Path: "pkce", Message: "expected one of: none, lax, strict"}}},
		{"empty scope", func(c *Config) { c.EnablePasswordGrant, c.Scopes = true, []string{"a", ""} },
			plugin.Errors{{Path: "scopes[1]", Message: "length must be at least 1"}}},
		{"empty strings", func(c *Config) {
			e := ""
			c.EnableClientCredentials, c.Anonymous, c.Realm, c.AuthHeaderName = true, &e, &e, ""
		}, plugin.Errors{
			{Path: "auth_header_name", Message: "length must be at least 1"},
			{Path: "anonymous", Message: "length must be at least 1"},
			{Path: "realm", Message: "length must be at least 1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := Registration()
			c := reg.NewConfig().(*Config)
			c.SetDefaults()
			tt.set(c)
			in, err := reg.New(c, plugin.Env{})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				in.(*kong).Close()
				return
			}
			var got plugin.Errors
			if !errors.As(err, &got) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDefaults: Kong's defaults, and a generated provision_key of Kong's
// length, kept for the plugin entry while an instance of it lives.
func TestDefaults(t *testing.T) {
	reg := Registration()
	c := reg.NewConfig().(*Config)
	c.SetDefaults()
	if c.AuthHeaderName != "authorization" || c.RefreshTokenTTL != 1209600 || c.TokenExpiration != 7200 ||
		c.PKCE != "lax" || c.ReuseRefreshToken {
		t.Fatalf("defaults: %+v", c)
	}
	c.EnableClientCredentials = true
	env := plugin.Env{PluginID: "p1", Store: storeProvider()}
	a, err := reg.New(c, env)
	if err != nil {
		t.Fatal(err)
	}
	key := a.(*kong).provisionKey
	if len(key) != 32 {
		t.Fatalf("provision key %q: want 32 characters", key)
	}
	b, _ := reg.New(c, env)
	if b.(*kong).provisionKey != key {
		t.Fatal("a reload of the same plugin entry changed the provision key")
	}
	other, _ := reg.New(c, plugin.Env{PluginID: "p2", Store: env.Store})
	if other.(*kong).provisionKey == key {
		t.Fatal("two plugin entries share a provision key")
	}
	a.(*kong).Close()
	b.(*kong).Close()
	other.(*kong).Close()
	c2, _ := reg.New(c, env)
	defer c2.(*kong).Close()
	if c2.(*kong).provisionKey == key {
		t.Fatal("the key outlived every instance of its entry")
	}
}

var codeRE = regexp.MustCompile(`^http://google\.test/kong\?code=([\w-]{43})$`)

// TestAuthorize ports 03-access_spec's "OAuth2 Authorization" cases.
func TestAuthorize(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	const ep = "/oauth2/authorize"
	base := []string{"provision_key", "provision123", "authenticated_userid", "id123", "client_id", "clientid123",
		"scope", "email", "response_type", "code"}
	with := func(kv ...string) url.Values { return form(append(append([]string{}, base...), kv...)...) }
	invalidRedirect := "Invalid redirect_uri that does not match with any redirect_uri created with the application"

	wantBody(t, k.do(t, d, call{target: ep, form: form()}), 400,
		oauthErr("invalid_provision_key", "Invalid provision_key"))
	wantBody(t, k.do(t, d, call{target: ep, form: form("provision_key", "provision123")}), 400,
		oauthErr("invalid_authenticated_userid", "Missing authenticated_userid parameter"))
	wantBody(t, k.do(t, d, call{target: ep, form: form("provision_key", "provision123", "authenticated_userid", "id123")}), 400,
		oauthErr("invalid_client", "Invalid client authentication"))
	wantBody(t, k.do(t, d, call{target: ep, form: with("scope", "wot")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_scope&error_description=%22wot%22%20is%20an%20invalid%20scope"})
	wantBody(t, k.do(t, d, call{target: ep, form: form("provision_key", "provision123", "authenticated_userid", "id123",
		"client_id", "clientid123", "scope", "email", "state", "somestate")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=unsupported_response_type&error_description=Invalid%20response_type&state=somestate"})
	wantBody(t, k.do(t, d, call{target: ep, form: with("redirect_uri", "http://hello.test/")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=" + escape(invalidRedirect)})
	// Not under HTTPS, and X-Forwarded-Proto believed only from a trusted peer.
	wantBody(t, k.do(t, d, call{target: ep, form: with(), http: true}), 400, oauthErr("access_denied", "You must use HTTPS"))

	a := k.do(t, d, call{target: ep, form: with()})
	if a.status != 200 || !codeRE.MatchString(a.body["redirect_uri"].(string)) {
		t.Fatalf("code: %d %v", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Pragma") != "no-cache" {
		t.Fatalf("headers %v", a.header)
	}
	// A trailing slash, a state, the client's own query kept.
	a = k.do(t, d, call{target: ep + "/", form: with("client_id", "clientid789", "state", "hello")})
	if u := a.body["redirect_uri"].(string); !regexp.MustCompile(`^http://google\.test/kong\?code=[\w-]{43}&foo=bar&state=hello$`).MatchString(u) {
		t.Fatalf("redirect %q", u)
	}
	a = k.do(t, d, call{target: "/some/path" + ep, form: with("client_id", "clientid456", "redirect_uri", "http://two.test/two")})
	if u := a.body["redirect_uri"].(string); !strings.HasPrefix(u, "http://two.test/two?code=") {
		t.Fatalf("redirect %q", u)
	}

	// PKCE.
	wantBody(t, k.do(t, d, call{target: ep, form: with("code_challenge", "1234", "code_challenge_method", "foo")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge_method%20is%20not%20supported%2C%20must%20be%20S256"})
	wantBody(t, k.do(t, d, call{target: ep, form: with("code_challenge_method", "S256")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20when%20code_method%20is%20present"})
	wantBody(t, k.do(t, d, call{target: ep, form: with("client_id", "clientid_public")}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20for%20public%20clients"})
	strict := kongInstance(t, func(c *Config) { c.PKCE = "strict" })
	wantBody(t, strict.do(t, d, call{target: ep, form: with()}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=code_challenge%20is%20required%20for%20confidential%20clients"})
	none := kongInstance(t, func(c *Config) { c.PKCE = "none" })
	if a := none.do(t, d, call{target: ep, form: with("client_id", "clientid_public")}); a.status != 200 {
		t.Fatalf("public client without pkce, pkce none: %d %v", a.status, a.body)
	}

	// Implicit grant: the token in the fragment, no refresh token.
	a = k.do(t, d, call{target: ep, form: with("response_type", "token", "state", "s1")})
	m := regexp.MustCompile(`^http://google\.test/kong#access_token=([\w-]{43})&expires_in=7200&state=s1&token_type=bearer$`).
		FindStringSubmatch(a.body["redirect_uri"].(string))
	if m == nil {
		t.Fatalf("implicit: %v", a.body)
	}
	api := k.do(t, d, call{method: "GET", target: "/request", header: http.Header{"Authorization": {"bearer " + m[1]}}})
	if api.status != 200 {
		t.Fatalf("implicit token refused: %d %v", api.status, api.body)
	}
	h := api.ctx.Req.Header
	if h.Get("X-Consumer-Username") != "bob" || h.Get("X-Credential-Identifier") != "clientid123" ||
		h.Get("X-Authenticated-Scope") != "email" || h.Get("X-Authenticated-Userid") != "id123" {
		t.Fatalf("upstream headers %v", h)
	}
	if v, _ := api.ctx.Claims.Claim("sub"); v != "id123" {
		t.Fatalf("sub claim %q", v)
	}
}

// token gets a token from the token endpoint, failing the test otherwise.
func (k *kong) tokenFor(t *testing.T, d plugin.Directory, f url.Values) map[string]any {
	t.Helper()
	a := k.do(t, d, call{target: "/oauth2/token", form: f})
	if a.status != 200 {
		t.Fatalf("token: %d %v", a.status, a.body)
	}
	return a.body
}

// code gets an authorization code for clientid123 (or the client named).
func (k *kong) code(t *testing.T, d plugin.Directory, kv ...string) string {
	t.Helper()
	f := form(append([]string{"provision_key", "provision123", "authenticated_userid", "userid123",
		"client_id", "clientid123", "scope", "email", "response_type", "code"}, kv...)...)
	a := k.do(t, d, call{target: "/oauth2/authorize", form: f})
	u, err := url.Parse(a.body["redirect_uri"].(string))
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v", a.status, a.body)
	}
	return u.Query().Get("code")
}

// TestTokenEndpoint ports 03-access_spec's "OAuth2 Access Token",
// "Client Credentials" and "Password Grant" cases.
func TestTokenEndpoint(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	const ep = "/oauth2/token"
	invalidClient := oauthErr("invalid_client", "Invalid client authentication")

	a := k.do(t, d, call{method: "GET", target: ep + "?client_id&grant_type=client_credentials&client_secret"})
	wantBody(t, a, 405, oauthErr("invalid_method", "The HTTP method GET is invalid for the token endpoint"))
	if got := a.header.Get("Www-Authenticate"); got != `Bearer error="invalid_method", error_description="The HTTP method GET is invalid for the token endpoint"` {
		t.Fatalf("challenge %q", got)
	}
	wantBody(t, k.do(t, d, call{target: ep, json: `{}`}), 400, invalidClient)
	wantBody(t, k.do(t, d, call{target: ep, json: `{"client_id":"clientid123","scope":"email","response_type":"token"}`}), 400, invalidClient)
	wantBody(t, k.do(t, d, call{target: ep, json: `{"client_id":"","client_secret":"","grant_type":"client_credentials"}`}), 400, invalidClient)
	wantBody(t, k.do(t, d, call{target: ep, form: form("client_id", "clientid123", "client_secret", "secret123")}), 400,
		oauthErr("unsupported_grant_type", "Invalid grant_type"))
	wantBody(t, k.do(t, d, call{target: ep, http: true, form: form("client_id", "clientid123", "client_secret", "secret123",
		"grant_type", "client_credentials")}), 400, oauthErr("access_denied", "You must use HTTPS"))

	// Client credentials: provision_key when an authenticated_userid is set.
	cc := []string{"client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials", "scope", "email"}
	wantBody(t, k.do(t, d, call{target: ep, form: form(append(cc, "authenticated_userid", "user123")...)}), 400,
		oauthErr("invalid_provision_key", "Invalid provision_key"))
	wantBody(t, k.do(t, d, call{target: ep, form: form(append(cc, "authenticated_userid", "user123", "provision_key", "nope")...)}), 400,
		oauthErr("invalid_provision_key", "Invalid provision_key"))
	body := k.tokenFor(t, d, form(cc...))
	if body["token_type"] != "bearer" || body["expires_in"] != 7200.0 || len(body["access_token"].(string)) != 43 || body["refresh_token"] != nil {
		t.Fatalf("client credentials token %v", body)
	}
	k.tokenFor(t, d, form("client_id", "clientid10112", "client_secret", "secret10112", "grant_type", "client_credentials"))
	k.tokenFor(t, d, form("client_id", "clientid456", "client_secret", "secret456", "grant_type", "client_credentials",
		"redirect_uri", "http://two.test/two"))

	// Basic authentication: a wrong secret is a 401 with a Basic challenge.
	basic := func(id, secret string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}}
	}
	a = k.do(t, d, call{target: ep, header: basic("clientid123", "secret123"), form: form("grant_type", "client_credentials")})
	if a.status != 200 {
		t.Fatalf("basic: %d %v", a.status, a.body)
	}
	a = k.do(t, d, call{target: ep, header: basic("clientid123", "wrong"), form: form("grant_type", "client_credentials")})
	wantBody(t, a, 401, invalidClient)
	if a.header.Get("Www-Authenticate") != `Basic realm="OAuth2.0"` {
		t.Fatalf("challenge %v", a.header)
	}

	// Password grant.
	pw := []string{"client_id", "clientid123", "client_secret", "secret123", "grant_type", "password", "scope", "email"}
	wantBody(t, k.do(t, d, call{target: ep, form: form(pw...)}), 400, oauthErr("invalid_provision_key", "Invalid provision_key"))
	wantBody(t, k.do(t, d, call{target: ep, form: form(append(pw, "provision_key", "provision123")...)}), 400,
		oauthErr("invalid_authenticated_userid", "Missing authenticated_userid parameter"))
	body = k.tokenFor(t, d, form(append(pw, "provision_key", "provision123", "authenticated_userid", "id123", "state", "st")...))
	if body["refresh_token"] == nil || body["state"] != "st" {
		t.Fatalf("password token %v", body)
	}

	// Authorization code.
	wantBody(t, k.do(t, d, call{target: ep, form: form("code", "x", "client_id", "clientid123", "client_secret", "secret123",
		"grant_type", "authorization_code")}), 400, oauthErr("invalid_request", "Invalid code"))
	code := k.code(t, d)
	wantBody(t, k.do(t, d, call{target: ep, form: form("code", code, "client_id", "clientid789", "client_secret", "secret789",
		"grant_type", "authorization_code")}), 400, oauthErr("invalid_request", "Invalid code"))
	code = k.code(t, d)
	wantBody(t, k.do(t, d, call{target: ep, service: "svc-2", form: form("code", code, "client_id", "clientid123",
		"client_secret", "secret123", "grant_type", "authorization_code")}), 400, oauthErr("invalid_request", "Invalid code"))
	code = k.code(t, d)
	cf := form("code", code, "client_id", "clientid123", "client_secret", "secret123", "grant_type", "authorization_code", "state", "wot")
	body = k.tokenFor(t, d, cf)
	if body["refresh_token"] == nil || body["state"] != "wot" || body["expires_in"] != 7200.0 {
		t.Fatalf("code token %v", body)
	}
	wantBody(t, k.do(t, d, call{target: ep, form: cf}), 400, map[string]any{
		"error": "invalid_request", "error_description": "Invalid code", "state": "wot"})
}

// TestPKCE ports the code verifier cases.
func TestPKCE(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	exchange := func(code string, kv ...string) answer {
		return k.do(t, d, call{target: "/oauth2/token", form: form(append([]string{"code", code,
			"client_id", "clientid_public", "grant_type", "authorization_code"}, kv...)...)})
	}
	pub := func() string {
		return k.code(t, d, "client_id", "clientid_public", "code_challenge", challenge+"=")
	}
	wantBody(t, exchange(pub()), 400, oauthErr("invalid_request", "code_verifier is required for PKCE authorization requests"))
	wantBody(t, exchange(pub(), "code_verifier", "short"), 400, oauthErr("invalid_request", "code_verifier must be between 43 and 128 characters"))
	wantBody(t, exchange(pub(), "code_verifier", strings.Repeat("v", 129)), 400, oauthErr("invalid_request", "code_verifier must be between 43 and 128 characters"))
	wantBody(t, exchange(pub(), "code_verifier", strings.Repeat("w", 50)), 400, oauthErr("invalid_grant", "Invalid code"))
	wantBody(t, exchange(pub(), "code_verifier", verifier, "client_secret", "x"), 400,
		oauthErr("invalid_request", "client_secret is disallowed for public clients"))
	if a := exchange(pub(), "code_verifier", verifier); a.status != 200 {
		t.Fatalf("verifier refused: %d %v", a.status, a.body)
	}
	// A confidential client that sent a challenge must send its verifier.
	code := k.code(t, d, "code_challenge", challenge)
	wantBody(t, k.do(t, d, call{target: "/oauth2/token", form: form("code", code, "client_id", "clientid123",
		"client_secret", "secret123", "grant_type", "authorization_code")}), 400,
		oauthErr("invalid_request", "code_verifier is required for PKCE authorization requests"))
}

// TestRefresh ports the "Refresh Token" cases.
func TestRefresh(t *testing.T) {
	d := directory(t)
	for _, reuse := range []bool{false, true} {
		k := kongInstance(t, func(c *Config) { c.ReuseRefreshToken = reuse })
		first := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "password",
			"provision_key", "provision123", "authenticated_userid", "u1", "scope", "email"))
		rt := first["refresh_token"].(string)
		wantBody(t, k.do(t, d, call{target: "/oauth2/token", form: form("client_id", "clientid123", "client_secret", "secret123",
			"grant_type", "refresh_token", "refresh_token", "nope")}), 400, oauthErr("invalid_request", "Invalid refresh_token"))
		wantBody(t, k.do(t, d, call{target: "/oauth2/token", form: form("client_id", "clientid789", "client_secret", "secret789",
			"grant_type", "refresh_token", "refresh_token", rt)}), 400, oauthErr("invalid_client", "Invalid client authentication"))
		next := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "refresh_token",
			"refresh_token", rt))
		if next["access_token"] == first["access_token"] || (next["refresh_token"] == rt) != reuse {
			t.Fatalf("reuse %v: first %v next %v", reuse, first, next)
		}
		old := k.do(t, d, call{method: "GET", target: "/request", header: http.Header{"Authorization": {"Bearer " + first["access_token"].(string)}}})
		wantBody(t, old, 401, oauthErr("invalid_token", "The access token is invalid or has expired"))
		if a := k.do(t, d, call{method: "GET", target: "/request?access_token=" + next["access_token"].(string)}); a.status != 200 {
			t.Fatalf("refreshed token refused: %v", a.body)
		}
		// A refresh token is spent by its use, unless it is reused
		// (then it is the new token's).
		again := k.do(t, d, call{target: "/oauth2/token", form: form("client_id", "clientid123", "client_secret", "secret123",
			"grant_type", "refresh_token", "refresh_token", rt)})
		if reuse {
			if again.status != 200 {
				t.Fatalf("reused refresh token refused: %d %v", again.status, again.body)
			}
		} else {
			wantBody(t, again, 400, oauthErr("invalid_request", "Invalid refresh_token"))
		}
	}
	// A token with a scope the plugin no longer has cannot be refreshed.
	k := kongInstance(t, nil)
	first := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "password",
		"provision_key", "provision123", "authenticated_userid", "u1", "scope", "email profile"))
	k.scopes = map[string]struct{}{"email": {}}
	wantBody(t, k.do(t, d, call{target: "/oauth2/token", form: form("client_id", "clientid123", "client_secret", "secret123",
		"grant_type", "refresh_token", "refresh_token", first["refresh_token"].(string))}), 400, oauthErr("invalid_scope", "Scope mismatch"))
}

// TestAccess ports "Making a request", "Authentication challenge",
// "Global Credentials" and "Hide Credentials".
func TestAccess(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	tok := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials"))["access_token"].(string)
	invalid := oauthErr("invalid_token", "The access token is invalid or has expired")
	const challenge = `Bearer error="invalid_token", error_description="The access token is invalid or has expired"`

	a := k.do(t, d, call{target: "/request"})
	wantBody(t, a, 401, oauthErr("invalid_request", "The access token is missing"))
	if a.header.Get("Www-Authenticate") != "Bearer" {
		t.Fatalf("challenge %v", a.header)
	}
	a = k.do(t, d, call{method: "GET", target: "/request?access_token=invalid"})
	wantBody(t, a, 401, invalid)
	if a.header.Get("Www-Authenticate") != challenge {
		t.Fatalf("challenge %v", a.header)
	}
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer invalid"}}}), 401, invalid)
	wantBody(t, k.do(t, d, call{target: "/request", json: `{"access_token":"` + tok + `"}`}), 200, nil)
	wantBody(t, k.do(t, d, call{target: "/request", form: form("access_token", tok)}), 200, nil)
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"token " + tok}}}), 200, nil)
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + tok}}, service: "svc-2"}), 401, invalid)
	wantBody(t, k.do(t, d, call{target: "/request", json: `{"access_token":1}`}), 401, oauthErr("invalid_request", "The access token is missing"))

	realm := "test-oauth2"
	custom := kongInstance(t, func(c *Config) { c.AuthHeaderName, c.Realm = "custom_header_name", &realm })
	custom.store = k.store
	wantBody(t, custom.do(t, d, call{target: "/request", header: http.Header{"Custom_header_name": {"bearer " + tok, "x"}}}), 200, nil)
	a = custom.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + tok}}})
	if a.status != 401 || a.header.Get("Www-Authenticate") != `Bearer realm="test-oauth2"` {
		t.Fatalf("wrong header: %d %v", a.status, a.header)
	}

	// Expiry: a token is refused once token_expiration has passed.
	clock = testNow.Add(7201 * time.Second)
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + tok}}}), 401, invalid)
	clock = testNow

	// A global token is refused by a plugin without global_credentials,
	// and accepted on any service by one with.
	global := kongInstance(t, func(c *Config) { c.GlobalCredentials = true })
	global.store = k.store
	gt := global.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials"))["access_token"].(string)
	wantBody(t, global.do(t, d, call{target: "/request", service: "svc-9", header: http.Header{"Authorization": {"bearer " + gt}}}), 200, nil)
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + gt}}}), 401,
		oauthErr("invalid_token", "The access token is global, but the current plugin is configured without 'global_credentials'"))
	wantBody(t, global.do(t, d, call{target: "/request", service: "svc-2", header: http.Header{"Authorization": {"bearer " + tok}}}), 401, invalid)

	// Anonymous: a failure goes on as the anonymous consumer.
	anon := "no-body"
	an := kongInstance(t, func(c *Config) { c.Anonymous = &anon })
	a = an.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer nope"}}})
	if a.status != 200 || a.ctx.Req.Header.Get("X-Consumer-Username") != "no-body" || a.ctx.Req.Header.Get("X-Anonymous-Consumer") != "true" {
		t.Fatalf("anonymous: %d %v", a.status, a.ctx.Req.Header)
	}
	missing := "ghost"
	gh := kongInstance(t, func(c *Config) { c.Anonymous = &missing })
	wantBody(t, gh.do(t, d, call{target: "/request"}), 500, map[string]any{"message": "anonymous consumer ghost is configured but doesn't exist"})
}

// TestHideCredentials: the token leaves the upstream request only with
// hide_credentials.
func TestHideCredentials(t *testing.T) {
	d := directory(t)
	for _, hide := range []bool{false, true} {
		k := kongInstance(t, func(c *Config) { c.HideCredentials = hide })
		tok := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials"))["access_token"].(string)
		a := k.do(t, d, call{method: "GET", target: "/request?access_token=" + tok + "&foo=bar"})
		if strings.Contains(a.ctx.RawQuery, tok) == hide || !strings.Contains(a.ctx.RawQuery, "foo=bar") {
			t.Fatalf("hide %v: query %q", hide, a.ctx.RawQuery)
		}
		a = k.do(t, d, call{target: "/request", form: form("access_token", tok, "foo", "bar")})
		b, _ := io.ReadAll(a.ctx.Req.Body)
		if strings.Contains(string(b), tok) == hide || !strings.Contains(string(b), "foo=bar") || a.ctx.Req.ContentLength != int64(len(b)) {
			t.Fatalf("hide %v: body %q (length %d)", hide, b, a.ctx.Req.ContentLength)
		}
		a = k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + tok}}})
		if (a.ctx.Req.Header.Get("Authorization") == "") != hide {
			t.Fatalf("hide %v: header %v", hide, a.ctx.Req.Header)
		}
	}
}

// TestHTTPSBehindProxy: accept_http_if_already_terminated believes a
// trusted peer's single X-Forwarded-Proto, and nobody else's.
func TestHTTPSBehindProxy(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, func(c *Config) { c.AcceptHTTPIfAlreadyTerminated = true })
	f := form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials")
	xfp := http.Header{"X-Forwarded-Proto": {"https"}}
	denied := oauthErr("access_denied", "You must use HTTPS")
	run := func(h http.Header, trusted bool) answer {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for n, v := range h {
			r.Header[n] = v
		}
		c := &plugin.Ctx{Req: r, Directory: d, Scheme: "http", ClientPath: r.URL.Path, TrustedPeer: trusted,
			Service: &plugin.ServiceInfo{ID: "svc-1"}}
		var x *plugin.Exit
		errors.As(k.Access(c), &x)
		a := answer{status: x.Status}
		_ = json.Unmarshal(x.Body, &a.body)
		return a
	}
	if a := run(xfp, true); a.status != 200 {
		t.Fatalf("trusted proxy: %v", a.body)
	}
	wantBody(t, run(xfp, false), 400, denied)
	wantBody(t, run(nil, true), 400, denied)
	wantBody(t, run(http.Header{"X-Forwarded-Proto": {"https, http"}}, true), 400,
		oauthErr("access_denied", "Only one X-Forwarded-Proto header allowed"))
}

// TestRevokeIntrospect covers the RFC 7009 and RFC 7662 endpoints: a
// client sees and revokes only its own tokens.
func TestRevokeIntrospect(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	tok := k.tokenFor(t, d, form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "password",
		"provision_key", "provision123", "authenticated_userid", "u1", "scope", "email"))
	access := tok["access_token"].(string)
	intro := func(id, secret, token string) answer {
		return k.do(t, d, call{target: "/oauth2/introspect", form: form("client_id", id, "client_secret", secret, "token", token)})
	}
	a := intro("clientid123", "secret123", access)
	if a.status != 200 || a.body["active"] != true || a.body["scope"] != "email" || a.body["sub"] != "u1" ||
		a.body["client_id"] != "clientid123" || a.body["exp"] != float64(testNow.Unix()+7200) {
		t.Fatalf("introspection %d %v", a.status, a.body)
	}
	wantBody(t, intro("clientid789", "secret789", access), 200, map[string]any{"active": false})
	wantBody(t, intro("clientid123", "wrong", access), 400, oauthErr("invalid_client", "Invalid client authentication"))

	revoke := func(id, secret, token string) answer {
		return k.do(t, d, call{target: "/oauth2/revoke", form: form("client_id", id, "client_secret", secret, "token", token)})
	}
	if a := revoke("clientid789", "secret789", access); a.status != 200 {
		t.Fatalf("revoke by another client: %d", a.status)
	}
	if a := intro("clientid123", "secret123", access); a.body["active"] != true {
		t.Fatal("another client revoked the token")
	}
	if a := revoke("clientid123", "secret123", tok["refresh_token"].(string)); a.status != 200 {
		t.Fatalf("revoke: %d %v", a.status, a.body)
	}
	wantBody(t, intro("clientid123", "secret123", access), 200, map[string]any{"active": false})
	wantBody(t, k.do(t, d, call{target: "/request", header: http.Header{"Authorization": {"bearer " + access}}}), 401,
		oauthErr("invalid_token", "The access token is invalid or has expired"))
}

// TestCredentialRemoved ports 04-invalidations_spec: a token stops
// working when its credential leaves the configuration.
func TestCredentialRemoved(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	tok := k.tokenFor(t, d, form("client_id", "clientid456", "client_secret", "secret456", "grant_type", "client_credentials"))["access_token"].(string)
	h := http.Header{"Authorization": {"bearer " + tok}}
	wantBody(t, k.do(t, d, call{target: "/request", header: h}), 200, nil)
	_, next, err := load(t, strings.Replace(clients, "clientid456", "clientid457", 1))
	if err != nil {
		t.Fatal(err)
	}
	wantBody(t, k.do(t, next, call{target: "/request", header: h}), 401, oauthErr("invalid_token", "The access token is invalid or has expired"))
}

// TestSecrets: logs redact the token's header and the endpoints' secret
// arguments on every route.
func TestSecrets(t *testing.T) {
	c := Registration().NewConfig().(*Config)
	c.SetDefaults()
	c.AuthHeaderName = "x-token"
	h, q := Registration().Secrets(c)
	if diff := cmp.Diff([]string{"x-token"}, h); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"access_token", "client_secret", "refresh_token", "code_verifier", "provision_key"}, q); diff != "" {
		t.Error(diff)
	}
}

// TestStoreFull: a client at its share of the store, or a full store, is
// answered 503 with a Retry-After, never a token that does not work, and
// a client at its share leaves room for the others.
func TestStoreFull(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	m := tokens.NewMemory(2, 1, 1, func() time.Time { return clock })
	t.Cleanup(func() { m.Close() })
	k.store = m
	f := form("client_id", "clientid123", "client_secret", "secret123", "grant_type", "client_credentials")
	other := form("client_id", "clientid456", "client_secret", "secret456", "grant_type", "client_credentials")
	full := oauthErr("temporarily_unavailable", "The token store is full, try again later")
	k.tokenFor(t, d, f)
	a := k.do(t, d, call{target: "/oauth2/token", form: f})
	wantBody(t, a, 503, full)
	if a.header.Get("Retry-After") != "60" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", a.header)
	}
	k.tokenFor(t, d, other)
	a = k.do(t, d, call{target: "/oauth2/token", form: form("client_id", "clientid789", "client_secret", "secret789",
		"grant_type", "client_credentials")})
	wantBody(t, a, 503, full)
	// The implicit grant and the code store answer alike.
	a = k.do(t, d, call{target: "/oauth2/authorize", form: form("provision_key", "provision123", "authenticated_userid", "u",
		"client_id", "clientid123", "response_type", "token")})
	wantBody(t, a, 503, full)
}

// TestRequestShapes ports the cases on how parameters arrive: JSON
// values that are not strings, multipart bodies, a public client named
// by a Basic header with or without ':' and a secret.
func TestRequestShapes(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	for _, scope := range []string{`["email"]`, `123`, `false`} {
		wantBody(t, k.do(t, d, call{target: "/oauth2/token", json: `{"provision_key":"provision123","authenticated_userid":"id123",` +
			`"client_id":"clientid123","client_secret":"secret123","grant_type":"password","scope":` + scope + `}`}), 400,
			oauthErr("invalid_scope", "scope must be a string"))
	}

	multipart := func(target string, kv ...string) answer {
		var b strings.Builder
		for i := 0; i+1 < len(kv); i += 2 {
			b.WriteString("--XYZ\r\nContent-Disposition: form-data; name=\"" + kv[i] + "\"\r\n\r\n" + kv[i+1] + "\r\n")
		}
		b.WriteString("--XYZ--\r\n")
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(b.String()))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=XYZ")
		c := &plugin.Ctx{Req: r, Directory: d, Scheme: "https", ClientPath: r.URL.Path, Service: &plugin.ServiceInfo{ID: "svc-1"}}
		a := answer{status: 200, ctx: c}
		var x *plugin.Exit
		if errors.As(k.Access(c), &x) {
			a.status = x.Status
			_ = json.Unmarshal(x.Body, &a.body)
		}
		return a
	}
	a := multipart("/oauth2/token", "client_id", "clientid123", "client_secret", "secret123", "scope", "email",
		"grant_type", "client_credentials", "authenticated_userid", "hello", "provision_key", "provision123")
	if a.status != 200 {
		t.Fatalf("multipart token: %d %v", a.status, a.body)
	}
	if b := multipart("/request", "access_token", a.body["access_token"].(string)); b.status != 200 {
		t.Fatalf("multipart access: %d %v", b.status, b.body)
	}

	verifier := strings.Repeat("p", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	basic := func(v string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(v))}}
	}
	for _, cred := range []string{"clientid_public", "clientid_public:"} {
		code := k.code(t, d, "client_id", "clientid_public", "code_challenge", challenge)
		a := k.do(t, d, call{target: "/oauth2/token", header: basic(cred), json: `{"code":"` + code +
			`","grant_type":"authorization_code","code_verifier":"` + verifier + `"}`})
		if a.status != 200 || a.body["refresh_token"] == nil {
			t.Fatalf("public client by Basic %q: %d %v", cred, a.status, a.body)
		}
	}
	code := k.code(t, d, "client_id", "clientid_public", "code_challenge", challenge)
	wantBody(t, k.do(t, d, call{target: "/oauth2/token", header: basic("clientid_public:secret"), json: `{"code":"` + code +
		`","grant_type":"authorization_code","code_verifier":"` + verifier + `"}`}), 400,
		oauthErr("invalid_request", "client_secret is disallowed for public clients"))
}

// TestHostileBodies: malformed and oversized bodies are read as having
// no parameters, never a panic, and reach the upstream as sent.
func TestHostileBodies(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	big := "access_token=" + strings.Repeat("a", external.MaxBodyBytes)
	for _, tc := range []struct{ ct, body string }{
		{"application/json", `{"access_token":`},
		{"application/json", `["access_token"]`},
		{"multipart/form-data; boundary=", "--\r\n"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nabc"},
		{"application/x-www-form-urlencoded", "%%%&&&==&access_token"},
		{"application/x-www-form-urlencoded", big},
	} {
		r := httptest.NewRequest(http.MethodPost, "/request", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.ct)
		c := &plugin.Ctx{Req: r, Directory: d, Scheme: "https", ClientPath: "/request", Service: &plugin.ServiceInfo{ID: "svc-1"}}
		var x *plugin.Exit
		if !errors.As(k.Access(c), &x) || x.Status != 401 || !strings.Contains(string(x.Body), "The access token is missing") {
			t.Errorf("%s %.40q: %v", tc.ct, tc.body, x)
		}
		if b, _ := io.ReadAll(c.Req.Body); string(b) != tc.body {
			t.Errorf("%s %.40q: the upstream gets %d bytes, want %d", tc.ct, tc.body, len(b), len(tc.body))
		}
	}
	// The token endpoint reads an oversized body as no parameters.
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&client_id=clientid123&client_secret=secret123&x="+strings.Repeat("a", external.MaxBodyBytes)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &plugin.Ctx{Req: r, Directory: d, Scheme: "https", ClientPath: "/oauth2/token", Service: &plugin.ServiceInfo{ID: "svc-1"}}
	var x *plugin.Exit
	if !errors.As(k.Access(c), &x) || x.Status != 400 || !strings.Contains(string(x.Body), "invalid_client") {
		t.Errorf("oversized token request: %v %s", x, x.Body)
	}
}
