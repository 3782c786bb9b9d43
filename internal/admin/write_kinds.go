package admin

import (
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// A writable kind: where it is in the flat form, what its endpoint key
// is, which fields are unique and what its type is (to read form bodies,
// whose values are all strings, as Kong's schema-driven coercion does).
type writeKind struct {
	kind string
	// keyField is the field Kong's endpoint key names ("name",
	// "username", a credential's "key"): PUT /{kind}/{key} creates an
	// entity with it when none has the key.
	keyField string
	// uniques are the fields no two entities of the kind share; scoped:
	// unique only among the entities with the same value of that
	// foreign key (a target among its upstream's, an acl group among its
	// consumer's).
	uniques []string
	scoped  string
	// typ is the entity's struct (a credential's own fields, beside the
	// common ones).
	typ reflect.Type
	// credential is the declared kind of a credential.
	credential *plugin.CredentialKind
}

// autoFields are the credential fields Kong's schemas mark `auto`: a
// create without them gets a random value, which the store keeps (the
// loader's own default for a missing jwt secret would differ per node and
// per load).
var autoFields = map[string][]string{
	"keyauth_credentials":  {"key"},
	"jwt_secrets":          {"key", "secret"},
	"hmacauth_credentials": {"secret"},
	"oauth2_credentials":   {"client_id", "client_secret"},
}

// randomString is Kong's random_string: 32 characters, from 24 random
// bytes.
func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// reference is a foreign key: child's field names an entity of parent.
// Deleting the parent deletes the children when cascade is set and is
// refused while any remains otherwise, as Kong's on_delete.
type reference struct {
	parent, child, field string
	cascade              bool
}

// nestings are the references whose child Kong also nests in its parent:
// the admin API serves the child under it (/services/{s}/routes) and a
// declarative file may write it there (services[0].routes). A credential
// kind nests in consumers too, from the registry (newWriteModel).
var nestings = []reference{
	{"services", "routes", "service", false},
	{"services", "plugins", "service", true},
	{"routes", "plugins", "route", true},
	{"consumers", "plugins", "consumer", true},
	{"upstreams", "targets", "upstream", true},
	{"certificates", "snis", "certificate", true},
}

// writeModel is every writable kind and reference, built once from the
// registry's credential kinds.
type writeModel struct {
	kinds map[string]*writeKind
	refs  []reference
	// endpoints maps a flat endpoint to its kind, nested maps
	// "parent/endpoint" to the child's kind.
	endpoints map[string]string
	nested    map[string]string
	// credentialNames are the declared kinds' names (config.Export's).
	credentialNames []string
}

func newWriteModel(reg *plugin.Registry) *writeModel {
	wm := &writeModel{
		kinds: map[string]*writeKind{
			"services":        {kind: "services", keyField: "name", uniques: []string{"name"}, typ: reflect.TypeFor[config.Service]()},
			"routes":          {kind: "routes", keyField: "name", uniques: []string{"name"}, typ: reflect.TypeFor[config.Route]()},
			"consumers":       {kind: "consumers", keyField: "username", uniques: []string{"username", "custom_id"}, typ: reflect.TypeFor[config.Consumer]()},
			"plugins":         {kind: "plugins", keyField: "instance_name", uniques: []string{"instance_name"}, typ: reflect.TypeFor[config.Plugin]()},
			"upstreams":       {kind: "upstreams", keyField: "name", uniques: []string{"name"}, typ: reflect.TypeFor[config.Upstream]()},
			"targets":         {kind: "targets", keyField: "target", uniques: []string{"target"}, scoped: "upstream", typ: reflect.TypeFor[config.Target]()},
			"certificates":    {kind: "certificates", typ: reflect.TypeFor[config.Certificate]()},
			"snis":            {kind: "snis", keyField: "name", uniques: []string{"name"}, typ: reflect.TypeFor[config.SNI]()},
			"ca_certificates": {kind: "ca_certificates", typ: reflect.TypeFor[config.CACertificate]()},
		},
		endpoints: map[string]string{},
		nested:    map[string]string{},
	}
	for _, n := range nestings {
		wm.nested[n.parent+"/"+n.child] = n.child
	}
	wm.refs = append(append(wm.refs, nestings...),
		reference{"certificates", "services", "client_certificate", false},
		reference{"certificates", "upstreams", "client_certificate", false})
	for _, k := range kinds {
		wm.endpoints[k] = k
	}
	if reg == nil {
		return wm
	}
	for _, ck := range reg.CredentialKinds() {
		wk := &writeKind{kind: ck.Name, typ: reflect.TypeOf(ck.New()).Elem(), credential: ck}
		wk.keyField = keyFieldOf(ck)
		if wk.keyField != "" {
			wk.uniques = []string{wk.keyField}
		}
		if ck.PerConsumer {
			wk.scoped = "consumer"
		}
		wm.kinds[ck.Name] = wk
		wm.refs = append(wm.refs, reference{"consumers", ck.Name, "consumer", true})
		wm.endpoints[ck.Endpoint] = ck.Name
		wm.nested["consumers/"+ck.ConsumerEndpoint] = ck.Name
		wm.credentialNames = append(wm.credentialNames, ck.Name)
	}
	return wm
}

// keyFieldOf finds the field a credential kind's Key returns, by giving
// each string field a value of its own and seeing which one comes back;
// "" when the key is not one field as written (then PUT by key cannot
// create, and creating is by POST or PUT by id).
func keyFieldOf(ck *plugin.CredentialKind) string {
	fields := ck.New()
	v := reflect.ValueOf(fields).Elem()
	names := map[string]string{}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if sf.Type.Kind() != reflect.String || !sf.IsExported() {
			continue
		}
		marker := "\x00field" + strconv.Itoa(i)
		v.Field(i).SetString(marker)
		names[marker] = yamlName(sf)
	}
	return names[ck.Key(fields)]
}

// fieldType is the type of field name of a struct (by its yaml name,
// inline structs included), nil when it has none.
func fieldType(t reflect.Type, name string) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous {
			if ft := fieldType(sf.Type, name); ft != nil {
				return ft
			}
			continue
		}
		if yamlName(sf) == name {
			return sf.Type
		}
	}
	return nil
}

func yamlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(sf.Name)
	}
	return name
}

// fks are the foreign keys of kind.
func (wm *writeModel) fks(kind string) []reference {
	var out []reference
	for _, r := range wm.refs {
		if r.child == kind {
			out = append(out, r)
		}
	}
	return out
}
