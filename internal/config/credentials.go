package config

// Credentials (Kong's acl DAO, and the kinds plugins declare:
// credkinds.go) are declared nested in a consumer (`consumers[i].acls[j]`)
// or at the top level with a `consumer:` reference by username or id.

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

// ACL puts a consumer in a group (Kong `acls`).
type ACL struct {
	Meta      `yaml:",inline"`
	ID        string       `yaml:"id"`
	Group     string       `yaml:"group"`
	Tags      []string     `yaml:"tags"`
	Consumer  *ConsumerRef `yaml:"consumer"`
	CreatedAt int64        `yaml:"created_at"`
}

// credentialIndexes are the uniqueness indexes of credentials: acl groups
// per consumer and the declared kinds' keys (ids are checked with every
// other kind's, checkEntityIDs).
type credentialIndexes struct {
	groups map[aclKey]string
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
	for i, ce := range consumers {
		if b.cp.stop() {
			return
		}
		c := &b.cfg.Consumers[i]
		b.addDeclared(c.declared, ce.Path, ce, ix.declared)
		for j := range c.ACLs {
			b.addACL(ix, &c.ACLs[j], at(JoinPath(ce.Path, "acls"), j), ce)
		}
	}
	b.addDeclared(b.cfg.declared, "", nil, ix.declared)
	for i := range b.cfg.ACLs {
		if b.cp.stop() {
			return
		}
		b.addACL(ix, &b.cfg.ACLs[i], at("acls", i), nil)
	}
	// Finishing is the slow part of a load (bcrypt): only a valid config
	// pays for it (the error list is decoding's too).
	if b.errs.Len() == 0 {
		b.finishCredentials(ix.declared)
	}
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
