package config

// Credentials (the kinds plugins declare: credkinds.go) are declared
// nested in a consumer (`consumers[i].acls[j]`) or at the top level with a
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

// buildCredentials validates every credential, nested ones (consumers
// given) first, then top-level ones, and adds them to the model.
func (b *builder) buildCredentials(consumers []*ConsumerEntry) {
	// The keys claimed in each kind, by kind name.
	claimed := make(map[string]map[string]string, len(b.kinds))
	for _, k := range b.kinds {
		claimed[k.Name] = map[string]string{}
	}
	for i, ce := range consumers {
		if b.cp.stop() {
			return
		}
		b.addDeclared(b.cfg.Consumers[i].declared, ce.Path, ce, claimed)
	}
	b.addDeclared(b.cfg.declared, "", nil, claimed)
	// Finishing is the slow part of a load (bcrypt): only a valid config
	// pays for it (the error list is decoding's too).
	if b.errs.Len() == 0 {
		b.finishCredentials(claimed)
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
