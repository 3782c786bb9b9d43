package admin

import (
	"fmt"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// credentialKind is a credential entity served read-only: Kong's schema
// name (the index kind, and the name in the DB-less write error), the flat
// list path and the path nested under a consumer.
type credentialKind struct{ kind, flat, nested string }

// addCredentials renders the snapshot's credentials with Kong's field
// names, from their kinds' declarations. Ids are the ones
// snapshot.Directory hands the auth plugins. Endpoint keys are the kinds'
// keys; a PerConsumer kind's key (an acl group) is only unique per
// consumer, so its credentials are found by id, and by key only under
// their consumer.
func (ix *index) addCredentials(reg *plugin.Registry, created int64) {
	m := ix.snap.Model
	ts := func(v int64) int64 {
		if v != 0 {
			return v
		}
		return created
	}
	consumer := func(id string) map[string]any { return map[string]any{"id": id} }
	kinds := map[string]*plugin.CredentialKind{}
	for _, k := range reg.CredentialKinds() {
		kinds[k.Name] = k
	}
	for _, e := range m.Credentials {
		k, ok := kinds[e.Kind]
		if !ok {
			// The snapshot was compiled with another registry than the
			// admin API's (a caller's bug): name it rather than
			// dereference nil.
			panic(fmt.Sprintf("admin: credential %s is of kind %q, which the admin API's registry does not declare", e.Path, e.Kind))
		}
		cid := e.Consumer.ID
		body := render(e.Fields, created)
		body["id"], body["tags"], body["created_at"], body["consumer"] = e.ID, snapshot.ListOrNull(e.Tags), ts(e.CreatedAt), consumer(cid)
		if k.Render != nil {
			if c, ok := ix.snap.Directory.Credential(e.Kind, e.Key); ok {
				k.Render(c, body)
			}
		}
		ce := &entity{id: e.ID, key: e.Key, consumerKey: e.Key, tags: e.Tags, consumer: cid, body: body}
		if k.PerConsumer {
			ce.key = ""
		}
		ix.add(e.Kind, ce)
	}
}

// credentialKinds are the kinds the plugins declare.
func (a *api) credentialKinds() []credentialKind {
	var out []credentialKind
	for _, k := range a.src.Registry.CredentialKinds() {
		out = append(out, credentialKind{k.Name, k.Endpoint, k.ConsumerEndpoint})
	}
	return out
}

// credentialRoutes registers the flat credential lists (/key-auths,
// /basic-auths, /jwts, /acls), each also by id or endpoint key, and the
// ones nested in a consumer (/consumers/{c}/key-auth, …), also by id or
// key, both read-only like the other entities. The paths come from the
// plugins' declarations, so one a core route already serves ("services",
// a nested "plugins") is an error naming the kind, as a plugin's own
// admin route would be, not ServeMux's panic.
func (a *api) credentialRoutes(mux *routeMux) error {
	notFound := func(w http.ResponseWriter) { writeJSON(w, http.StatusNotFound, message("Not found")) }
	for _, ck := range a.credentialKinds() {
		kind := ck.kind
		for _, route := range []struct {
			pattern string
			serve   func(http.ResponseWriter, *http.Request, *index)
		}{
			{"/" + ck.flat, func(w http.ResponseWriter, r *http.Request, ix *index) {
				a.list(w, r, ix, kind, nil)
			}},
			{"/" + ck.flat + "/{id}", func(w http.ResponseWriter, r *http.Request, ix *index) {
				e := ix.find(kind, r.PathValue("id"))
				if e == nil {
					notFound(w)
					return
				}
				writeJSON(w, http.StatusOK, e.body)
			}},
			{"/consumers/{id}/" + ck.nested, func(w http.ResponseWriter, r *http.Request, ix *index) {
				c := ix.find("consumers", r.PathValue("id"))
				if c == nil {
					notFound(w)
					return
				}
				a.list(w, r, ix, kind, func(e *entity) bool { return e.consumer == c.id })
			}},
			{"/consumers/{id}/" + ck.nested + "/{cred}", func(w http.ResponseWriter, r *http.Request, ix *index) {
				c := ix.find("consumers", r.PathValue("id"))
				if c == nil {
					notFound(w)
					return
				}
				want := r.PathValue("cred")
				var byKey *entity
				for _, e := range ix.byKind[kind] {
					if e.consumer != c.id {
						continue
					}
					if e.id == want {
						writeJSON(w, http.StatusOK, e.body)
						return
					}
					if byKey == nil && e.consumerKey != "" && e.consumerKey == want {
						byKey = e
					}
				}
				if byKey == nil {
					notFound(w)
					return
				}
				writeJSON(w, http.StatusOK, byKey.body)
			}},
		} {
			if err := handle(mux, route.pattern, a.readOnly(kind, route.serve)); err != nil {
				return fmt.Errorf("credential kind %q: admin route %s: %v", kind, route.pattern, err)
			}
		}
	}
	return nil
}
