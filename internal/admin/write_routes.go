package admin

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// nestedEntityRoutes serves one entity under its parent, as Kong does
// (/services/{s}/routes/{r}, /upstreams/{u}/targets/{t}, ...): GET finds
// it only when it belongs to the parent, and writes go where the
// readOnly wrapper sends them.
func (a *api) nestedEntityRoutes(mux *routeMux) {
	for _, n := range nestings {
		mux.HandleFunc("/"+n.parent+"/{id}/"+n.child+"/{child}", a.readOnly(n.child, func(w http.ResponseWriter, r *http.Request, ix *index) {
			p := ix.find(n.parent, r.PathValue("id"))
			var e *entity
			if p != nil {
				e = ix.findUnder(n.child, n.field, p.id, r.PathValue("child"))
			}
			if e == nil {
				writeJSON(w, http.StatusNotFound, message("Not found"))
				return
			}
			writeJSON(w, http.StatusOK, e.body)
		}))
	}
}

// findUnder looks an entity up among those whose foreign key field is
// parentID: by id, then by endpoint key or key among its consumer's. A
// key unique only within its parent (a target's address, a PerConsumer
// credential's key) names the one under this parent, not the first of
// any.
func (ix *index) findUnder(kind, field, parentID, idOrKey string) *entity {
	var byKey *entity
	for _, e := range ix.byKind[kind] {
		if foreignOf(e, field) != parentID {
			continue
		}
		if e.id == idOrKey {
			return e
		}
		if byKey == nil && (e.key != "" && e.key == idOrKey || e.consumerKey != "" && e.consumerKey == idOrKey) {
			byKey = e
		}
	}
	return byKey
}

// addSNIs indexes a certificate's SNIs, which the model keeps with it.
func (ix *index) addSNIs(ce *config.CertificateEntry, created int64) {
	for _, s := range ce.SNIs {
		id := config.SNIID(s)
		body := map[string]any{"id": id, "name": s.Name, "certificate": map[string]any{"id": ce.ID},
			"tags": snapshot.ListOrNull(s.Tags), "created_at": orLoadTime(s.CreatedAt, created), "updated_at": orLoadTime(s.UpdatedAt, created)}
		ix.add("snis", &entity{id: id, key: s.Name, tags: s.Tags, certificate: ce.ID, body: body})
	}
}

// addCACerts indexes the CA certificates, with Kong's cert_digest.
func (ix *index) addCACerts(cas []*config.CACertEntry, created int64) {
	for _, ca := range cas {
		c := ca.CACert
		id := config.CACertID(ca)
		body := map[string]any{"id": id, "cert": c.Cert, "cert_digest": ca.Digest, "tags": snapshot.ListOrNull(c.Tags),
			"created_at": orLoadTime(c.CreatedAt, created), "updated_at": orLoadTime(c.UpdatedAt, created)}
		ix.add("ca_certificates", &entity{id: id, tags: c.Tags, body: body})
	}
}

func orLoadTime(v, created int64) int64 {
	if v != 0 {
		return v
	}
	return created
}
