package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Directory is the plugin.Directory of one snapshot: the configuration's
// consumers and credentials, indexed by plain maps built at compile time,
// so every lookup is one map access with no allocation. Everything it
// returns is shared by all requests and must not be modified.
//
// One *plugin.Consumer exists per configured consumer (ID is ConsumerID,
// the key of Step.ByConsumer). Credential ids are the configured id, or
// one derived from the credential (config.CredentialEntry.ID), stable
// across reloads.
//
// Ttls: Kong counts a credential's ttl from its creation. A declarative
// file has no creation time, so Turnpike counts it from the first load of a
// configuration holding the credential (Credential.LoadedAt); a reload that
// keeps it (same kind, key, id and consumer) keeps its original start, so
// reloading does not renew it. A restart does. A kind's Compile sets
// ExpiresAt from it; plugins check Expired.
type Directory struct {
	byID       map[string]*plugin.Consumer
	byUsername map[string]*plugin.Consumer
	byCustom   map[string]*plugin.Consumer // by custom_id
	// credentials are the declared kinds' credentials, one index per kind.
	credentials []kindIndex
}

var _ plugin.Directory = (*Directory)(nil)

// NewDirectory indexes m's consumers and credentials. now is the load time
// that ttls start at; prev (may be nil) is the previous snapshot's
// directory, whose start times are kept for unchanged credentials and
// whose credentials the kinds' Compile is given.
// kinds are the declared credential kinds (reg.CredentialKinds()); it
// panics when m holds a kind they do not declare (m was parsed with other
// kinds).
func NewDirectory(m *config.Model, now time.Time, prev *Directory, kinds []*plugin.CredentialKind) *Directory {
	d := &Directory{
		byID:       make(map[string]*plugin.Consumer, len(m.Consumers)),
		byUsername: make(map[string]*plugin.Consumer, len(m.Consumers)),
		byCustom:   map[string]*plugin.Consumer{},
	}
	// One allocation for all consumers, one per credential kind.
	consumers := make([]plugin.Consumer, len(m.Consumers))
	byEntry := make(map[*config.ConsumerEntry]*plugin.Consumer, len(m.Consumers))
	for i, ce := range m.Consumers {
		c := &consumers[i]
		*c = plugin.Consumer{ID: ce.ID, Username: ce.Consumer.Username, CustomID: ce.Consumer.CustomID}
		byEntry[ce] = c
		d.byID[c.ID] = c
		if c.Username != "" {
			d.byUsername[c.Username] = c
		}
		if c.CustomID != "" {
			d.byCustom[c.CustomID] = c
		}
	}

	d.indexCredentials(m, now, prev, kinds, byEntry)
	return d
}

// indexCredentials indexes the declared kinds' credentials by key (by
// consumer for a PerConsumer kind). A credential that the previous
// directory held with the same kind, key, id and consumer keeps its
// LoadedAt.
func (d *Directory) indexCredentials(m *config.Model, now time.Time, prev *Directory, kinds []*plugin.CredentialKind, byEntry map[*config.ConsumerEntry]*plugin.Consumer) {
	pos := make(map[string]int, len(kinds))
	d.credentials = make([]kindIndex, len(kinds))
	for i, k := range kinds {
		pos[k.Name] = i
		d.credentials[i] = kindIndex{name: k.Name, byKey: map[string]*plugin.Credential{}}
		if k.PerConsumer {
			d.credentials[i].byConsumer = map[string][]string{}
		}
	}
	// One allocation for all of them.
	creds := make([]plugin.Credential, len(m.Credentials))
	for i, e := range m.Credentials {
		at, ok := pos[e.Kind]
		if !ok {
			// Only a model parsed with other kinds than these gets here
			// (a caller's bug): indexing it under another kind's Key
			// would fail later, and less clearly.
			panic(fmt.Sprintf("snapshot: credential %s is of kind %q, which none of the kinds the directory is given declares", e.Path, e.Kind))
		}
		k, ki := kinds[at], &d.credentials[at]
		c := &creds[i]
		*c = plugin.Credential{ID: e.ID, Kind: k.Label, Consumer: byEntry[e.Consumer], Key: e.Key,
			Tags: e.Tags, Fields: e.Fields, LoadedAt: now}
		var p *plugin.Credential
		if prev != nil {
			p, _ = prev.Credential(k.Name, c.Key)
			if p != nil && p.ID == c.ID && p.Consumer.ID == c.Consumer.ID {
				c.LoadedAt = p.LoadedAt
			}
		}
		if k.Compile != nil {
			k.Compile(c, p)
		}
		ki.list = append(ki.list, c)
		if k.PerConsumer {
			// Keys clash across consumers: found by consumer only.
			ki.byConsumer[c.Consumer.ID] = append(ki.byConsumer[c.Consumer.ID], c.Key)
			continue
		}
		ki.byKey[c.Key] = c
	}
}

// kindIndex is one declared kind's credentials by key (by consumer for a
// PerConsumer kind: their keys by consumer id), and in configuration
// order.
type kindIndex struct {
	name       string
	byKey      map[string]*plugin.Credential
	byConsumer map[string][]string
	list       []*plugin.Credential
}

// kind is the index of kind (nil when no plugin declares it). A scan
// finds it: there are a few kinds, and the name a plugin asks for is the
// constant its kind was declared with, so comparing is mostly comparing
// pointers; a map of kinds measured 25 ns more per lookup.
func (d *Directory) kind(name string) *kindIndex {
	for i := range d.credentials {
		if d.credentials[i].name == name {
			return &d.credentials[i]
		}
	}
	return nil
}

// CredentialKinds is what config needs of the declared credential kinds
// (config.Options.Credentials).
func CredentialKinds(reg *plugin.Registry) []config.CredentialKind {
	var out []config.CredentialKind
	for _, k := range reg.CredentialKinds() {
		check := k.Check
		ck := config.CredentialKind{Name: k.Name, New: k.New, Key: k.Key, PerConsumer: k.PerConsumer, KongID: k.KongID,
			Check: func(fields any, c config.CredentialCheck) bool { return check(fields, c) }}
		if finish := k.Finish; finish != nil {
			ck.Finish = func(ctx context.Context, fields []any, check func(int) config.CredentialCheck) {
				finish(ctx, fields, func(i int) plugin.CredentialCheck { return check(i) })
			}
		}
		out = append(out, ck)
	}
	return out
}

// Consumer finds a consumer by id or username, by id first (as Kong
// loads an anonymous consumer).
func (d *Directory) Consumer(idOrUsername string) (*plugin.Consumer, bool) {
	if c, ok := d.byID[idOrUsername]; ok {
		return c, true
	}
	c, ok := d.byUsername[idOrUsername]
	return c, ok
}

// ConsumerByID finds a consumer by id.
func (d *Directory) ConsumerByID(id string) (*plugin.Consumer, bool) {
	c, ok := d.byID[id]
	return c, ok
}

// ConsumerByUsername finds a consumer by username.
func (d *Directory) ConsumerByUsername(username string) (*plugin.Consumer, bool) {
	c, ok := d.byUsername[username]
	return c, ok
}

// ConsumerByCustomID finds a consumer by custom_id.
func (d *Directory) ConsumerByCustomID(customID string) (*plugin.Consumer, bool) {
	c, ok := d.byCustom[customID]
	return c, ok
}

// Credential finds a credential of a declared kind by its key (expired
// ones too: the plugin checks Expired).
func (d *Directory) Credential(kind, key string) (*plugin.Credential, bool) {
	if ki := d.kind(kind); ki != nil {
		c, ok := ki.byKey[key]
		return c, ok
	}
	return nil, false
}

// Credentials lists a declared kind's credentials in configuration order:
// the list indexing built, so every caller gets the same slice.
func (d *Directory) Credentials(kind string) []*plugin.Credential {
	if ki := d.kind(kind); ki != nil {
		return ki.list
	}
	return nil
}

// Groups lists a consumer's ACL groups in configuration order (nested
// acls first, then top-level ones); nil when it has none.
func (d *Directory) Groups(consumerID string) []string {
	if ki := d.kind(plugin.GroupsKind); ki != nil {
		return ki.byConsumer[consumerID]
	}
	return nil
}
