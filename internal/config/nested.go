package config

// An entity nested in another (a route in a service, an sni in a
// certificate) belongs to it, and Kong fills in its foreign key. Tools that
// post to Kong (the Kubernetes ingress controller, decK) often write that key
// out as well; Kong accepts it when it names the parent, and refuses any
// other value with "value must be null"
// (kong/db/schema/others/declarative_config.lua: nested records have their
// parent's foreign key set to null, and flatten validates again with the
// parent's key filled in).

// namesParent reports whether a nested entity's foreign key, given as an id
// or as a key (a bare string or a name, which may also be an id), names its
// parent, known by its id and its endpoint key (name, username), either of
// which may be empty.
func namesParent(id, key, parentID, parentKey string) bool {
	if id != "" {
		return id == parentID
	}
	return key != "" && (key == parentID || key == parentKey)
}

// checkNestedRef refuses the foreign key at path of an entity nested in a
// parent (its kind) unless it names that parent.
func (b *builder) checkNestedRef(path, parent string, id, key, parentID, parentKey string) bool {
	if namesParent(id, key, parentID, parentKey) {
		return true
	}
	b.errf(path, "value must be null: it may only name the %s it is nested in", parent)
	return false
}
