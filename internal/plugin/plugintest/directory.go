// Package plugintest holds test doubles for plugin tests: a plugin.Directory
// filled by hand, so auth plugins are tested without compiling a config.
package plugintest

import (
	"slices"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Directory is an in-memory plugin.Directory. Consumers are found by id or
// username; the maps are keyed like the real lookups (consumer id for
// groups); ByKind holds the credentials by kind name, then key.
type Directory struct {
	Consumers []*plugin.Consumer
	ByKind    map[string]map[string]*plugin.Credential
	GroupsOf  map[string][]string
}

var _ plugin.Directory = (*Directory)(nil)

// Consumer finds a consumer by id or username, by id first.
func (d *Directory) Consumer(idOrUsername string) (*plugin.Consumer, bool) {
	if c, ok := d.ConsumerByID(idOrUsername); ok {
		return c, true
	}
	return d.ConsumerByUsername(idOrUsername)
}

// ConsumerByID finds a consumer by id.
func (d *Directory) ConsumerByID(id string) (*plugin.Consumer, bool) {
	for _, c := range d.Consumers {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

// ConsumerByUsername finds a consumer by username.
func (d *Directory) ConsumerByUsername(username string) (*plugin.Consumer, bool) {
	for _, c := range d.Consumers {
		if c.Username != "" && c.Username == username {
			return c, true
		}
	}
	return nil, false
}

// ConsumerByCustomID finds a consumer by custom_id.
func (d *Directory) ConsumerByCustomID(customID string) (*plugin.Consumer, bool) {
	for _, c := range d.Consumers {
		if c.CustomID != "" && c.CustomID == customID {
			return c, true
		}
	}
	return nil, false
}

// Credential finds a credential of a declared kind.
func (d *Directory) Credential(kind, key string) (*plugin.Credential, bool) {
	c, ok := d.ByKind[kind][key]
	return c, ok
}

// Credentials lists a declared kind's credentials, sorted by key: a map
// has no configuration order, and a test needs a stable one.
func (d *Directory) Credentials(kind string) []*plugin.Credential {
	byKey := d.ByKind[kind]
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []*plugin.Credential
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// Groups lists a consumer's groups.
func (d *Directory) Groups(consumerID string) []string { return d.GroupsOf[consumerID] }
