package kube

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// claim is the object a route comes from, and its age.
type claim struct {
	id      string // "Kind ns/name", as objects.byID
	created time.Time
}

// older orders claims oldest first, then by id, so that every replica
// picks the same winner.
func (a claim) older(b claim) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.id < b.id
}

// claimOf is the object a route's tags name; ok is false for a route
// that does not say (none the controller builds).
func claimOf(objs *objects, tags []string) (claim, bool) {
	var kind, ns, name string
	for _, t := range tags {
		switch k, v, _ := strings.Cut(t, ":"); k {
		case "k8s-kind":
			kind = v
		case "k8s-namespace":
			ns = v
		case "k8s-name":
			name = v
		}
	}
	if kind == "" || name == "" {
		return claim{}, false
	}
	c := claim{id: kind + " " + ns + "/" + name}
	if m, ok := objs.byID[c.id].(metav1.Object); ok {
		c.created = m.GetCreationTimestamp().Time
	}
	return c, true
}

// requestKey is the request space a route's path claims: the same key is
// the same requests, whichever route the router would pick.
func requestKey(r *importer.Route, path string) string {
	var b strings.Builder
	hosts := slices.Sorted(slices.Values(r.Hosts))
	b.WriteString(strings.Join(hosts, ","))
	b.WriteByte('\x00')
	b.WriteString(path)
	b.WriteByte('\x00')
	b.WriteString(strings.Join(slices.Sorted(slices.Values(r.Methods)), ","))
	for _, h := range slices.Sorted(maps.Keys(r.Headers)) {
		b.WriteByte('\x00')
		b.WriteString(strings.ToLower(h))
		b.WriteByte('=')
		b.WriteString(strings.Join(slices.Sorted(slices.Values(r.Headers[h])), ","))
	}
	return b.String()
}

// routePaths are a route's paths, or one empty path for a route that
// matches every path.
func routePaths(r *importer.Route) []string {
	if len(r.Paths) == 0 {
		return []string{""}
	}
	return r.Paths
}

// dropTakeovers keeps, of the routes of different objects that claim the
// same requests, the oldest object's (ingress-nginx's rule: the oldest
// Ingress keeps a host and path), so that a namespace cannot take another
// one's traffic by declaring the same host and path. The newer object's
// path is left out with a warning on it.
func dropTakeovers(cfg *importer.Config, objs *objects, ws *importer.Warnings) {
	var all []*importer.Route
	for _, s := range cfg.Services {
		all = append(all, s.Routes...)
	}
	all = append(all, cfg.Routes...)
	owner := map[string]claim{}
	for _, r := range all {
		c, ok := claimOf(objs, r.Tags)
		if !ok {
			continue
		}
		for _, p := range routePaths(r) {
			k := requestKey(r, p)
			if o, seen := owner[k]; !seen || c.older(o) {
				owner[k] = c
			}
		}
	}
	keep := func(r *importer.Route) bool {
		c, ok := claimOf(objs, r.Tags)
		if !ok {
			return true
		}
		paths := r.Paths[:0:0]
		for _, p := range routePaths(r) {
			o := owner[requestKey(r, p)]
			if o.id == c.id {
				paths = append(paths, p)
				continue
			}
			ws.Add(c.id, "", "%s is already served by %s, created earlier: left out", describeClaim(r, p), o.id)
		}
		if len(r.Paths) == 0 {
			return len(paths) == 1
		}
		r.Paths = paths
		return len(paths) > 0
	}
	for _, s := range cfg.Services {
		s.Routes = slices.DeleteFunc(s.Routes, func(r *importer.Route) bool { return !keep(r) })
	}
	cfg.Routes = slices.DeleteFunc(cfg.Routes, func(r *importer.Route) bool { return !keep(r) })
}

// describeClaim names a route's path for a person: "host a.test path /a".
func describeClaim(r *importer.Route, path string) string {
	var parts []string
	switch len(r.Hosts) {
	case 0:
	case 1:
		parts = append(parts, "host "+r.Hosts[0])
	default:
		parts = append(parts, "hosts "+strings.Join(r.Hosts, ","))
	}
	if path == "" {
		path = "/"
	}
	parts = append(parts, "path "+path)
	if len(r.Methods) > 0 {
		parts = append(parts, "methods "+strings.Join(r.Methods, ","))
	}
	return strings.Join(parts, " ")
}

// sortUnits orders units oldest first (then by kind, namespace and name),
// the order the importers are to resolve the rest of a clash in (a
// certificate's server name).
func sortUnits(units []*unit) {
	slices.SortStableFunc(units, func(a, b *unit) int {
		ta := a.obj.(metav1.Object).GetCreationTimestamp().Time
		tb := b.obj.(metav1.Object).GetCreationTimestamp().Time
		return cmp.Or(ta.Compare(tb), cmp.Compare(a.kind, b.kind), cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
}
