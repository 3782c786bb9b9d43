package jwt

import (
	"strings"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// verified is a token whose signature, issuer and audience checked out for
// cred: everything later uses of the same token need.
type verified struct {
	cred *plugin.Credential
	// key is the directory key cred was found by.
	key string
	// claims are the token's claims, for later plugins (Ctx.Claims).
	claims   object
	exp, nbf number
	// headers are the claims_to_headers values, "" for none.
	headers []string
	// until is when the verified-token cache forgets the token.
	until time.Time
}

// Claim is plugin.Claims: the verified token's claim as header text.
func (v *verified) Claim(name string) (string, bool) {
	raw, ok := v.claims.get(name)
	if !ok {
		return "", false
	}
	return headerValue(raw), true
}

// verify decodes raw and checks it against its credential, in Kong's order:
// decoding, key claim, credential, algorithm, key, signature; then the
// credential's issuer and audience.
func (in *instance) verify(c *plugin.Ctx, raw string) (*verified, *failure) {
	t, derr := decode(raw)
	if derr != "" {
		return nil, in.badToken[derr]
	}
	key, present, isString := keyClaim(&t, in.keyClaim)
	switch {
	case !present:
		return nil, in.noKeyClaim
	case isString && key == "":
		return nil, in.emptyKeyClaim
	}
	var cred *plugin.Credential
	if isString && c.Directory != nil {
		cred, _ = c.Directory.Credential(kindName, key)
	}
	if cred == nil {
		return nil, in.noCredentials
	}
	f := cred.Fields.(*Credential)
	// The credential decides the algorithm; the token only has to agree.
	if t.alg != f.Algorithm {
		return nil, in.badAlgorithm
	}
	if fail := in.checkSignature(c, cred, f, &t); fail != nil {
		return nil, fail
	}
	if f.Issuer != "" {
		if iss, ok := t.claims.str("iss"); !ok || iss != f.Issuer {
			return nil, in.badIssuer
		}
	}
	if len(f.Audience) > 0 && !audience(t.claims, f.Audience) {
		return nil, in.badAudience
	}
	v := &verified{cred: cred, key: key, claims: t.claims, exp: t.claims.number("exp"), nbf: t.claims.number("nbf")}
	if len(in.headers) > 0 {
		v.headers = make([]string, len(in.headers))
		for i, h := range in.headers {
			if raw, ok := t.claims.get(h.claim); ok {
				v.headers[i] = headerValue(raw)
			}
		}
	}
	return v, nil
}

// checkSignature verifies t's signature with the credential's algorithm
// and key: its secret (decoded when secret_is_base64), its public key, or
// a key of its JWK Set. f are cred's fields.
func (in *instance) checkSignature(c *plugin.Ctx, cred *plugin.Credential, f *Credential, t *token) *failure {
	m := signingMethod(f.Algorithm)
	if m == nil {
		return in.badAlgorithm
	}
	k := cred.State.(*verifyKeys)
	var key any
	switch {
	case strings.HasPrefix(f.Algorithm, "HS"):
		if !in.base64 {
			key = []byte(k.secret)
			break
		}
		b, ok := decodeSecret(k.secret)
		if !ok {
			return in.badKey
		}
		key = b
	case f.JWKSURI != "":
		if !in.jwks.verify(c.Req.Context(), f, m, t) {
			return in.badSignature
		}
		return nil
	case k.publicKey == nil:
		return in.badKey
	default:
		key = k.publicKey
	}
	if m.Verify(t.signed, t.sig, key) != nil {
		return in.badSignature
	}
	return nil
}

// signingMethod is golang-jwt's verifier for a credential's algorithm.
func signingMethod(alg string) gojwt.SigningMethod {
	switch alg {
	case "HS256":
		return gojwt.SigningMethodHS256
	case "HS384":
		return gojwt.SigningMethodHS384
	case "HS512":
		return gojwt.SigningMethodHS512
	case "RS256":
		return gojwt.SigningMethodRS256
	case "RS384":
		return gojwt.SigningMethodRS384
	case "RS512":
		return gojwt.SigningMethodRS512
	case "PS256":
		return gojwt.SigningMethodPS256
	case "PS384":
		return gojwt.SigningMethodPS384
	case "PS512":
		return gojwt.SigningMethodPS512
	case "ES256":
		return gojwt.SigningMethodES256
	case "ES384":
		return gojwt.SigningMethodES384
	case "ES512":
		return gojwt.SigningMethodES512
	case "EdDSA":
		return gojwt.SigningMethodEdDSA
	}
	return nil
}
