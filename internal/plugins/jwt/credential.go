package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kindName is jwt's credential entity (Kong `jwt_secrets`).
const kindName = "jwt_secrets"

// Credential is a jwt credential's own fields. JWKSURI, Issuer and
// Audience are Turnpike's: with JWKSURI the verification keys are fetched
// from an identity provider's JWK Set instead of rsa_public_key; Issuer
// and Audience, when set, are checked against the token's `iss` and `aud`
// claims once its signature is verified. The admin API shows them only
// when set, so Kong's shape is unchanged otherwise.
type Credential struct {
	Key          string   `yaml:"key"`
	Secret       string   `yaml:"secret" admin:"nullzero"`
	RSAPublicKey string   `yaml:"rsa_public_key" admin:"nullzero"`
	Algorithm    string   `yaml:"algorithm"`
	JWKSURI      string   `yaml:"jwks_uri" admin:"omitzero"`
	Issuer       string   `yaml:"issuer" admin:"omitzero"`
	Audience     []string `yaml:"audience" admin:"omitzero"`

	// publicKey is RSAPublicKey as Check parsed it.
	publicKey crypto.PublicKey
	// generate is set by Check for an HMAC credential given without a
	// secret: Compile generates one.
	generate bool
}

// SetDefaults applies Kong's jwt_secrets defaults.
func (c *Credential) SetDefaults() { c.Algorithm = "HS256" }

// verifyKeys is what a credential verifies with (plugin.Credential.State).
type verifyKeys struct {
	// secret is the configured secret, or the generated one.
	secret    string
	generated bool
	publicKey crypto.PublicKey
}

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: kindName, Label: name, Endpoint: "jwts", ConsumerEndpoint: "jwt",
		New:     func() any { return &Credential{} },
		Key:     func(fields any) string { return fields.(*Credential).Key },
		Check:   checkCredential,
		Compile: compileCredential,
		Render: func(c *plugin.Credential, body map[string]any) {
			// Kong shows the secret it generated.
			if k := c.State.(*verifyKeys); k.generated {
				body["secret"] = k.secret
			}
		},
	}
}

// compileCredential sets the credential's keys. A credential given
// without a secret gets a random one, as Kong generates it; a reload that
// keeps the credential (same consumer and key) keeps its secret, so the
// tokens signed with it stay valid. A restart, or another node, generates
// another.
func compileCredential(c, prev *plugin.Credential) {
	f := c.Fields.(*Credential)
	k := &verifyKeys{secret: f.Secret, publicKey: f.publicKey}
	if f.generate {
		k.generated = true
		if p, ok := prevKeys(prev); ok && p.generated && prev.Consumer.ID == c.Consumer.ID {
			k.secret = p.secret
		} else {
			k.secret = randomSecret()
		}
	}
	c.State = k
}

// prevKeys is prev's keys, if there is a previous credential.
func prevKeys(prev *plugin.Credential) (*verifyKeys, bool) {
	if prev == nil {
		return nil, false
	}
	k, ok := prev.State.(*verifyKeys)
	return k, ok
}

// algorithms is Kong's list, in Kong's order; the value tells whether the
// algorithm verifies with a public key (and so needs rsa_public_key).
var algorithms = []struct {
	name       string
	asymmetric bool
}{
	{"HS256", false}, {"HS384", false}, {"HS512", false},
	{"RS256", true}, {"RS384", true}, {"RS512", true},
	{"ES256", true}, {"ES384", true}, {"ES512", true},
	{"PS256", true}, {"PS384", true}, {"PS512", true},
	{"EdDSA", true},
}

// unknownAlgorithm is the message for an algorithm not in the list.
var unknownAlgorithm = func() string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.name
	}
	return "expected one of: " + strings.Join(names, ", ")
}()

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	j := fields.(*Credential)
	ok := true
	if j.Key == "" {
		check.Error("key", "required field missing")
		ok = false
	} else if first, free := check.Claim(j.Key); !free {
		check.Duplicate("key", "duplicate key '"+check.Quote(j.Key)+"'", first)
		ok = false
	}
	known, asymmetric := false, false
	for _, a := range algorithms {
		if a.name == j.Algorithm {
			known, asymmetric = true, a.asymmetric
		}
	}
	if !known {
		check.Error("algorithm", unknownAlgorithm)
		ok = false
	}
	if j.JWKSURI != "" {
		if !checkJWKSURI(j, check, known, asymmetric) {
			ok = false
		}
	} else if j.RSAPublicKey != "" {
		pub, err := parsePublicKey(j.RSAPublicKey)
		if err == nil && known && asymmetric {
			err = checkKeyAlgorithm(pub, j.Algorithm)
		}
		if err != nil {
			check.Error("rsa_public_key", "invalid key: "+err.Error())
			ok = false
		}
		j.publicKey = pub
	}
	switch {
	case !known:
	case asymmetric && j.RSAPublicKey == "" && j.JWKSURI == "":
		check.Error("rsa_public_key", "required field missing")
		ok = false
	case !asymmetric && j.Secret == "" && j.JWKSURI == "":
		// Kong generates one (its `auto` secret); Compile does, keeping
		// it across reloads. It is known only to this process, so say so.
		j.generate = true
		check.Warn("secret", "not set: a random secret is generated for this credential "+
			"(shown by the admin API); each node and each restart generates its own, so tokens signed "+
			"with it fail elsewhere: set secret when more than one node verifies tokens")
	}
	for i, a := range j.Audience {
		if a == "" {
			check.Error("audience["+strconv.Itoa(i)+"]", "length must be at least 1")
			ok = false
		}
	}
	return ok
}

// checkJWKSURI validates a credential whose keys come from a JWK Set: an
// absolute http(s) URL, an asymmetric algorithm (a JWK Set is public, so an
// HMAC secret in it would be no secret, and a JWK must not be able to turn
// verification into HMAC), no rsa_public_key beside it, and an audience:
// an identity provider signs the tokens of all its clients with the keys of
// its one JWK Set, so without an audience any token it issued, to anyone
// for anything, would authenticate as this credential's consumer.
func checkJWKSURI(j *Credential, check plugin.CredentialCheck, known, asymmetric bool) bool {
	ok := true
	u, err := url.Parse(j.JWKSURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		check.Error("jwks_uri", "must be an absolute http or https URL")
		ok = false
	}
	if len(j.Audience) == 0 {
		check.Error("audience", "required with jwks_uri: the identity provider signs every client's tokens "+
			"with the same keys, so without an audience any token it issued would be accepted")
		ok = false
	}
	if known && !asymmetric {
		check.Error("algorithm", "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri")
		ok = false
	}
	if j.RSAPublicKey != "" {
		check.Error("rsa_public_key", "cannot be combined with jwks_uri")
		ok = false
	}
	return ok
}

// parsePublicKey reads a PEM public key: PKIX ("PUBLIC KEY") or PKCS #1
// ("RSA PUBLIC KEY").
func parsePublicKey(s string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, fmt.Errorf("no PEM data found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	return nil, fmt.Errorf("expected a PEM public key, got '%s'", block.Type)
}

// checkKeyAlgorithm rejects a public key that cannot verify alg, so that a
// mismatch shows at load rather than as 401s.
func checkKeyAlgorithm(pub crypto.PublicKey, alg string) error {
	switch alg[:2] {
	case "RS", "PS":
		if _, ok := pub.(*rsa.PublicKey); !ok {
			return fmt.Errorf("%s needs an RSA public key, got %s", alg, keyKind(pub))
		}
	case "ES":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an ECDSA public key, got %s", alg, keyKind(pub))
		}
		want := elliptic.P256()
		switch alg {
		case "ES384":
			want = elliptic.P384()
		case "ES512":
			want = elliptic.P521()
		}
		if k.Curve != want {
			return fmt.Errorf("%s needs a key on curve %s, got %s", alg, want.Params().Name, k.Curve.Params().Name)
		}
	case "Ed":
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%s needs an Ed25519 public key, got %s", alg, keyKind(pub))
		}
	}
	return nil
}

func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// secretAlphabet is what Kong's generated secrets are made of.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomSecret returns 32 characters of secretAlphabet from crypto/rand,
// the length and alphabet of Kong's generated secrets (about 190 bits).
// Bytes past the largest multiple of the alphabet's size are dropped, so
// every character is equally likely.
func randomSecret() string {
	const n, limit = 32, 256 - 256%len(secretAlphabet)
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails: it crashes the process instead
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			}
		}
	}
	return string(out)
}
