package hmacauth

import (
	"crypto/hmac"
	"crypto/rand"
	"hash"
	"sync"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kindName is hmac-auth's credential entity (Kong `hmacauth_credentials`).
const kindName = "hmacauth_credentials"

// Credential is an hmac-auth credential's own fields.
type Credential struct {
	Username string `yaml:"username"`
	Secret   string `yaml:"secret" admin:"nullzero"`

	// generate is set by Check for a credential given without a secret:
	// Compile generates one, as Kong's `auto` secret.
	generate bool
}

// state is what the request path verifies with (plugin.Credential.State).
type state struct {
	// secret is the configured secret, or the generated one.
	secret    []byte
	generated bool
	// macs pool keyed HMAC states per algorithm: hmac.New costs several
	// allocations and two block hashes of the key, Reset costs neither.
	macs [numAlgorithms]sync.Pool
}

func newState(secret []byte, generated bool) *state {
	st := &state{secret: secret, generated: generated}
	for a := range st.macs {
		h := algorithmHashes[a]
		st.macs[a].New = func() any { return hmac.New(h, secret) }
	}
	return st
}

// mac takes a keyed HMAC of the algorithm from the pool; the caller Resets
// it before use and puts it back.
func (st *state) mac(a algorithm) hash.Hash { return st.macs[a].Get().(hash.Hash) }

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: kindName, Label: name, Endpoint: "hmac-auths", ConsumerEndpoint: "hmac-auth",
		New: func() any { return &Credential{} },
		Key: func(fields any) string { return fields.(*Credential).Username },
		// Kong's cache key is the username, so its id is derived from it.
		KongID:  true,
		Check:   checkCredential,
		Compile: compileCredential,
		Render: func(c *plugin.Credential, body map[string]any) {
			// Kong shows the secret it generated.
			if st := c.State.(*state); st.generated {
				body["secret"] = string(st.secret)
			}
		},
	}
}

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	c := fields.(*Credential)
	ok := true
	if c.Username == "" {
		check.Error("username", "required field missing")
		ok = false
	} else if first, free := check.Claim(c.Username); !free {
		check.Duplicate("username", "duplicate username '"+check.Quote(c.Username)+"'", first)
		ok = false
	}
	if c.Secret == "" {
		c.generate = true
		check.Warn("secret", "not set: a random secret is generated for this credential "+
			"(shown by the admin API); each node and each restart generates its own, so requests signed "+
			"with it fail elsewhere: set secret when more than one node verifies signatures")
	}
	return ok
}

// compileCredential keys the credential. A credential given without a
// secret gets a random one; a reload that keeps the credential (same
// consumer and username) keeps its secret, so clients signing with it go
// on working. A restart, or another node, generates another.
func compileCredential(c, prev *plugin.Credential) {
	f := c.Fields.(*Credential)
	if !f.generate {
		c.State = newState([]byte(f.Secret), false)
		return
	}
	if prev != nil && prev.Consumer != nil && c.Consumer != nil && prev.Consumer.ID == c.Consumer.ID {
		if p, ok := prev.State.(*state); ok && p.generated {
			c.State = newState(p.secret, true)
			return
		}
	}
	c.State = newState([]byte(randomSecret()), true)
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
