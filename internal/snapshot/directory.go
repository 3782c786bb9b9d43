package snapshot

import (
	"crypto/rand"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Directory is the plugin.Directory of one snapshot: the configuration's
// consumers and credentials, indexed by plain maps built at compile time,
// so every lookup is one map access with no allocation. Everything it
// returns is shared by all requests and must not be modified.
//
// One *plugin.Consumer exists per configured consumer (ID is ConsumerID,
// the key of Step.ByConsumer). Credential ids are the configured id, or a
// name-based UUID of the credential kind, consumer id and key (username for
// basic-auth), stable across reloads.
//
// Ttls: Kong counts a credential's ttl from its creation. A declarative
// file has no creation time, so Turnpike counts it from the first load of a
// configuration holding the credential (Credential.LoadedAt); a reload that
// keeps it (same kind, key, id and consumer) keeps its original start, so
// reloading does not renew it. A restart does. A kind's Compile sets
// ExpiresAt from it; plugins check Expired.
//
// A jwt HMAC credential given without a secret gets a random one, as Kong
// generates it; a reload that keeps the credential (same consumer and key)
// keeps its secret, so the tokens signed with it stay valid. A restart,
// or another node, generates another.
type Directory struct {
	consumers map[string]*plugin.Consumer // by id and by username
	byCustom  map[string]*plugin.Consumer // by custom_id
	// credentials are the declared kinds' credentials, one index per kind.
	credentials []kindIndex
	basicAuth   map[string]*plugin.Credential
	jwt         map[string]*plugin.Credential
	groups      map[string][]string // by consumer id
	// generated are the jwt keys whose secret this directory, or one
	// before it, generated.
	generated map[string]struct{}
}

var _ plugin.Directory = (*Directory)(nil)

// NewDirectory indexes m's consumers and credentials. now is the load time
// that ttls start at; prev (may be nil) is the previous snapshot's
// directory, whose start times and generated secrets are kept for
// unchanged credentials.
// kinds are the declared credential kinds (reg.CredentialKinds()).
func NewDirectory(m *config.Model, now time.Time, prev *Directory, kinds []*plugin.CredentialKind) *Directory {
	d := &Directory{
		consumers: make(map[string]*plugin.Consumer, 2*len(m.Consumers)),
		byCustom:  map[string]*plugin.Consumer{},
		basicAuth: make(map[string]*plugin.Credential, len(m.BasicAuthCredentials)),
		jwt:       make(map[string]*plugin.Credential, len(m.JWTSecrets)),
		groups:    map[string][]string{},
		generated: map[string]struct{}{},
	}
	// One allocation for all consumers, one per credential kind.
	consumers := make([]plugin.Consumer, len(m.Consumers))
	byEntry := make(map[*config.ConsumerEntry]*plugin.Consumer, len(m.Consumers))
	for i, ce := range m.Consumers {
		c := &consumers[i]
		*c = plugin.Consumer{ID: ce.ID, Username: ce.Consumer.Username, CustomID: ce.Consumer.CustomID}
		byEntry[ce] = c
		d.consumers[c.ID] = c
		if c.Username != "" {
			d.consumers[c.Username] = c
		}
		if c.CustomID != "" {
			d.byCustom[c.CustomID] = c
		}
	}

	basics := make([]plugin.Credential, len(m.BasicAuthCredentials))
	for i, e := range m.BasicAuthCredentials {
		b, c := e.Credential, byEntry[e.Consumer]
		basics[i] = plugin.Credential{
			ID:   config.BasicAuthID(e),
			Kind: "basic-auth", Consumer: c, Username: b.Username, PasswordHash: e.PasswordHash, Tags: b.Tags,
		}
		d.basicAuth[b.Username] = &basics[i]
	}

	jwts := make([]plugin.Credential, len(m.JWTSecrets))
	for i, e := range m.JWTSecrets {
		j, c := e.Secret, byEntry[e.Consumer]
		secret := j.Secret
		if e.GenerateSecret {
			secret = d.generatedSecret(prev, j.Key, c.ID)
		}
		jwts[i] = plugin.Credential{
			ID:   config.JWTSecretID(e),
			Kind: "jwt", Consumer: c, Key: j.Key, Secret: secret, RSAPublicKey: j.RSAPublicKey,
			Algorithm: j.Algorithm, PublicKey: e.PublicKey, JWKSURI: j.JWKSURI, Issuer: j.Issuer,
			Audience: j.Audience, Tags: j.Tags,
		}
		d.jwt[j.Key] = &jwts[i]
	}

	for _, e := range m.ACLs {
		id := byEntry[e.Consumer].ID
		d.groups[id] = append(d.groups[id], e.ACL.Group)
	}
	d.indexCredentials(m, now, prev, kinds, byEntry)
	return d
}

// indexCredentials indexes the declared kinds' credentials by key. A
// credential that the previous directory held with the same kind, key, id
// and consumer keeps its LoadedAt.
func (d *Directory) indexCredentials(m *config.Model, now time.Time, prev *Directory, kinds []*plugin.CredentialKind, byEntry map[*config.ConsumerEntry]*plugin.Consumer) {
	pos := make(map[string]int, len(kinds))
	d.credentials = make([]kindIndex, len(kinds))
	for i, k := range kinds {
		pos[k.Name] = i
		d.credentials[i] = kindIndex{name: k.Name, byKey: map[string]*plugin.Credential{}}
	}
	// One allocation for all of them.
	creds := make([]plugin.Credential, len(m.Credentials))
	for i, e := range m.Credentials {
		k, ix := kinds[pos[e.Kind]], d.credentials[pos[e.Kind]].byKey
		c := &creds[i]
		*c = plugin.Credential{ID: e.ID, Kind: k.Label, Consumer: byEntry[e.Consumer], Key: k.Key(e.Fields),
			Tags: e.Tags, Fields: e.Fields, LoadedAt: now}
		var p *plugin.Credential
		if prev != nil {
			p = prev.index(k.Name)[c.Key]
			if p != nil && p.ID == c.ID && p.Consumer.ID == c.Consumer.ID {
				c.LoadedAt = p.LoadedAt
			}
		}
		if k.Compile != nil {
			k.Compile(c, p)
		}
		ix[c.Key] = c
		d.credentials[pos[e.Kind]].list = append(d.credentials[pos[e.Kind]].list, c)
	}
}

// kindIndex is one declared kind's credentials by key, and in
// configuration order.
type kindIndex struct {
	name  string
	byKey map[string]*plugin.Credential
	list  []*plugin.Credential
}

// list is kind's credentials in configuration order (nil when no plugin
// declares it).
func (d *Directory) list(kind string) []*plugin.Credential {
	for i := range d.credentials {
		if d.credentials[i].name == kind {
			return d.credentials[i].list
		}
	}
	return nil
}

// index is the index of kind (nil when no plugin declares it). A scan
// finds it: there are a few kinds, and the name a plugin asks for is the
// constant its kind was declared with, so comparing is mostly comparing
// pointers; a map of kinds measured 25 ns more per lookup.
func (d *Directory) index(kind string) map[string]*plugin.Credential {
	for i := range d.credentials {
		if d.credentials[i].name == kind {
			return d.credentials[i].byKey
		}
	}
	return nil
}

// CredentialKinds is what config needs of the declared credential kinds
// (config.Options.Credentials).
func CredentialKinds(reg *plugin.Registry) []config.CredentialKind {
	var out []config.CredentialKind
	for _, k := range reg.CredentialKinds() {
		check := k.Check
		out = append(out, config.CredentialKind{Name: k.Name, New: k.New, Key: k.Key,
			Check: func(fields any, c config.CredentialCheck) bool { return check(fields, c) }})
	}
	return out
}

// generatedSecret is the secret of the jwt credential key of consumer
// consumerID that has none configured: the one prev generated for the same
// consumer and key, else a new one.
func (d *Directory) generatedSecret(prev *Directory, key, consumerID string) string {
	d.generated[key] = struct{}{}
	if prev != nil {
		if _, ok := prev.generated[key]; ok {
			if p := prev.jwt[key]; p.Consumer.ID == consumerID {
				return p.Secret
			}
		}
	}
	return randomSecret()
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

// Consumer finds a consumer by id or username.
func (d *Directory) Consumer(idOrUsername string) (*plugin.Consumer, bool) {
	c, ok := d.consumers[idOrUsername]
	return c, ok
}

// ConsumerByCustomID finds a consumer by custom_id.
func (d *Directory) ConsumerByCustomID(customID string) (*plugin.Consumer, bool) {
	c, ok := d.byCustom[customID]
	return c, ok
}

// Credential finds a credential of a declared kind by its key (expired
// ones too: the plugin checks Expired).
func (d *Directory) Credential(kind, key string) (*plugin.Credential, bool) {
	c, ok := d.index(kind)[key]
	return c, ok
}

// BasicAuth finds a basic-auth credential by username.
func (d *Directory) BasicAuth(username string) (*plugin.Credential, bool) {
	c, ok := d.basicAuth[username]
	return c, ok
}

// JWT finds a jwt credential by its key.
func (d *Directory) JWT(key string) (*plugin.Credential, bool) {
	c, ok := d.jwt[key]
	return c, ok
}

// Groups lists a consumer's ACL groups in configuration order (nested
// acls first, then top-level ones); nil when it has none.
func (d *Directory) Groups(consumerID string) []string {
	return d.groups[consumerID]
}
