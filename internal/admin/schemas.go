package admin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
)

// Kong's /schemas endpoints, which decK reads to fill defaults before a
// diff and Kong's ingress controller posts to before it admits an object:
//
//	GET  /schemas/{entity}           an entity's fields (schemas_entities.go)
//	GET  /schemas/plugins/{name}     a plugin's fields, config included
//	POST /schemas/{entity}/validate  check one entity, apply nothing
//	POST /schemas/plugins/validate   the same for a plugin (config.go)
//
// Schemas do not change while the process runs (they come from the
// binary's types and registry): each is built on its first request and
// its JSON kept. Only names that exist are kept, so the cache holds at
// most one entry per entity kind and plugin whatever clients ask.

// schemaCache is the JSON of the schemas built so far, by path.
type schemaCache struct{ m sync.Map }

func (c *schemaCache) get(key string, build func() any) []byte {
	if b, ok := c.m.Load(key); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(build()); err != nil {
		// The schemas are built from plain values; this is a bug.
		panic("admin: schema " + key + ": " + err.Error())
	}
	b, _ := c.m.LoadOrStore(key, buf.Bytes())
	return b.([]byte)
}

// schemaRoutes registers the schema endpoints. One pattern serves both
// two-segment forms: /schemas/{entity}/validate and /schemas/plugins/{name}
// overlap on /schemas/plugins/validate, which ServeMux would refuse as two
// patterns (the literal validate route, more specific, still wins).
func (a *api) schemaRoutes(mux *routeMux) {
	mux.HandleFunc("/schemas/{name}", only(http.MethodGet, a.entitySchema))
	mux.HandleFunc("/schemas/{kind}/{name}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("kind") == "plugins":
			only(http.MethodGet, a.pluginSchema)(w, r)
		case r.PathValue("name") == "validate":
			only(http.MethodPost, a.validateEntity)(w, r)
		default:
			writeJSON(w, http.StatusNotFound, message("Not found"))
		}
	})
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// entitySchema is GET /schemas/{entity}: the kinds Turnpike has, each
// credential kind its plugin declares included.
func (a *api) entitySchema(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wk := a.schemaKind(name)
	if wk == nil {
		writeJSON(w, http.StatusNotFound, message("No entity named '"+name+"'"))
		return
	}
	writeRawJSON(w, http.StatusOK, a.schemas.get(name, func() any { return a.writes.entitySchema(wk) }))
}

// pluginSchema is GET /schemas/plugins/{name}.
func (a *api) pluginSchema(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	reg, ok := a.lookupPlugin(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, message("No plugin named '"+name+"'"))
		return
	}
	writeRawJSON(w, http.StatusOK, a.schemas.get("plugins/"+name, func() any { return pluginSchema(reg) }))
}

// validateEntity is POST /schemas/{entity}/validate: the body is checked
// as a load checks the entity, in a configuration holding only it (and
// stand-ins for the entities its foreign keys name, which Kong's schema
// check does not look up either); nothing is applied.
func (a *api) validateEntity(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("kind")
	wk := a.schemaKind(name)
	if wk == nil {
		writeJSON(w, http.StatusNotFound, message("No entity named '"+name+"'"))
		return
	}
	body, err := readEntityBody(w, r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	a.checkDocument(w, name+"[0]", func() ([]byte, error) {
		o, err := a.parseEntity(body, wk)
		if err != nil {
			return nil, bodyError{err}
		}
		return a.entityDocument(wk, o), nil
	})
}

// vaultKind is the vaults entity, which has a schema but no writes
// (vaults are the file's: Kong's ingress controller validates them).
var vaultKind = &writeKind{kind: "vaults", typ: reflect.TypeFor[config.Vault]()}

// schemaKind is the entity kind named, nil when Turnpike has none.
func (a *api) schemaKind(name string) *writeKind {
	if name == vaultKind.kind {
		return vaultKind
	}
	return a.writes.kinds[name]
}

// entityDocument is a flat configuration holding only o, as the first
// entity of its kind, with a stand-in for each entity o's foreign keys
// name, and the foreign keys of the entities nested in o (a plugin under
// a route naming a consumer), and the CA certificates in force (which
// services and plugins name by id).
func (a *api) entityDocument(wk *writeKind, o *config.Object) []byte {
	flat := &config.Flat{
		Head:  &config.Object{Keys: []string{"_format_version"}, Vals: []any{"3.0"}},
		Lists: map[string][]*config.Object{},
	}
	switch {
	case wk == vaultKind:
		// Vaults are in the head of the flat form, not an entity list.
		flat.Head.Set(wk.kind, []any{o})
	case wk.credential != nil:
		flat.Credentials = []string{wk.kind}
		flat.Lists[wk.kind] = []*config.Object{o}
	default:
		flat.Lists[wk.kind] = []*config.Object{o}
	}
	s := &standIns{wm: a.writes, flat: flat, ids: map[string]string{}}
	s.refer(wk.kind, o, "")
	flat.Lists["ca_certificates"] = a.caCertsInForce()
	return flat.Render()
}

// standIns are the stand-ins of a checked document: one entity for each
// reference written, so that two nested plugins naming two consumers
// stay on two scopes.
type standIns struct {
	wm   *writeModel
	flat *config.Flat
	// ids are the stand-ins' ids by kind and reference as written.
	ids map[string]string
}

// refer points o's foreign keys at stand-ins, but for nestedIn, the one
// naming the entity o is nested in (which the load checks as it is),
// and then those of the entities nested in o. A reference keeps the form
// it was written in, a string or a mapping, which a plugin's derived id
// depends on; one that is neither is left for the load to report.
func (s *standIns) refer(kind string, o *config.Object, nestedIn string) {
	for _, ref := range s.wm.fks(kind) {
		v, _ := o.Get(ref.field)
		if ref.field == nestedIn {
			continue
		}
		switch {
		case isString(v):
			o.Set(ref.field, s.id(ref.parent, v))
		case isRefMapping(v):
			o.Set(ref.field, &config.Object{Keys: []string{"id"}, Vals: []any{s.id(ref.parent, v)}})
		}
	}
	for i, k := range o.Keys {
		field := childField(kind, k, s.wm.credentialNames)
		list, ok := o.Vals[i].([]any)
		if field == "" || !ok {
			continue
		}
		for _, it := range list {
			if child, ok := it.(*config.Object); ok {
				s.refer(k, child, field)
			}
		}
	}
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// isRefMapping reports a reference written as a mapping the load reads
// (config.Ref: an id or a name).
func isRefMapping(v any) bool {
	m, ok := v.(*config.Object)
	if !ok || len(m.Keys) == 0 {
		return false
	}
	for i, k := range m.Keys {
		if k != "id" && k != "name" || !isString(m.Vals[i]) {
			return false
		}
	}
	return true
}

// id is the id of the stand-in of kind that written names, added to the
// document the first time.
func (s *standIns) id(kind string, written any) string {
	b, _ := json.Marshal(written)
	key := kind + "/" + string(b)
	if id, ok := s.ids[key]; ok {
		return id
	}
	n := len(s.ids)
	id := fmt.Sprintf("%s%06x", standInIDPrefix, n)
	s.ids[key] = id
	s.flat.Lists[kind] = append(s.flat.Lists[kind], standIn(kind, id, n))
	return id
}

// standInIDPrefix starts the ids of the stand-in entities of a checked
// document.
const standInIDPrefix = "00000000-0000-4000-8000-5c4e3a"

// standIn is a valid entity of kind with the stand-in id, the nth
// stand-in of the document (names are unique). The kinds are the parents
// a validated entity or an entity nested in it may name.
func standIn(kind, id string, n int) *config.Object {
	o := &config.Object{}
	o.Set("id", id)
	name := "schema-validation"
	if n > 0 {
		name += "-" + strconv.Itoa(n)
	}
	switch kind {
	case "services":
		o.Set("name", name)
		o.Set("host", "schema-validation.invalid")
	case "routes":
		o.Set("name", name)
		o.Set("paths", []any{"/" + name})
	case "consumers":
		o.Set("username", name)
	case "upstreams":
		o.Set("name", name)
	case "certificates":
		cert, key := standInCertificate()
		o.Set("cert", cert)
		o.Set("key", key)
	}
	return o
}

var (
	standInOnce             sync.Once
	standInCert, standInKey string
)

// standInCertificate is a self-signed certificate and its key, made once
// per process, for the stand-in certificate an SNI is checked under.
func standInCertificate() (string, string) {
	standInOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic("admin: stand-in certificate key: " + err.Error())
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "schema-validation"},
			NotBefore:    time.Unix(0, 0),
			NotAfter:     time.Now().AddDate(100, 0, 0),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic("admin: stand-in certificate: " + err.Error())
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			panic("admin: stand-in certificate key: " + err.Error())
		}
		standInCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		standInKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	})
	return standInCert, standInKey
}
