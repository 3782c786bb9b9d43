package jwt

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "jwt" || reg.Priority != 1450 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	want := &Config{
		URIParamNames: []string{"jwt"}, CookieNames: []string{}, HeaderNames: []string{"authorization"},
		KeyClaimName: "iss", RunOnPreflight: true, TokenCacheSize: 10000,
		JWKSRefreshInterval: 3600, JWKSUnknownKIDInterval: 300, JWKSTimeout: 5,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "defaults"},
		{name: "patterns guide", set: func(c *Config) {
			c.URIParamNames, c.CookieNames, c.HeaderNames = []string{"jwt"}, []string{}, []string{"Authorization"}
			c.ClaimsToVerify, c.MaximumExpiration, c.RunOnPreflight = []string{"exp"}, 3600, true
		}},
		{name: "maximum expiration needs exp", set: func(c *Config) { c.ClaimsToVerify, c.MaximumExpiration = []string{"nbf"}, 60 },
			want: plugin.Errors{{Path: "claims_to_verify", Message: "expected to contain: exp"}}},
		{name: "maximum expiration range", set: func(c *Config) { c.ClaimsToVerify, c.MaximumExpiration = []string{"exp", "nbf"}, -1 },
			want: plugin.Errors{{Path: "maximum_expiration", Message: "value should be between 0 and 31536000"}}},
		{name: "maximum expiration too large", set: func(c *Config) { c.ClaimsToVerify, c.MaximumExpiration = []string{"exp"}, 31536001 },
			want: plugin.Errors{{Path: "maximum_expiration", Message: "value should be between 0 and 31536000"}}},
		{name: "unknown claim", set: func(c *Config) { c.ClaimsToVerify = []string{"exp", "iat"} },
			want: plugin.Errors{{Path: "claims_to_verify[1]", Message: "expected one of: exp, nbf"}}},
		{name: "empty strings", set: func(c *Config) {
			c.URIParamNames, c.CookieNames, c.HeaderNames = []string{""}, []string{"a", ""}, []string{""}
			c.KeyClaimName, c.Anonymous, c.Realm = "", str(""), str("")
		}, want: plugin.Errors{
			{Path: "uri_param_names[0]", Message: "length must be at least 1"},
			{Path: "cookie_names[1]", Message: "length must be at least 1"},
			{Path: "header_names[0]", Message: "length must be at least 1"},
			{Path: "key_claim_name", Message: "length must be at least 1"},
			{Path: "anonymous", Message: "length must be at least 1"},
			{Path: "realm", Message: "length must be at least 1"},
		}},
		{name: "claims to headers", set: func(c *Config) {
			c.ClaimsToHeaders = []ClaimHeader{
				{Claim: "sub", Header: "X-User-Id"}, {Claim: "", Header: "X-A"}, {Claim: "a", Header: ""},
				{Claim: "a", Header: "a b"}, {Claim: "a", Header: "x-consumer-id"}, {Claim: "a", Header: "content-length"},
				{Claim: "email", Header: "x-user-id"}, {Claim: "ip", Header: "X-Forwarded-For"},
			}
		}, want: plugin.Errors{
			{Path: "claims_to_headers[1].claim", Message: "required field missing"},
			{Path: "claims_to_headers[2].header", Message: "required field missing"},
			{Path: "claims_to_headers[3].header", Message: "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
			{Path: "claims_to_headers[4].header", Message: "'x-consumer-id' cannot be set from a claim"},
			{Path: "claims_to_headers[5].header", Message: "'content-length' cannot be set from a claim"},
			{Path: "claims_to_headers[6].header", Message: "duplicate header 'x-user-id'"},
			{Path: "claims_to_headers[7].header", Message: "'X-Forwarded-For' cannot be set from a claim"},
		}},
		{name: "turnpike ranges", set: func(c *Config) {
			c.TokenCacheSize, c.JWKSRefreshInterval, c.JWKSUnknownKIDInterval, c.JWKSTimeout = -1, 0, 0, 61
		}, want: plugin.Errors{
			{Path: "token_cache_size", Message: "value should be between 0 and 1000000"},
			{Path: "jwks_refresh_interval", Message: "value should be between 1 and 604800"},
			{Path: "jwks_unknown_kid_refresh_interval", Message: "value should be between 1 and 86400"},
			{Path: "jwks_timeout", Message: "value should be between 1 and 60"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// The scenarios of Kong's spec/03-plugins/16-jwt/03-access_spec.lua, with
// each of the plugin configs of its routes.
func TestAccess(t *testing.T) {
	dir, signers := newDir(t)
	k := keys(t)
	tok := func(key string, payload claims) string { return sign(t, signers[key], payload, nil) }
	bearer := func(s string) []string { return []string{"Authorization", "Bearer " + s} }
	hs := tok("hs256", valid("hs256"))

	noIss := valid("")
	delete(noIss, "iss")
	wrongSig := sign(t, signer{"HS256", []byte("foo")}, valid("hs256"), nil)
	// Kong's "alg does not match": the header says RS256, the token is
	// signed with the HS256 credential's secret.
	algMismatch := forge(t, map[string]any{"typ": "JWT", "alg": "RS256"}, valid("hs256"), gojwt.SigningMethodHS256, []byte(hsSecret), nil)
	kid := sign(t, signers["alice-hs"], claims{"exp": now.Unix() + 3600}, map[string]any{"kid": "alice-hs"})
	aud := valid("nobody-knows")
	aud["aud"] = "hs256"

	cookieCfg := func(c *Config) { c.CookieNames, c.Realm = []string{"silly", "crumble"}, str("test-jwt") }
	const realmErr = `Bearer realm="test-jwt", error="invalid_token"`
	maxExp := func(c *Config) { c.ClaimsToVerify, c.MaximumExpiration = []string{"nbf", "exp"}, 300 }
	claimsCfg := func(c *Config) { c.ClaimsToVerify = []string{"nbf", "exp"} }

	tests := []struct {
		name string
		set  func(*Config)
		req  req
		want outcome
	}{
		// refusals
		{name: "no token", req: req{}, want: fail("Unauthorized", "Bearer")},
		{name: "no iss", req: req{header: bearer(tok("hs256", noIss))}, want: fail("No mandatory 'iss' in claims", bearerErr)},
		{name: "empty iss", req: req{header: bearer(tok("hs256", valid("")))}, want: fail("Invalid 'iss' in claims", bearerErr)},
		{name: "unknown iss", req: req{header: bearer(tok("hs256", valid("123456789")))}, want: fail("No credentials found for given 'iss'", bearerErr)},
		{name: "invalid signature", req: req{header: bearer(wrongSig)}, want: fail("Invalid signature", bearerErr)},
		{name: "alg does not match the credential", req: req{header: bearer(algMismatch)}, want: fail("Invalid algorithm", bearerErr)},
		{name: "preflight skipped", set: func(c *Config) { c.RunOnPreflight = false }, req: req{method: http.MethodOptions}, want: outcome{Status: 200}},
		{name: "preflight authenticated", req: req{method: http.MethodOptions}, want: fail("Unauthorized", "Bearer")},
		{name: "exceeds maximum expiration", set: maxExp,
			req:  req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix() + 3600, "nbf": now.Unix() - 30})},
			want: claimFail(`{"exp":"exceeds maximum allowed expiration"}`)},
		{name: "within maximum expiration", set: maxExp,
			req:  req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix() + 270, "nbf": now.Unix() - 30})},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "multiple different tokens", req: req{target: "/request?jwt=" + hs, header: bearer("invalid.jwt.token")},
			want: fail("Multiple tokens provided", bearerErr)},
		{name: "the same token twice", req: req{target: "/request?jwt=" + hs, header: bearer(hs)},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "query flag", req: req{target: "/request?jwt"}, want: fail("Unrecognizable token", bearerErr)},
		{name: "query flag and a token", req: req{target: "/request?jwt&jwt=" + hs}, want: fail("Multiple tokens provided", bearerErr)},
		{name: "empty query value", req: req{target: "/request?jwt="}, want: fail("Unauthorized", "Bearer")},

		// HS256
		{name: "HS256", req: req{header: bearer(hs)}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "key in the JOSE header", set: func(c *Config) { c.KeyClaimName = "kid" }, req: req{header: bearer(kid)},
			want: outcome{Status: 200, Identity: identity(alice, "alice-hs")}},
		{name: "key in another claim", set: func(c *Config) { c.KeyClaimName = "aud" }, req: req{header: bearer(tok("hs256", aud))},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "base64 secret", set: func(c *Config) { c.SecretIsBase64 = true }, req: req{header: bearer(tok("b64", valid("b64")))},
			want: outcome{Status: 200, Identity: identity(bob, "b64")}},
		{name: "base64url secret", set: func(c *Config) { c.SecretIsBase64 = true }, req: req{header: bearer(tok("b64url", valid("b64url")))},
			want: outcome{Status: 200, Identity: identity(bob, "b64url")}},
		{name: "secret not base64", set: func(c *Config) { c.SecretIsBase64 = true }, req: req{header: bearer(tok("not-b64", valid("not-b64")))},
			want: fail("Invalid key/secret", bearerErr)},
		{name: "base64 does not apply to public keys", set: func(c *Config) { c.SecretIsBase64 = true }, req: req{header: bearer(tok("rs256", valid("rs256")))},
			want: outcome{Status: 200, Identity: identity(bob, "rs256")}},
		{name: "cookie crumble", set: cookieCfg, req: req{header: []string{"Cookie", "crumble=" + hs + "; path=/;domain=.jwt9.test"}},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "cookie silly", set: cookieCfg, req: req{header: []string{"Cookie", "silly=" + hs + "; path=/;domain=.jwt9.test"}},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "cookie without credential", set: cookieCfg, req: req{header: []string{"Cookie", "silly=" + tok("hs256", valid("incorrect-issuer")) + "; path=/"}},
			want: fail("No credentials found for given 'iss'", realmErr)},
		{name: "corrupted cookie", set: cookieCfg, req: req{header: []string{"Cookie", "silly=no-way-this-works" + hs + "; path=/"}},
			want: fail("Bad token; invalid JSON", realmErr)},
		{name: "header with cookies configured", set: cookieCfg, req: req{header: bearer(hs)}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "nothing with a realm", set: cookieCfg, req: req{}, want: fail("Unauthorized", `Bearer realm="test-jwt"`)},
		{name: "custom header", set: func(c *Config) { c.HeaderNames = []string{"CustomAuthorization"} },
			req: req{header: []string{"CustomAuthorization", "Bearer " + hs}}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "first of a repeated header", set: func(c *Config) { c.HeaderNames = []string{"CustomAuthorization"} },
			req:  req{header: []string{"CustomAuthorization", "Bearer " + hs, "CustomAuthorization", "Bearer other-token"}},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		// Kong's jwt handler reads header_names from
		// kong.request.get_headers(): the spelling as configured first,
		// then with '-' for '_'.
		{name: "header name with an underscore", set: func(c *Config) { c.HeaderNames = []string{"x_token"} },
			req: req{header: []string{"X_TOKEN", "Bearer " + hs}}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "header name with an underscore, dashed header", set: func(c *Config) { c.HeaderNames = []string{"x_token"} },
			req: req{header: []string{"X-Token", "Bearer " + hs}}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "dashed header name, underscore header", set: func(c *Config) { c.HeaderNames = []string{"x-token"} },
			req: req{header: []string{"x_token", "Bearer " + hs}}, want: fail("Unauthorized", "Bearer")},
		{name: "custom header only", set: func(c *Config) { c.HeaderNames = []string{"CustomAuthorization"} },
			req: req{header: bearer(hs)}, want: fail("Unauthorized", "Bearer")},
		{name: "URL parameter", req: req{target: "/request/?jwt=" + hs}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "custom URL parameter", set: func(c *Config) { c.URIParamNames = []string{"token", "jwt"} },
			req: req{target: "/request/?token=" + hs}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "lower-case bearer", req: req{header: []string{"Authorization", "bearer " + hs}}, want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "not bearer", req: req{header: []string{"Authorization", "Basic " + hs}}, want: fail("Unauthorized", "Bearer")},

		// The other algorithms.
		{name: "HS384", req: req{header: bearer(tok("hs384", valid("hs384")))}, want: outcome{Status: 200, Identity: identity(bob, "hs384")}},
		{name: "HS512", req: req{header: bearer(tok("hs512", valid("hs512")))}, want: outcome{Status: 200, Identity: identity(bob, "hs512")}},
		{name: "RS256", req: req{header: bearer(tok("rs256", valid("rs256")))}, want: outcome{Status: 200, Identity: identity(bob, "rs256")}},
		{name: "RS384", req: req{header: bearer(tok("rs384", valid("rs384")))}, want: outcome{Status: 200, Identity: identity(bob, "rs384")}},
		{name: "RS512", req: req{header: bearer(tok("rs512", valid("rs512")))}, want: outcome{Status: 200, Identity: identity(bob, "rs512")}},
		{name: "PS256", req: req{header: bearer(tok("ps256", valid("ps256")))}, want: outcome{Status: 200, Identity: identity(bob, "ps256")}},
		{name: "PS384", req: req{header: bearer(tok("ps384", valid("ps384")))}, want: outcome{Status: 200, Identity: identity(bob, "ps384")}},
		{name: "PS512", req: req{header: bearer(tok("ps512", valid("ps512")))}, want: outcome{Status: 200, Identity: identity(bob, "ps512")}},
		{name: "ES256", req: req{header: bearer(tok("es256", valid("es256")))}, want: outcome{Status: 200, Identity: identity(bob, "es256")}},
		{name: "ES384", req: req{header: bearer(tok("es384", valid("es384")))}, want: outcome{Status: 200, Identity: identity(bob, "es384")}},
		{name: "ES512", req: req{header: bearer(tok("es512", valid("es512")))}, want: outcome{Status: 200, Identity: identity(bob, "es512")}},
		{name: "EdDSA", req: req{header: bearer(tok("eddsa", valid("eddsa")))}, want: outcome{Status: 200, Identity: identity(bob, "eddsa")}},
		{name: "RS256 signed by another key", req: req{header: bearer(sign(t, signer{"RS256", k.rsaOther}, valid("rs256"), nil))},
			want: fail("Invalid signature", bearerErr)},
		{name: "ES256 signed by another key", req: req{header: bearer(sign(t, signer{"ES256", k.p256b}, valid("es256"), nil))},
			want: fail("Invalid signature", bearerErr)},

		// Registered claims.
		{name: "checked claims required", set: claimsCfg, req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256"})},
			want: claimFail(`{"nbf":"must be a number","exp":"must be a number"}`)},
		{name: "claims of the wrong type", set: claimsCfg, req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": "bar", "nbf": "foo"})},
			want: claimFail(`{"nbf":"must be a number","exp":"must be a number"}`)},
		{name: "exp", set: claimsCfg, req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix() - 10, "nbf": now.Unix() - 10})},
			want: claimFail(`{"exp":"token expired"}`)},
		{name: "exp is now", set: claimsCfg, req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix(), "nbf": now.Unix()})},
			want: claimFail(`{"exp":"token expired"}`)},
		{name: "nbf", set: claimsCfg, req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix() + 10, "nbf": now.Unix() + 5})},
			want: claimFail(`{"nbf":"token not valid yet"}`)},
		{name: "claims not checked unless configured", req: req{target: "/request/?jwt=" + tok("hs256", claims{"iss": "hs256", "exp": now.Unix() - 10})},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},

		// config.anonymous
		{name: "anonymous with right credentials", set: func(c *Config) { c.Anonymous = str("anon-id") }, req: req{header: bearer(hs)},
			want: outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{name: "anonymous without credentials", set: func(c *Config) { c.Anonymous = str("anon-id") }, req: req{},
			want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous by username", set: func(c *Config) { c.Anonymous = str("no-body") }, req: req{header: bearer(wrongSig)},
			want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "missing anonymous", set: func(c *Config) { c.Anonymous = str("ghost") }, req: req{},
			want: outcome{Status: 500, Body: "anonymous consumer ghost is configured but doesn't exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			got := run(t, in, newCtx(dir, tt.req))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The algorithm is the credential's: tokens that try to choose how they are
// verified are refused.
func TestAlgorithmConfusion(t *testing.T) {
	dir, signers := newDir(t)
	k := keys(t)
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hdr := func(alg string, extra ...string) map[string]any {
		h := map[string]any{"typ": "JWT", "alg": alg}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	// Every signature below that is not the credential's own is made with
	// the attacker's key.
	attacker := k.rsaOther
	tests := []struct {
		name  string
		token string
		want  outcome
	}{
		{"alg none", forge(t, hdr("none"), valid("rs256"), nil, nil, nil), fail("Bad token; invalid alg", bearerErr)},
		{"alg None", forge(t, hdr("None"), valid("hs256"), nil, nil, nil), fail("Bad token; invalid alg", bearerErr)},
		{"alg missing", forge(t, map[string]any{"typ": "JWT"}, valid("hs256"), nil, nil, []byte("x")), fail("Bad token; invalid alg", bearerErr)},
		{"alg not a string", forge(t, map[string]any{"alg": 256}, valid("hs256"), nil, nil, []byte("x")), fail("Bad token; invalid alg", bearerErr)},
		{"HS256 signed with the RSA public key", forge(t, hdr("HS256"), valid("rs256"), gojwt.SigningMethodHS256, pubPEM, nil),
			fail("Invalid algorithm", bearerErr)},
		{"HS256 signed with the RSA public key in DER", forge(t, hdr("HS256"), valid("rs256"), gojwt.SigningMethodHS256, der, nil),
			fail("Invalid algorithm", bearerErr)},
		{"RS384 for an RS256 credential", forge(t, hdr("RS384"), valid("rs256"), gojwt.SigningMethodRS384, k.rsa, nil),
			fail("Invalid algorithm", bearerErr)},
		{"PS256 for an RS256 credential", forge(t, hdr("PS256"), valid("rs256"), gojwt.SigningMethodPS256, k.rsa, nil),
			fail("Invalid algorithm", bearerErr)},
		{"jku to the attacker's key set", forge(t, hdr("RS256", "jku", "https://attacker.example/jwks.json", "kid", "a"), valid("rs256"),
			gojwt.SigningMethodRS256, attacker, nil), fail("Invalid signature", bearerErr)},
		{"x5u to the attacker's certificate", forge(t, hdr("RS256", "x5u", "https://attacker.example/cert.pem"), valid("rs256"),
			gojwt.SigningMethodRS256, attacker, nil), fail("Invalid signature", bearerErr)},
		{"embedded jwk", forge(t, map[string]any{"alg": "RS256", "jwk": map[string]any{"kty": "RSA", "e": "AQAB",
			"n": "attacker"}}, valid("rs256"), gojwt.SigningMethodRS256, attacker, nil), fail("Invalid signature", bearerErr)},
		{"kid naming another credential", forge(t, hdr("RS256", "kid", "hs256"), valid("rs256"), gojwt.SigningMethodRS256, attacker, nil),
			fail("Invalid signature", bearerErr)},
		{"kid with a path", forge(t, hdr("HS256", "kid", "../../../../dev/null"), valid("hs256"), gojwt.SigningMethodHS256, []byte(""), nil),
			fail("Invalid signature", bearerErr)},
		{"the credential's own signature", sign(t, signers["rs256"], valid("rs256"), map[string]any{"jku": "https://attacker.example/"}),
			outcome{Status: 200, Identity: identity(bob, "rs256")}},
	}
	in := mustBuild(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tt.token}}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// With key_claim_name kid, the kid picks the credential (Kong's
	// feature), and so its algorithm and key: an RS256 credential named
	// by kid still refuses an HMAC made with its public key.
	kidIn := mustBuild(t, func(c *Config) { c.KeyClaimName = "kid" })
	tok := forge(t, hdr("HS256", "kid", "rs256"), claims{"sub": "x"}, gojwt.SigningMethodHS256, pubPEM, nil)
	got := run(t, kidIn, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}}))
	if diff := cmp.Diff(fail("Invalid algorithm", bearerErr), got); diff != "" {
		t.Errorf("kid HS256 with the public key (-want +got):\n%s", diff)
	}
}

// Kong's decode_token errors, in Kong's order.
func TestBadTokens(t *testing.T) {
	dir, _ := newDir(t)
	in := mustBuild(t, nil)
	h := map[string]any{"alg": "HS256"}
	p := valid("hs256")
	// seg is one base64url segment: forge of an empty payload and
	// signature ends in "..".
	seg := func(s string) string { v := forge(t, s, "", nil, nil, nil); return v[:len(v)-2] }
	good := forge(t, h, p, gojwt.SigningMethodHS256, []byte(hsSecret), nil)
	hs, ps := seg(`{"alg":"HS256"}`), seg(`{"iss":"hs256"}`)
	tests := []struct {
		name, token, err string
	}{
		{"no dots", "abc", "invalid JSON"},
		{"one dot", hs + "." + ps, "invalid JSON"},
		{"header not base64", "a*b." + ps + ".sig", "invalid JSON"},
		{"header standard alphabet", "a+b/." + ps + ".sig", "invalid JSON"},
		{"header with a line break", hs[:4] + "\n" + hs[4:] + "." + ps + ".sig", "invalid JSON"},
		{"header lone 6-bit group", "abcde." + ps + ".sig", "invalid JSON"},
		{"header not JSON", seg("{alg:HS256}") + "." + ps + ".sig", "invalid JSON"},
		{"payload not JSON", hs + "." + seg("{") + ".sig", "invalid JSON"},
		{"empty header", "." + ps + ".sig", "invalid JSON"},
		{"header not an object", seg(`"HS256"`) + "." + ps + ".sig", "invalid alg"},
		{"header null", seg(`null`) + "." + ps + ".sig", "invalid alg"},
		{"unsupported alg", seg(`{"alg":"HS1"}`) + "." + ps + ".sig", "invalid alg"},
		{"payload false", hs + "." + seg("false") + ".sig", "invalid claims"},
		{"payload an array", hs + "." + seg(`["hs256"]`) + ".sig", "invalid claims"},
		{"signature not base64", hs + "." + ps + ".a*b", "invalid signature"},
		{"signature lone 6-bit group", hs + "." + ps + ".abcde", "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tt.token}}))
			if diff := cmp.Diff(fail("Bad token; "+tt.err, bearerErr), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// The signature may be padded, with exactly the '=' its length calls
	// for; anything else after the first '=' (Kong ignores it), more dots
	// (Kong splits at the first two only) or unused trailing bits that are
	// not zero (Kong ignores them too) make it another spelling of the
	// same signature, refused.
	i := len(good) - 1
	for good[i] != '.' {
		i--
	}
	if (len(good)-i-1)%4 != 3 {
		t.Fatalf("the HS256 signature takes one '=' of padding: %q", good[i+1:])
	}
	if got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + good + "="}})); got.Status != 200 {
		t.Errorf("padded signature: %+v", got)
	}
	for name, tok := range map[string]string{
		"data after the padding":  good + "=junk",
		"too much padding":        good + "==",
		"padding alone":           good + "====",
		"a dot after the padding": good + "=.x",
		"a dot in the signature":  good[:i] + "." + good[i+1:i+5] + "." + good[i+5:],
		"unused bits set":         good[:len(good)-1] + string(flipLowBit(good[len(good)-1])),
	} {
		got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}}))
		if diff := cmp.Diff(fail("Bad token; invalid signature", bearerErr), got); diff != "" {
			t.Errorf("%s: %q (-want +got):\n%s", name, tok, diff)
		}
	}
	// An empty signature decodes (to nothing) and does not verify.
	got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + good[:i+1]}}))
	if diff := cmp.Diff(fail("Invalid signature", bearerErr), got); diff != "" {
		t.Errorf("empty signature (-want +got):\n%s", diff)
	}
}

// The key claim: a string names the credential; false falls back to the
// header, as Lua's `or` does; anything else names none.
func TestKeyClaim(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tests := []struct {
		name    string
		payload claims
		header  map[string]any
		want    outcome
	}{
		{"false falls back to the header", claims{"iss": false}, map[string]any{"iss": "hs256"}, outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{"payload first", claims{"iss": "hs256"}, map[string]any{"iss": "alice-hs"}, outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{"false everywhere", claims{"iss": false}, nil, fail("No mandatory 'iss' in claims", bearerErr)},
		{"number", claims{"iss": 123}, nil, fail("No credentials found for given 'iss'", bearerErr)},
		{"null", claims{"iss": nil}, map[string]any{"iss": "hs256"}, fail("No credentials found for given 'iss'", bearerErr)},
		{"empty does not fall back", claims{"iss": ""}, map[string]any{"iss": "hs256"}, fail("Invalid 'iss' in claims", bearerErr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, signers["hs256"], tt.payload, tt.header)
			got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Issuer and audience of a credential are checked once the signature is.
func TestIssuerAudience(t *testing.T) {
	dir, signers := newDir(t)
	cred := *dir.ByKind[kindName]["hs256"]
	f := *cred.Fields.(*Credential)
	f.Issuer, f.Audience = "https://idp.example/", []string{"api-1", "api-2"}
	cred.Fields = &f
	dir.ByKind[kindName]["hs256"] = &cred
	in := mustBuild(t, func(c *Config) { c.KeyClaimName = "kid" })
	tests := []struct {
		name    string
		payload claims
		want    outcome
	}{
		{"both match", claims{"iss": "https://idp.example/", "aud": "api-2"}, outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{"audience list", claims{"iss": "https://idp.example/", "aud": []string{"other", "api-1"}}, outcome{Status: 200, Identity: identity(bob, "hs256")}},
		{"wrong issuer", claims{"iss": "https://evil.example/", "aud": "api-1"}, claimFail(`{"iss":"invalid issuer"}`)},
		{"no issuer", claims{"aud": "api-1"}, claimFail(`{"iss":"invalid issuer"}`)},
		{"wrong audience", claims{"iss": "https://idp.example/", "aud": []string{"other"}}, claimFail(`{"aud":"invalid audience"}`)},
		{"no audience", claims{"iss": "https://idp.example/"}, claimFail(`{"aud":"invalid audience"}`)},
		{"audience not a string", claims{"iss": "https://idp.example/", "aud": 1}, claimFail(`{"aud":"invalid audience"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, signers["hs256"], tt.payload, map[string]any{"kid": "hs256"})
			got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// A wrong signature is told before a wrong issuer.
	bad := sign(t, signer{"HS256", []byte("nope")}, claims{"iss": "https://evil.example/"}, map[string]any{"kid": "hs256"})
	if got := run(t, in, newCtx(dir, req{header: []string{"Authorization", "Bearer " + bad}})); got.Body != `{"message":"Invalid signature"}` {
		t.Errorf("got %+v", got)
	}
}

func TestClaimsToHeaders(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, func(c *Config) {
		c.Anonymous = str("anon-id")
		c.ClaimsToHeaders = []ClaimHeader{
			{Claim: "sub", Header: "x-user-id"}, {Claim: "n", Header: "X-N"}, {Claim: "roles", Header: "X-Roles"},
			{Claim: "obj", Header: "X-Obj"}, {Claim: "missing", Header: "X-Missing"}, {Claim: "null", Header: "X-Null"},
			{Claim: "evil", Header: "X-Evil"},
		}
	})
	payload := valid("hs256")
	payload["sub"], payload["n"], payload["roles"] = "user-1", 42.5, []any{"admin", "dev", 3}
	payload["obj"], payload["null"], payload["evil"] = map[string]any{"a": []int{1, 2}}, nil, "a\r\nX-Injected: 1"
	tok := sign(t, signers["hs256"], payload, nil)
	spoof := []string{"X-User-Id", "spoofed", "X-Missing", "spoofed", "X-Evil", "spoofed"}

	c := newCtx(dir, req{header: append([]string{"Authorization", "Bearer " + tok}, spoof...)})
	if o := run(t, in, c); o.Status != 200 {
		t.Fatalf("got %+v", o)
	}
	want := map[string][]string{
		"X-User-Id": {"user-1"}, "X-N": {"42.5"}, "X-Roles": {"admin, dev, 3"}, "X-Obj": {`{"a":[1,2]}`},
		"X-Missing": nil, "X-Null": nil, "X-Evil": nil,
	}
	for h, v := range want {
		if got := c.Req.Header[h]; !cmp.Equal(got, v) {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	// The cached token sets the same headers.
	c = newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}})
	run(t, in, c)
	if got := c.Req.Header["X-Roles"]; !cmp.Equal(got, []string{"admin, dev, 3"}) {
		t.Errorf("cached: X-Roles = %q", got)
	}
	// A client's copies never reach the upstream, also not as anonymous.
	c = newCtx(dir, req{header: spoof})
	if o := run(t, in, c); !cmp.Equal(o.Identity, anonIdentity) {
		t.Fatalf("got %+v", o)
	}
	for _, h := range []string{"X-User-Id", "X-Missing", "X-Evil"} {
		if got := c.Req.Header[h]; got != nil {
			t.Errorf("anonymous: %s = %q", h, got)
		}
	}
}

// A client's copy of a claims_to_headers header is removed under any
// spelling an upstream may read as the same name: case, and '_' for '-'
// either way (CGI turns both into HTTP_X_USER_ID).
func TestClaimsToHeadersSpellings(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, func(c *Config) {
		c.ClaimsToHeaders = []ClaimHeader{{Claim: "sub", Header: "X-User-Id"}, {Claim: "tenant", Header: "X_Tenant"}}
	})
	payload := valid("hs256")
	payload["sub"] = "user-1"
	tok := sign(t, signers["hs256"], payload, nil)
	for _, anonymous := range []bool{false, true} {
		c := newCtx(dir, req{})
		if !anonymous {
			c = newCtx(dir, authorize(tok))
		}
		// Set as a server may deliver them: names as sent.
		for _, name := range []string{"X-User_Id", "x_user_id", "X_USER-ID", "X-Tenant", "x-tenant", "X_tenant"} {
			c.Req.Header[name] = []string{"spoofed"}
		}
		kept := []string{"X-User-Idx", "X-User", "X-UserId", "X-User-Id-", "X-Tenant_Id"}
		for _, name := range kept {
			c.Req.Header[name] = []string{"client"}
		}
		err := in.Access(c)
		if anonymous {
			var e *plugin.Exit
			if !errors.As(err, &e) || e.Status != 401 {
				t.Fatalf("without a token: %v", err)
			}
		} else if err != nil {
			t.Fatalf("Access: %v", err)
		}
		for name, v := range c.Req.Header {
			if strings.Contains(strings.Join(v, ""), "spoofed") {
				t.Errorf("anonymous %v: %s: %q reaches the upstream", anonymous, name, v)
			}
		}
		for _, name := range kept {
			if got := c.Req.Header[name]; !cmp.Equal(got, []string{"client"}) {
				t.Errorf("anonymous %v: unrelated %s = %q", anonymous, name, got)
			}
		}
		if !anonymous && !cmp.Equal(c.Req.Header["X-User-Id"], []string{"user-1"}) {
			t.Errorf("X-User-Id = %q", c.Req.Header["X-User-Id"])
		}
	}
}

// A request an earlier auth plugin authenticated is left alone when
// anonymous is set (logical OR), and answered otherwise (logical AND).
func TestEarlierAuthentication(t *testing.T) {
	dir, _ := newDir(t)
	for _, anon := range []*string{nil, str("anon-id")} {
		in := mustBuild(t, func(c *Config) { c.Anonymous = anon })
		c := newCtx(dir, req{})
		plugin.Authenticate(c, &plugin.Credential{ID: "key-cred", Consumer: alice})
		got := run(t, in, c)
		if anon == nil {
			if diff := cmp.Diff(fail("Unauthorized", "Bearer"), got); diff != "" {
				t.Errorf("logical AND (-want +got):\n%s", diff)
			}
			continue
		}
		if diff := cmp.Diff(identity(alice, "key-cred"), got.Identity); diff != "" {
			t.Errorf("logical OR (-want +got):\n%s", diff)
		}
	}
}

func TestNoDirectory(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	c := newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}})
	c.Directory = nil
	if diff := cmp.Diff(fail("No credentials found for given 'iss'", bearerErr), run(t, in, c)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A credential without a consumer (impossible from a config) is a 500,
// not a 401 and not a panic.
func TestCredentialWithoutConsumer(t *testing.T) {
	dir, signers := newDir(t)
	dir.ByKind[kindName]["hs256"].Consumer = nil
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	err := in.Access(newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok}}))
	var e *plugin.Exit
	if !errors.As(err, &e) || e.Status != 500 || e.Message != msgUnexpected {
		t.Fatalf("got %v", err)
	}
}

// A gRPC client gets the message as grpc-message (the proxy renders an
// Exit's Message for gRPC requests).
func TestGRPC(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, func(c *Config) { c.ClaimsToVerify = []string{"exp"} })
	expired := sign(t, signers["hs256"], claims{"iss": "hs256", "exp": now.Unix() - 1}, nil)
	for tok, want := range map[string]string{"": "Unauthorized", "x.y": "Bad token; invalid JSON", expired: grpcUnauthenticated} {
		h := []string{"Content-Type", "application/grpc"}
		if tok != "" {
			h = append(h, "Authorization", "Bearer "+tok)
		}
		err := in.Access(newCtx(dir, req{method: http.MethodPost, header: h}))
		var e *plugin.Exit
		if !errors.As(err, &e) || e.Status != 401 || e.Message != want || e.Body != nil {
			t.Errorf("token %q: got %#v", tok, err)
		}
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Bearer\tabc def", "abc def", true},
		{"  Bearer   abc", "abc", true},
		{"xBearer abc", "abc", true},
		{"Basic x, Bearer abc", "abc", true},
		{"Bearerabc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer  ", " ", true},
		{"BEARER abc", "", false},
		{"Bearerx Bearer abc", "abc", true},
		{"Bearer abc\nx", "abc", true},
	}
	for _, tt := range tests {
		got, ok := bearer(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		cookies []string
		name    string
		want    string
		ok      bool
	}{
		{[]string{"a=1; crumble=2"}, "crumble", "2", true},
		{[]string{"crumblex=1; crumble=2"}, "crumble", "2", true},
		{[]string{"CRUMBLE=3"}, "crumble", "3", true},
		{[]string{"crumble = 4 ;x=y"}, "crumble", "4 ", true},
		{[]string{"x=1", "crumble=5", "crumble=6"}, "crumble", "5", true},
		{[]string{"crumble=7; crumble=8"}, "crumble", "7", true},
		{[]string{"crumble"}, "crumble", "", false},
		{[]string{"a=crumble=1"}, "crumble", "", false},
		{[]string{"crumble="}, "crumble", "", true},
		{nil, "crumble", "", false},
	}
	for _, tt := range tests {
		got, ok := cookieValue(http.Header{"Cookie": tt.cookies}, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cookieValue(%q, %q) = %q, %v; want %q, %v", tt.cookies, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQueryTokens(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.URIParamNames = []string{"jwt", "token"} })
	tests := []struct {
		query string
		want  found
	}{
		{"jwt=a", found{token: "a", n: 1}},
		{"jwt=a&token=a", found{token: "a", n: 1}},
		{"jwt=a&token=b", found{token: "a", n: 2}},
		{"j%77t=a%2Bb+c", found{token: "a+b c", n: 1}},
		{"jwt", found{flag: true}},
		{"jwt=&token=", found{}},
		{"x=1&&jwt=a", found{token: "a", n: 1}},
	}
	for _, tt := range tests {
		var f found
		in.queryTokens(tt.query, &f)
		if f != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.query, f, tt.want)
		}
	}
	// Kong reads the first 100 arguments only.
	var f found
	q := ""
	for i := range 100 {
		q += "a" + strconv.Itoa(i) + "=1&"
	}
	in.queryTokens(q+"jwt=late", &f)
	if f != (found{}) {
		t.Errorf("argument 101 read: %+v", f)
	}
}

func TestMessageBodyIsCJSON(t *testing.T) {
	if f := messageFailure(msgInvalidKey, false); string(f.body) != `{"message":"Invalid key\/secret"}` {
		t.Errorf("body %s", f.body)
	}
}

// Kong's spec fixture uses a URL in tests of query tokens; the token may
// also arrive percent-encoded.
func TestEncodedQueryToken(t *testing.T) {
	dir, signers := newDir(t)
	in := mustBuild(t, nil)
	tok := sign(t, signers["hs256"], valid("hs256"), nil)
	got := run(t, in, newCtx(dir, req{target: "/request?jwt=" + url.QueryEscape(tok)}))
	if got.Status != 200 {
		t.Errorf("got %+v", got)
	}
}

// flipLowBit returns the base64url character whose value differs from c's
// in the lowest bit.
func flipLowBit(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[strings.IndexByte(alphabet, c)^1]
}
