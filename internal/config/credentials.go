package config

import (
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Credentials (Kong's basic-auth and acl DAOs, and the kinds plugins
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

// ACL puts a consumer in a group (Kong `acls`).
type ACL struct {
	Meta      `yaml:",inline"`
	ID        string       `yaml:"id"`
	Group     string       `yaml:"group"`
	Tags      []string     `yaml:"tags"`
	Consumer  *ConsumerRef `yaml:"consumer"`
	CreatedAt int64        `yaml:"created_at"`
}

// bcryptPrefixes mark a password given already hashed.
var bcryptPrefixes = []string{"$2a$", "$2b$", "$2y$"}

// credentialIndexes are the uniqueness indexes of credentials: basic-auth
// usernames, acl groups per consumer and the declared kinds' keys (ids are checked with every other kind's, checkEntityIDs).
type credentialIndexes struct {
	usernames index[*BasicAuthEntry]
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
