package plugin

import (
	"fmt"
	"sort"
)

// Registry is the set of plugins this binary knows, by name.
type Registry struct {
	byName map[string]*Registration
	// kinds are the declared credential kinds in registration order, the
	// order their entities are checked in.
	kinds []*CredentialKind
}

// NewRegistry indexes registrations; duplicate or empty names are a bug.
func NewRegistry(regs []Registration) (*Registry, error) {
	r := &Registry{byName: make(map[string]*Registration, len(regs))}
	for i := range regs {
		reg := &regs[i]
		if reg.Name == "" || reg.NewConfig == nil || reg.New == nil {
			return nil, fmt.Errorf("plugin registration %d is incomplete", i)
		}
		if _, dup := r.byName[reg.Name]; dup {
			return nil, fmt.Errorf("plugin %q registered twice", reg.Name)
		}
		r.byName[reg.Name] = reg
		for j := range reg.Credentials {
			k := &reg.Credentials[j]
			if err := r.checkKind(reg.Name, j, k); err != nil {
				return nil, err
			}
			r.kinds = append(r.kinds, k)
		}
	}
	return r, nil
}

// checkKind refuses the j-th credential kind of plugin when it is
// incomplete, or its name or an endpoint is another kind's. The endpoints
// become admin API paths: a segment that is empty or holds pattern syntax
// would make a route that serves other paths or that ServeMux refuses, so
// only a plain segment is accepted. A clash with a core admin route is the
// admin API's to find, where the routes are.
func (r *Registry) checkKind(plugin string, j int, k *CredentialKind) error {
	if k.Name == "" || k.New == nil || k.Key == nil || k.Check == nil {
		return fmt.Errorf("plugin %q: credential kind %d is incomplete", plugin, j)
	}
	if k.Label == "" {
		return fmt.Errorf("plugin %q: credential kind %q: Label is empty", plugin, k.Name)
	}
	for _, f := range [...]struct{ field, v string }{{"Endpoint", k.Endpoint}, {"ConsumerEndpoint", k.ConsumerEndpoint}} {
		if !plainSegment(f.v) {
			return fmt.Errorf("plugin %q: credential kind %q: %s %q is not a plain path segment (letters, digits, - and _)",
				plugin, k.Name, f.field, f.v)
		}
	}
	for _, other := range r.kinds {
		switch {
		case other.Name == k.Name:
			return fmt.Errorf("credential kind %q declared twice", k.Name)
		case other.Endpoint == k.Endpoint:
			return fmt.Errorf("plugin %q: credential kind %q: Endpoint %q is credential kind %q's too", plugin, k.Name, k.Endpoint, other.Name)
		case other.ConsumerEndpoint == k.ConsumerEndpoint:
			return fmt.Errorf("plugin %q: credential kind %q: ConsumerEndpoint %q is credential kind %q's too",
				plugin, k.Name, k.ConsumerEndpoint, other.Name)
		}
	}
	return nil
}

// plainSegment reports whether s is a non-empty run of ASCII letters,
// digits, '-' and '_'.
func plainSegment(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// CredentialKinds lists the credential kinds the plugins declare, in
// registration order; none for a nil registry.
func (r *Registry) CredentialKinds() []*CredentialKind {
	if r == nil {
		return nil
	}
	return r.kinds
}

// Lookup finds a plugin by name.
func (r *Registry) Lookup(name string) (*Registration, bool) {
	reg, ok := r.byName[name]
	return reg, ok
}

// Names lists the registered plugin names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
