package acl

import "github.com/turnpikegw/turnpike/internal/plugin"

// Credential is an acl entity's own field: the group it puts its consumer
// in (Kong `acls`). A group is unique per consumer, not across them.
type Credential struct {
	Group string `yaml:"group"`
}

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: plugin.GroupsKind, Label: name, Endpoint: "acls", ConsumerEndpoint: "acls",
		New:         func() any { return &Credential{} },
		Key:         func(fields any) string { return fields.(*Credential).Group },
		PerConsumer: true,
		// Kong's cache key holds the consumer and the group, so its id is
		// derived from them.
		KongID: true,
		Check:  checkCredential,
	}
}

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	g := fields.(*Credential).Group
	if g == "" {
		check.Error("group", "required field missing")
		return false
	}
	if first, free := check.Claim(g); !free {
		check.Duplicate("group", "duplicate group '"+check.Quote(g)+"' for this consumer", first)
		return false
	}
	return true
}
