package botdetection

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's bot-detection schema
// (kong/plugins/bot-detection/schema.lua).
type Config struct {
	// Allow are regexes of user agents let through, even when a deny
	// regex or the built-in list matches them.
	Allow []string `yaml:"allow"`
	// Deny are regexes of user agents refused.
	Deny []string `yaml:"deny"`
}

// SetDefaults applies Kong's defaults (empty lists).
func (c *Config) SetDefaults() {
	c.Allow, c.Deny = []string{}, []string{}
}

const name = "bot-detection"

// Registration describes the plugin to the registry (Kong's no_consumer).
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   2500,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

// Kong's answers: kong.response.error(403) with its default message, and
// its 400 for a repeated header. Made once; the proxy does not change an
// Exit.
var (
	exitForbidden = plugin.NewExit(http.StatusForbidden, "Forbidden")
	exitRepeated  = plugin.NewExit(http.StatusBadRequest, "Only one User-Agent header allowed")
)

// compiledRule is a rule of the built-in list, compiled.
type compiledRule struct {
	rule
	re *regexp.Regexp
}

var badAgentRegexps = func() []compiledRule {
	out := make([]compiledRule, len(badAgentRules))
	for i, r := range badAgentRules {
		out[i] = compiledRule{rule: r, re: regexp.MustCompile(r.pattern)}
	}
	return out
}()

type instance struct {
	allow, deny []*regexp.Regexp
	cache       *verdictCache
}

// New compiles the regexes. Kong's are PCRE; Go's RE2 lacks some of its
// syntax (lookaround, backreferences), and a regex it cannot compile is
// refused with Kong's text and RE2's reason.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	in := &instance{cache: newVerdictCache(cacheCapacity)}
	in.allow, errs = compile(errs, "allow", c.Allow)
	in.deny, errs = compile(errs, "deny", c.Deny)
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

func compile(errs plugin.Errors, field string, list []string) ([]*regexp.Regexp, plugin.Errors) {
	out := make([]*regexp.Regexp, 0, len(list))
	for i, s := range list {
		re, err := regexp.Compile(s)
		if err != nil {
			errs = append(errs, plugin.Problem{Path: field + "[" + strconv.Itoa(i) + "]",
				Message: "not a valid regex: " + s + " (" + err.Error() + ")"})
			continue
		}
		out = append(out, re)
	}
	return out, errs
}

// Access refuses a denied agent or a known bot, from the cache when the
// agent was seen recently. A request without User-Agent passes.
func (in *instance) Access(c *plugin.Ctx) error {
	vs := c.Req.Header["User-Agent"]
	switch {
	case len(vs) == 0:
		return nil
	case len(vs) > 1:
		return exitRepeated
	}
	agent := vs[0]
	v, ok := in.cache.get(agent)
	if !ok {
		v = in.examine(strings.Trim(agent, " \t\r\n\v\f"))
		in.cache.put(agent, v)
	}
	if v >= verdictDeny {
		return exitForbidden
	}
	return nil
}

// examine decides in Kong's order: allow, deny, then the built-in list.
func (in *instance) examine(agent string) verdict {
	for _, re := range in.allow {
		if re.MatchString(agent) {
			return verdictAllow
		}
	}
	for _, re := range in.deny {
		if re.MatchString(agent) {
			return verdictDeny
		}
	}
	if isBot(agent) {
		return verdictBot
	}
	return verdictNone
}
