package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Credentials (Kong's basic-auth, jwt and acl DAOs, and the kinds plugins
// declare: credkinds.go) are declared nested in a consumer
// (`consumers[i].basicauth_credentials[j]`) or at the top level with a
// `consumer:` reference by username or id.

// ConsumerRef is a credential's consumer: `consumer: alice`, `consumer:
// {username: alice}` or `consumer: {id: 6f1c...}`. A bare string or a
// username may name the consumer's username or its id, as Kong's foreign
// keys do.
type ConsumerRef struct {
	ID       string `yaml:"id"`
	Username string `yaml:"username"`
}

func (r *ConsumerRef) setFromString(s string) { r.Username = s }

// Key returns the reference as given (id wins over username).
func (r *ConsumerRef) Key() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Username
}

// BasicAuthCredential is a basic-auth username and password (Kong
// `basicauth_credentials`). A plain password is bcrypt-hashed when the
// configuration is loaded; one given as a bcrypt hash ($2a$, $2b$, $2y$) is
// kept as it is.
type BasicAuthCredential struct {
	Meta      `yaml:",inline"`
	ID        string       `yaml:"id"`
	Username  string       `yaml:"username"`
	Password  string       `yaml:"password"`
	Tags      []string     `yaml:"tags"`
	Consumer  *ConsumerRef `yaml:"consumer"`
	CreatedAt int64        `yaml:"created_at"`
}

// JWTSecret is a jwt credential (Kong `jwt_secrets`). JWKSURI, Issuer and
// Audience are Turnpike's: with JWKSURI the verification keys are fetched
// from an identity provider's JWK Set instead of rsa_public_key; Issuer
// and Audience, when set, are checked against the token's `iss` and `aud`
// claims once its signature is verified.
type JWTSecret struct {
	Meta         `yaml:",inline"`
	ID           string       `yaml:"id"`
	Key          string       `yaml:"key"`
	Secret       string       `yaml:"secret"`
	RSAPublicKey string       `yaml:"rsa_public_key"`
	Algorithm    string       `yaml:"algorithm"`
	JWKSURI      string       `yaml:"jwks_uri"`
	Issuer       string       `yaml:"issuer"`
	Audience     []string     `yaml:"audience"`
	Tags         []string     `yaml:"tags"`
	Consumer     *ConsumerRef `yaml:"consumer"`
	CreatedAt    int64        `yaml:"created_at"`
}

// SetDefaults applies Kong's jwt_secrets defaults.
func (j *JWTSecret) SetDefaults() { j.Algorithm = "HS256" }

// ACL puts a consumer in a group (Kong `acls`).
type ACL struct {
	Meta      `yaml:",inline"`
	ID        string       `yaml:"id"`
	Group     string       `yaml:"group"`
	Tags      []string     `yaml:"tags"`
	Consumer  *ConsumerRef `yaml:"consumer"`
	CreatedAt int64        `yaml:"created_at"`
}

// jwtAlgorithms is Kong's list, in Kong's order; the value tells whether the
// algorithm verifies with a public key (and so needs rsa_public_key).
var jwtAlgorithms = []struct {
	name       string
	asymmetric bool
}{
	{"HS256", false}, {"HS384", false}, {"HS512", false},
	{"RS256", true}, {"RS384", true}, {"RS512", true},
	{"ES256", true}, {"ES384", true}, {"ES512", true},
	{"PS256", true}, {"PS384", true}, {"PS512", true},
	{"EdDSA", true},
}

// bcryptPrefixes mark a password given already hashed.
var bcryptPrefixes = []string{"$2a$", "$2b$", "$2y$"}

// credentialIndexes are the uniqueness indexes of credentials: basic-auth
// usernames, jwt keys, acl groups per consumer and the declared kinds'
// keys (ids are checked with every other kind's, checkEntityIDs).
type credentialIndexes struct {
	usernames index[*BasicAuthEntry]
	jwtKeys   index[*JWTSecretEntry]
	groups    map[aclKey]string
	// toHash are the basic-auth entries whose plain password is hashed
	// once validation is done.
	toHash []*BasicAuthEntry
	// declared are the keys claimed in each declared kind, by kind name.
	declared map[string]map[string]string
}

type aclKey struct {
	consumer *ConsumerEntry
	group    string
}

// buildCredentials validates every credential, nested ones (consumers
// given) first, then top-level ones, and adds them to the model.
func (b *builder) buildCredentials(consumers []*ConsumerEntry) {
	ix := &credentialIndexes{groups: map[aclKey]string{}, declared: map[string]map[string]string{}}
	for _, k := range b.kinds {
		ix.declared[k.Name] = map[string]string{}
	}
	split := b.basicAuthPlace()
	for i, ce := range consumers {
		if b.cp.stop() {
			return
		}
		c := &b.cfg.Consumers[i]
		b.addDeclared(c.declared, ce.Path, ce, ix.declared, b.kinds[:split])
		for j := range c.BasicAuthCredentials {
			b.addBasicAuth(ix, &c.BasicAuthCredentials[j], at(JoinPath(ce.Path, "basicauth_credentials"), j), ce)
		}
		b.addDeclared(c.declared, ce.Path, ce, ix.declared, b.kinds[split:])
		for j := range c.JWTSecrets {
			b.addJWT(ix, &c.JWTSecrets[j], at(JoinPath(ce.Path, "jwt_secrets"), j), ce)
		}
		for j := range c.ACLs {
			b.addACL(ix, &c.ACLs[j], at(JoinPath(ce.Path, "acls"), j), ce)
		}
	}
	b.addDeclared(b.cfg.declared, "", nil, ix.declared, b.kinds[:split])
	for i := range b.cfg.BasicAuthCredentials {
		if b.cp.stop() {
			return
		}
		b.addBasicAuth(ix, &b.cfg.BasicAuthCredentials[i], at("basicauth_credentials", i), nil)
	}
	b.addDeclared(b.cfg.declared, "", nil, ix.declared, b.kinds[split:])
	for i := range b.cfg.JWTSecrets {
		if b.cp.stop() {
			return
		}
		b.addJWT(ix, &b.cfg.JWTSecrets[i], at("jwt_secrets", i), nil)
	}
	for i := range b.cfg.ACLs {
		if b.cp.stop() {
			return
		}
		b.addACL(ix, &b.cfg.ACLs[i], at("acls", i), nil)
	}
	// Hashing is the slow part of a load: only a valid config pays for it
	// (the error list is decoding's too).
	if b.errs.Len() == 0 {
		b.hashPasswords(ix.toHash)
	}
}

// basicAuthPlace is where basic-auth credentials, still checked here, come
// among the declared kinds: where they always were, after key-auth's and
// before jwt's.
func (b *builder) basicAuthPlace() int {
	for i, k := range b.kinds {
		if k.Name == "jwt_secrets" {
			return i
		}
	}
	return len(b.kinds)
}

// credentialConsumer returns the consumer of a credential: its parent when
// nested, else the one its `consumer` field names. ok is false after an
// error.
func (b *builder) credentialConsumer(ref *ConsumerRef, path string, parent *ConsumerEntry) (*ConsumerEntry, bool) {
	rpath := JoinPath(path, "consumer")
	switch {
	case parent != nil && ref != nil:
		c := parent.Consumer
		return parent, b.checkNestedRef(rpath, "consumer", ref.ID, ref.Username, c.ID, c.Username)
	case parent != nil:
		return parent, true
	case ref == nil:
		b.err(rpath, "required field missing")
		return nil, false
	case ref.Key() == "":
		b.err(rpath, "must set 'id' or 'username'")
		return nil, false
	}
	c, ok := b.consumers.lookup(ref.Key())
	if !ok {
		b.errf(rpath, "consumer '%s' not found", ref.Key())
		return nil, false
	}
	return c, true
}

func (b *builder) addBasicAuth(ix *credentialIndexes, c *BasicAuthCredential, path string, parent *ConsumerEntry) {
	b.checkID(c.ID, path)
	ce, ok := b.credentialConsumer(c.Consumer, path, parent)
	e := &BasicAuthEntry{Path: path, Credential: c, Consumer: ce}
	if c.Username == "" {
		b.err(JoinPath(path, "username"), "required field missing")
		ok = false
	} else {
		if _, dup := ix.usernames.lookup(c.Username); dup {
			ok = false
		}
		register(b, &ix.usernames, "username", c.Username, path, e)
	}
	ppath := JoinPath(path, "password")
	switch {
	case c.Password == "":
		b.err(ppath, "required field missing")
		ok = false
	case isBcrypt(c.Password):
		if _, err := bcrypt.Cost([]byte(c.Password)); err != nil {
			b.errf(ppath, "invalid bcrypt hash: %v", err)
			ok = false
		}
		e.PasswordHash = c.Password
	case len(c.Password) > 72:
		b.err(ppath, "length must be at most 72 bytes (bcrypt's limit)")
		ok = false
	default:
		ix.toHash = append(ix.toHash, e)
	}
	if ok {
		b.m.BasicAuthCredentials = append(b.m.BasicAuthCredentials, e)
	}
}

func isBcrypt(s string) bool {
	for _, p := range bcryptPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// hashPasswords bcrypt-hashes plain passwords with bcrypt.DefaultCost, on
// every CPU: at cost 10 one hash takes tens of milliseconds, so a file with
// many plain passwords loads slowly (give them pre-hashed to skip this).
func (b *builder) hashPasswords(es []*BasicAuthEntry) {
	if len(es) == 0 {
		return
	}
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(es)) {
		wg.Go(func() {
			for i := range next {
				if b.ctx.Err() != nil {
					continue
				}
				h, err := bcrypt.GenerateFromPassword([]byte(es[i].Credential.Password), bcrypt.DefaultCost)
				es[i].PasswordHash, errs[i] = string(h), err
			}
		})
	}
	for i := range es {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.errf(JoinPath(es[i].Path, "password"), "cannot hash password: %v", err)
		}
	}
}

func (b *builder) addJWT(ix *credentialIndexes, j *JWTSecret, path string, parent *ConsumerEntry) {
	b.checkID(j.ID, path)
	ce, ok := b.credentialConsumer(j.Consumer, path, parent)
	e := &JWTSecretEntry{Path: path, Secret: j, Consumer: ce}
	if j.Key == "" {
		b.err(JoinPath(path, "key"), "required field missing")
		ok = false
	} else {
		if _, dup := ix.jwtKeys.lookup(j.Key); dup {
			ok = false
		}
		register(b, &ix.jwtKeys, "key", j.Key, path, e)
	}
	known, asymmetric := false, false
	names := make([]string, len(jwtAlgorithms))
	for i, a := range jwtAlgorithms {
		names[i] = a.name
		if a.name == j.Algorithm {
			known, asymmetric = true, a.asymmetric
		}
	}
	if !known {
		b.errf(JoinPath(path, "algorithm"), "expected one of: %s", strings.Join(names, ", "))
		ok = false
	}
	kpath := JoinPath(path, "rsa_public_key")
	if j.JWKSURI != "" {
		if !b.checkJWKSURI(j, path, known, asymmetric) {
			ok = false
		}
	} else if j.RSAPublicKey != "" {
		pub, err := parsePublicKey(j.RSAPublicKey)
		if err == nil && known && asymmetric {
			err = checkKeyAlgorithm(pub, j.Algorithm)
		}
		if err != nil {
			b.errf(kpath, "invalid key: %v", err)
			ok = false
		}
		e.PublicKey = pub
	}
	switch {
	case !known:
	case asymmetric && j.RSAPublicKey == "" && j.JWKSURI == "":
		b.err(kpath, "required field missing")
		ok = false
	case !asymmetric && j.Secret == "" && j.JWKSURI == "":
		// Kong generates one (its `auto` secret); the compiled snapshot
		// does, keeping it across reloads. It is known only to this
		// process, so say so.
		e.GenerateSecret = true
		b.warn(JoinPath(path, "secret"), "not set: a random secret is generated for this credential "+
			"(shown by the admin API); each node and each restart generates its own, so tokens signed "+
			"with it fail elsewhere: set secret when more than one node verifies tokens")
	}
	for i, a := range j.Audience {
		if a == "" {
			b.err(at(JoinPath(path, "audience"), i), "length must be at least 1")
			ok = false
		}
	}
	if ok {
		b.m.JWTSecrets = append(b.m.JWTSecrets, e)
	}
}

// checkJWKSURI validates a credential whose keys come from a JWK Set: an
// absolute http(s) URL, an asymmetric algorithm (a JWK Set is public, so an
// HMAC secret in it would be no secret, and a JWK must not be able to turn
// verification into HMAC), no rsa_public_key beside it, and an audience:
// an identity provider signs the tokens of all its clients with the keys of
// its one JWK Set, so without an audience any token it issued, to anyone
// for anything, would authenticate as this credential's consumer.
func (b *builder) checkJWKSURI(j *JWTSecret, path string, known, asymmetric bool) bool {
	ok := true
	u, err := url.Parse(j.JWKSURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		b.err(JoinPath(path, "jwks_uri"), "must be an absolute http or https URL")
		ok = false
	}
	if len(j.Audience) == 0 {
		b.err(JoinPath(path, "audience"), "required with jwks_uri: the identity provider signs every client's tokens "+
			"with the same keys, so without an audience any token it issued would be accepted")
		ok = false
	}
	if known && !asymmetric {
		b.err(JoinPath(path, "algorithm"), "must be an asymmetric algorithm (RS*, PS*, ES*, EdDSA) with jwks_uri")
		ok = false
	}
	if j.RSAPublicKey != "" {
		b.err(JoinPath(path, "rsa_public_key"), "cannot be combined with jwks_uri")
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
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
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

func (b *builder) addACL(ix *credentialIndexes, a *ACL, path string, parent *ConsumerEntry) {
	b.checkID(a.ID, path)
	ce, ok := b.credentialConsumer(a.Consumer, path, parent)
	if a.Group == "" {
		b.err(JoinPath(path, "group"), "required field missing")
		ok = false
	} else if ok {
		k := aclKey{ce, a.Group}
		if first, dup := ix.groups[k]; dup {
			b.errf(JoinPath(path, "group"), "duplicate group '%s' for this consumer (first defined at %s)", a.Group, first)
			ok = false
		} else {
			ix.groups[k] = path
		}
	}
	if ok {
		b.m.ACLs = append(b.m.ACLs, &ACLEntry{Path: path, ACL: a, Consumer: ce})
	}
}
