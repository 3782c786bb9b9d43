package config

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
)

// Credential kinds are declared by the plugins that own them
// (plugin.CredentialKind); the loader is told them (Options.Credentials)
// by its caller, since config knows no plugin. A declared kind's entities
// are decoded where the document has them, at the top level and nested in
// consumers, so their errors come in document order with the others'; the
// fields every credential has (id, consumer, tags, created_at) are
// decoded and checked here, the kind's own fields by the kind.

// CredentialKind is a declared credential kind as the loader sees it:
// plugin.CredentialKind's Name, New, Key, PerConsumer, KongID, Check and
// Finish.
type CredentialKind struct {
	Name        string
	New         func() any
	Key         func(fields any) string
	PerConsumer bool
	KongID      bool
	Check       func(fields any, check CredentialCheck) bool
	Finish      func(ctx context.Context, fields []any, check func(i int) CredentialCheck)
}

// CredentialCheck is where a kind's Check reports: its method set is
// plugin.CredentialCheck's.
type CredentialCheck interface {
	Error(field, message string)
	Claim(key string) (first string, ok bool)
	Duplicate(field, message, first string)
	Warn(field, message string)
	Quote(value string) string
}

// CredentialEntry is a credential of a declared kind, with its consumer,
// its id (configured, or derived: CredentialKind.KongID) and its key.
type CredentialEntry struct {
	Path string // "consumers[3].keyauth_credentials[0]" or "keyauth_credentials[1]"
	Kind string
	ID   string
	// Key is the kind's Key of Fields, taken once when the entry is built
	// (Finish may not change it): the directory indexes by it and the admin
	// API finds credentials by it.
	Key       string
	Consumer  *ConsumerEntry
	Tags      []string
	CreatedAt int64
	// Fields are the kind's own fields, as its New made them.
	Fields any
	// written is the id as the file gives it ("" for a derived one).
	written string
}

// credentialFields are the fields every credential has.
type credentialFields struct {
	Meta      `yaml:",inline"`
	ID        string       `yaml:"id"`
	Tags      []string     `yaml:"tags"`
	Consumer  *ConsumerRef `yaml:"consumer"`
	CreatedAt int64        `yaml:"created_at"`
}

// credentialDoc is one decoded credential of a declared kind.
type credentialDoc struct {
	credentialFields
	fields any
}

// declaredCredentials are the credentials of declared kinds that a
// Config or a Consumer holds, by kind name.
type declaredCredentials map[string][]credentialDoc

// credentialHolder is implemented by the types declared kinds nest in.
type credentialHolder interface {
	declaredCredentials() *declaredCredentials
}

func (c *Config) declaredCredentials() *declaredCredentials   { return &c.declared }
func (c *Consumer) declaredCredentials() *declaredCredentials { return &c.declared }

// checkKindNames refuses a kind named as a field of a type it nests in: the
// decoder looks declared kinds up first, so the kind would silently take
// over the built-in field (a kind named "plugins" would decode every
// consumer's plugins as credentials). It is the plugin's bug, not the
// file's, but the loader is where config first sees the kinds.
func checkKindNames(kinds []CredentialKind) error {
	for _, t := range [...]reflect.Type{reflect.TypeFor[Config](), reflect.TypeFor[Consumer]()} {
		fields := fieldsOf(t)
		for i := range kinds {
			if _, ok := fields.byName[kinds[i].Name]; ok {
				return fmt.Errorf("credential kind %q: %s already has a field of that name", kinds[i].Name, t.Name())
			}
		}
	}
	return nil
}

// decodeCredentials decodes the list at path of kind k, as decode does a
// typed list.
func (d *decoder) decodeCredentials(v *value, k *CredentialKind, path string) []credentialDoc {
	if d.cp.stop() || v == nil || v.kind == kindNull {
		return nil
	}
	if d.lines != nil {
		d.lines[path] = v.line
	}
	if v.kind != kindSeq {
		d.fail(path, v, "expected an array")
		return nil
	}
	docs := make([]credentialDoc, len(v.items))
	for i, item := range v.items {
		doc := &docs[i]
		doc.fields = k.New()
		fv := reflect.ValueOf(doc.fields).Elem()
		applyDefaults(fv)
		d.decodeCredential(item, reflect.ValueOf(&doc.credentialFields).Elem(), fv, JoinPath(path, "["+strconv.Itoa(i)+"]"))
	}
	return docs
}

// decodeCredential decodes one credential's map into the common fields
// and the kind's, key by key in document order, as decodeStruct does one
// struct.
func (d *decoder) decodeCredential(v *value, common, fields reflect.Value, path string) {
	if d.cp.stop() || v == nil || v.kind == kindNull {
		return
	}
	if d.lines != nil {
		d.lines[path] = v.line
	}
	if v.kind != kindMap {
		d.fail(path, v, "expected a map")
		return
	}
	cf, ff := fieldsOf(common.Type()), fieldsOf(fields.Type())
	for i, key := range v.keys {
		child := KeyPath(path, key)
		if f, ok := cf.byName[key]; ok {
			d.decode(v.vals[i], common.FieldByIndex(f.index), child)
			continue
		}
		if f, ok := ff.byName[key]; ok {
			d.decode(v.vals[i], fields.FieldByIndex(f.index), child)
			continue
		}
		if d.cp.stop() {
			return
		}
		d.fail(child, v.vals[i], "unknown field")
	}
}

// credentialCheck is the CredentialCheck of one credential.
type credentialCheck struct {
	b    *builder
	path string
	// claimed are the kind's keys, each with where it was first claimed.
	claimed map[string]string
	// perConsumer scopes claims to consumer, the credential's when it
	// resolved (else nil: nothing is claimed).
	perConsumer bool
	consumer    *ConsumerEntry
}

func (c *credentialCheck) Error(field, message string) { c.b.err(JoinPath(c.path, field), message) }

func (c *credentialCheck) Duplicate(field, message, first string) {
	c.b.add(Duplicate(JoinPath(c.path, field), message, first, false))
}

func (c *credentialCheck) Warn(field, message string) { c.b.warn(JoinPath(c.path, field), message) }

func (c *credentialCheck) Quote(value string) string { return Shorten(value, maxQuoted) }

func (c *credentialCheck) Claim(key string) (string, bool) {
	if c.perConsumer {
		if c.consumer == nil {
			return "", true
		}
		// A consumer's path is unique in the file, where its id may not
		// be (a duplicate id is an error of its own).
		key = c.consumer.Path + "\x00" + key
	}
	if first, dup := c.claimed[key]; dup {
		return first, false
	}
	c.claimed[key] = c.path
	return "", true
}

// addDeclared validates the declared credentials held at prefix
// (nested in parent, or at the top level when parent is nil), kind by kind
// in declaration order, and adds them to the model.
func (b *builder) addDeclared(held declaredCredentials, prefix string, parent *ConsumerEntry, claimed map[string]map[string]string) {
	for _, k := range b.kinds {
		docs := held[k.Name]
		path := JoinPath(prefix, k.Name)
		for j := range docs {
			if parent == nil && b.cp.stop() {
				return
			}
			b.addCredential(k, &docs[j], at(path, j), parent, claimed[k.Name])
		}
	}
}

func (b *builder) addCredential(k *CredentialKind, doc *credentialDoc, path string, parent *ConsumerEntry, claimed map[string]string) {
	b.checkID(doc.ID, path)
	ce, ok := b.credentialConsumer(doc.Consumer, path, parent)
	check := &credentialCheck{b: b, path: path, claimed: claimed, perConsumer: k.PerConsumer}
	if ok {
		check.consumer = ce
	}
	if !k.Check(doc.fields, check) {
		ok = false
	}
	if !ok {
		return
	}
	if k.PerConsumer {
		b.m.memberships++
	}
	key := k.Key(doc.fields)
	b.m.Credentials = append(b.m.Credentials, &CredentialEntry{
		Path: path, Kind: k.Name, ID: credentialID(k, doc, key, ce), Key: key,
		Consumer: ce, Tags: doc.Tags, CreatedAt: doc.CreatedAt, Fields: doc.fields, written: doc.ID,
	})
}

// credentialID is a credential's configured id, else Kong's from its
// cache key for a kind that asks for it, else one from its consumer and
// key.
func credentialID(k *CredentialKind, doc *credentialDoc, key string, ce *ConsumerEntry) string {
	switch {
	case doc.ID != "":
		return doc.ID
	case k.KongID && k.PerConsumer:
		return kongConsumerKeyID(k.Name, key, doc.Consumer, ce)
	case k.KongID:
		return KongID(k.Name, k.Name+":*:"+key)
	}
	return EntityID(k.Name, "", ce.ID+"|"+key)
}

// kongConsumerKeyID is Kong's id of a credential whose cache key holds its
// consumer as the file names it: by the username (or bare string) a
// top-level one gives, by nothing when it gives an id, by its consumer's
// id when nested; where Kong's is random (nested in a consumer with only a
// custom_id), a stable one.
func kongConsumerKeyID(kind, key string, ref *ConsumerRef, ce *ConsumerEntry) string {
	co := ce.Consumer
	switch {
	case ref != nil && ref.Username != "":
		return KongID(kind, kind+":*:"+ref.Username+":"+key)
	case ref != nil:
		return KongID(kind, kind+":*:"+key)
	case co.ID == "" && co.Username == "":
		return EntityID(kind, "", ce.ID+"|"+key)
	}
	return KongID(kind, kind+":*:"+ce.ID+":"+key)
}

// finishCredentials runs the kinds' Finish on their credentials, kind by
// kind in declaration order.
func (b *builder) finishCredentials(claimed map[string]map[string]string) {
	for _, k := range b.kinds {
		if k.Finish == nil {
			continue
		}
		var es []*CredentialEntry
		var fields []any
		for _, e := range b.m.Credentials {
			if e.Kind == k.Name {
				es, fields = append(es, e), append(fields, e.Fields)
			}
		}
		if len(es) > 0 {
			k.Finish(b.ctx, fields, func(i int) CredentialCheck {
				return &credentialCheck{b: b, path: es[i].Path, claimed: claimed[k.Name]}
			})
		}
	}
}

// claimCredentialIDs claims the ids of the declared credentials, one set
// per kind.
func (b *builder) claimCredentialIDs() {
	for _, k := range b.kinds {
		ids := idSet{}
		for _, e := range b.m.Credentials {
			if b.cp.stop() {
				return
			}
			if e.Kind == k.Name {
				b.claimID(ids, e.written, e.ID, e.Path)
			}
		}
	}
}
