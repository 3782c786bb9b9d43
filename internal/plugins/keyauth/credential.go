package keyauth

import (
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kindName is key-auth's credential entity (Kong `keyauth_credentials`).
const kindName = "keyauth_credentials"

// Credential is a key-auth key's own fields. Kong generates a key when
// none is given, which a declarative file cannot rely on, so key is
// required here.
type Credential struct {
	Key string `yaml:"key"`
	// TTL is the key's lifetime in seconds, 0 for none. Kong counts it from
	// the credential's creation; Turnpike counts it from the first load of
	// a configuration holding the credential (plugin.Credential.LoadedAt),
	// so a reload that keeps the key does not renew it and a restart does.
	TTL int `yaml:"ttl" admin:"nullzero"`
}

// maxTTL is the largest ttl Kong's DAO accepts (about three years).
const maxTTL = 100000000

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: kindName, Label: name, Endpoint: "key-auths", ConsumerEndpoint: "key-auth",
		New:   func() any { return &Credential{} },
		Key:   func(fields any) string { return fields.(*Credential).Key },
		Check: checkCredential,
		Compile: func(c, _ *plugin.Credential) {
			if ttl := c.Fields.(*Credential).TTL; ttl > 0 {
				c.ExpiresAt = c.LoadedAt.Add(time.Duration(ttl) * time.Second)
			}
		},
	}
}

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	k := fields.(*Credential)
	ok := true
	if k.Key == "" {
		check.Error("key", "required field missing")
		ok = false
	} else if first, free := check.Claim(k.Key); !free {
		// The key is a secret: name where it is, not what it is.
		check.Duplicate("key", "duplicate key", first)
		ok = false
	}
	if k.TTL < 0 || k.TTL > maxTTL {
		check.Error("ttl", "value should be between 0 and "+strconv.Itoa(maxTTL))
		ok = false
	}
	return ok
}
