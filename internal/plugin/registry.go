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
			if k.Name == "" || k.New == nil || k.Key == nil || k.Check == nil {
				return nil, fmt.Errorf("plugin %q: credential kind %d is incomplete", reg.Name, j)
			}
			for _, other := range r.kinds {
				if other.Name == k.Name {
					return nil, fmt.Errorf("credential kind %q declared twice", k.Name)
				}
			}
			r.kinds = append(r.kinds, k)
		}
	}
	return r, nil
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
