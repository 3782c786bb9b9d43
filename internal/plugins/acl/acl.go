package acl

import (
	"fmt"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's acl schema (kong/plugins/acl/schema.lua).
type Config struct {
	// Allow lists the groups that may consume the route or service.
	Allow []string `yaml:"allow"`
	// Deny lists the groups that may not. Exactly one of Allow and Deny is
	// non-empty; the other may be absent, null or empty.
	Deny []string `yaml:"deny"`
	// HideGroupsHeader stops the groups header from being sent upstream.
	HideGroupsHeader bool `yaml:"hide_groups_header"`
	// AlwaysUseAuthenticatedGroups prefers the authenticator's groups even
	// when a consumer was authenticated with a credential (by default they
	// are used only with no consumer or the anonymous consumer).
	AlwaysUseAuthenticatedGroups bool `yaml:"always_use_authenticated_groups"`
}

// SharedAuthenticatedGroups is the c.Shared key under which an authenticator
// that does not map to a consumer stores the request's groups, as a
// []string (Kong's kong.ctx.shared.authenticated_groups). Present means
// "authenticated with these groups", even when the slice is empty.
const SharedAuthenticatedGroups = "authenticated_groups"

const (
	name = "acl"

	headerConsumerGroups      = "X-Consumer-Groups"
	headerAuthenticatedGroups = "X-Authenticated-Groups"

	// Kong's kong/plugins/acl/handler.lua answers a blocked request with
	// this message, and an unidentified one with kong.response.error(401),
	// whose default message is "Unauthorized" (kong/tools/http.lua).
	msgForbidden    = "You cannot consume this service"
	msgUnauthorized = "Unauthorized"

	// Kong's entity checks only_one_of and at_least_one_of on
	// {config.allow, config.deny} (kong/db/schema/init.lua).
	errOnlyOne    = "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"
	errAtLeastOne = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
)

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        name,
		Priority:    950,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
	}
}

type instance struct {
	// deny is Kong's DENY type: chosen when deny is non-empty, otherwise the
	// allow list applies.
	deny   bool
	groups map[string]struct{}
	hide   bool
	always bool
	env    plugin.Env
}

// New validates the config as Kong's schema does and precomputes the group
// set.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	// only_one_of runs only when both fields are present (even if empty);
	// at_least_one_of always runs.
	if c.Allow != nil && c.Deny != nil && (len(c.Allow) > 0) == (len(c.Deny) > 0) {
		errs = append(errs, plugin.Errors{{Message: errOnlyOne}}...)
	}
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		errs = append(errs, plugin.Errors{{Message: errAtLeastOne}}...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{
		deny:   len(c.Deny) > 0,
		hide:   c.HideGroupsHeader,
		always: c.AlwaysUseAuthenticatedGroups,
		env:    env,
	}
	list := c.Allow
	if in.deny {
		list = c.Deny
	}
	in.groups = make(map[string]struct{}, len(list))
	for _, g := range list {
		in.groups[g] = struct{}{}
	}
	return in, nil
}

// Access decides as Kong's handler does:
//   - no consumer: the authenticator's groups decide; without them the answer
//     is 403 if a credential was nevertheless recorded, 401 otherwise;
//   - a consumer: its own groups decide, unless it is the anonymous consumer
//     (no credential) or always_use_authenticated_groups is set and the
//     authenticator's groups exist, which then take over. A consumer with no
//     groups at all under an allow list gets 403 (credential) or 401
//     (anonymous); under a deny list it passes with an empty groups header.
func (in *instance) Access(c *plugin.Ctx) error {
	var groups []string
	header := headerConsumerGroups
	if c.Consumer == nil {
		ag, ok := in.authenticatedGroups(c)
		if !ok {
			return notIdentified(c)
		}
		groups, header = ag, headerAuthenticatedGroups
	} else {
		var ag []string
		var ok bool
		if c.Credential == "" || in.always {
			ag, ok = in.authenticatedGroups(c)
		}
		if ok {
			groups, header = ag, headerAuthenticatedGroups
		} else {
			if c.Directory != nil {
				groups = c.Directory.Groups(c.Consumer.ID)
			}
			if len(groups) == 0 && !in.deny {
				return notIdentified(c)
			}
		}
	}
	if in.member(groups) != in.deny {
		if !in.hide {
			c.Req.Header[header] = []string{strings.Join(groups, ", ")}
		}
		return nil
	}
	return plugin.NewExit(403, msgForbidden)
}

// member reports whether any of groups is in the configured list. Kong
// compares group names as plain, case-sensitive strings.
func (in *instance) member(groups []string) bool {
	for _, g := range groups {
		if _, ok := in.groups[g]; ok {
			return true
		}
	}
	return false
}

// notIdentified is Kong's answer when no groups can be found: 403 if a
// credential was recorded, 401 otherwise.
func notIdentified(c *plugin.Ctx) error {
	if c.Credential != "" {
		return plugin.NewExit(403, msgForbidden)
	}
	return plugin.NewExit(401, msgUnauthorized)
}

// authenticatedGroups reads the groups a non-consumer authenticator left in
// c.Shared. A value of another type is ignored with a warning, as Kong does
// with a non-table.
func (in *instance) authenticatedGroups(c *plugin.Ctx) ([]string, bool) {
	v, ok := c.Shared[SharedAuthenticatedGroups]
	if !ok {
		return nil, false
	}
	groups, ok := v.([]string)
	if !ok {
		if in.env.Logger != nil {
			in.env.Logger.Warn("acl: invalid authenticated_groups, a []string was expected",
				"type", fmt.Sprintf("%T", v))
		}
		return nil, false
	}
	return groups, true
}
