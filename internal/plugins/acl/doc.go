// Package acl is Kong's acl plugin: it lets a request through only when the
// groups of the authenticated consumer (its `acls` entries) or the groups set
// by a non-consumer authenticator match the configured allow or deny list,
// and tells the upstream which groups those were in X-Consumer-Groups or
// X-Authenticated-Groups.
//
// The plugin authorises; it does not authenticate. An auth plugin with a
// higher priority (key-auth, basic-auth, jwt...) must have set c.Consumer
// first. An authenticator that knows groups but no consumer (as LDAP or
// OpenID Connect plugins do in Kong) hands them over in
// c.Shared["authenticated_groups"] as a []string, the counterpart of Kong's
// kong.ctx.shared.authenticated_groups.
package acl
