package iprestriction

import (
	"net/http"
	"net/netip"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's ip-restriction schema
// (kong/plugins/ip-restriction/schema.lua).
type Config struct {
	// Allow lists the addresses and CIDR ranges that may pass; with it
	// set, every other address is refused.
	Allow []string `yaml:"allow"`
	// Deny lists the addresses and ranges refused; it wins over Allow.
	Deny []string `yaml:"deny"`
	// Status is the refusal's status (Kong's default 403).
	Status *int `yaml:"status"`
	// Message is the refusal's message (Kong's default names the address).
	Message *string `yaml:"message"`
}

const (
	name = "ip-restriction"

	// Kong's texts: the typedef ip_or_cidr's validator, the
	// at_least_one_of entity check, and the handler's messages.
	errEntry       = "invalid ip or cidr range: '"
	errAtLeastOne  = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
	errStatus      = "value should be between 400 and 599"
	msgNotAllowed  = "IP address not allowed: "
	msgUnknownPeer = "Cannot identify the client IP address, unix domain sockets are not supported."
)

// Registration describes the plugin to the registry. Kong's schema has no
// no_consumer, so it may be scoped to a consumer.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  990,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

type instance struct {
	allow, deny ipSet
	hasAllow    bool
	status      int
	// refusal is the answer for a configured message, made once (the
	// proxy does not change an Exit); nil means Kong's default message,
	// which names the client's address.
	refusal *plugin.Exit
}

// New validates the config as Kong's schema does and compiles the lists.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	allow, errs := parseList(errs, "allow", c.Allow)
	deny, errs := parseList(errs, "deny", c.Deny)
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		errs = append(errs, plugin.Problem{Message: errAtLeastOne})
	}
	status := http.StatusForbidden
	if c.Status != nil {
		// Kong's schema takes any number, but kong.response.error fails
		// every request outside 400-599: refused here instead.
		if status = *c.Status; status < 400 || status > 599 {
			errs = append(errs, plugin.Problem{Path: "status", Message: errStatus})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{allow: newIPSet(allow), deny: newIPSet(deny), hasAllow: len(allow) > 0, status: status}
	if c.Message != nil {
		in.refusal = plugin.NewExit(status, *c.Message)
	}
	return in, nil
}

func parseList(errs plugin.Errors, field string, list []string) ([]netip.Prefix, plugin.Errors) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, ok := parseEntry(s)
		if !ok {
			errs = append(errs, plugin.Problem{Path: field + "[" + strconv.Itoa(i) + "]", Message: errEntry + s + "'"})
			continue
		}
		out = append(out, p)
	}
	return out, errs
}

// Access refuses a denied address, then one the allow list (if any)
// does not name. A refusal is Kong's error body, or the gRPC status for a
// gRPC client.
func (in *instance) Access(c *plugin.Ctx) error {
	a, err := netip.ParseAddr(c.ForwardedIP)
	if err != nil {
		return plugin.NewExit(http.StatusForbidden, msgUnknownPeer)
	}
	if in.deny.contains(a) || in.hasAllow && !in.allow.contains(a) {
		return in.refuse(c)
	}
	return nil
}

func (in *instance) refuse(c *plugin.Ctx) error {
	if in.refusal != nil {
		return in.refusal
	}
	return plugin.NewExit(in.status, msgNotAllowed+c.ForwardedIP)
}
