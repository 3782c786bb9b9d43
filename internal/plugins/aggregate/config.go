package aggregate

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

const pluginName = "aggregate"

// Priority runs the plugin after authentication, rate limits and the
// request transformers (so a consumer and its claims are known), and
// before opentelemetry's access phase (14) would be skipped by an answer:
// tracing decides its trace id first.
const Priority = 10

// Limits and defaults.
const (
	defaultTimeout  = 2000    // ms, the whole aggregation
	defaultMaxCalls = 10      // calls a config may list
	hardMaxCalls    = 64      // ... at most
	defaultMaxBody  = 1 << 20 // bytes, one call's answer
	hardMaxBody     = 64 << 20
	maxTimeout      = 600000 // ms
	maxDepth        = 64     // JSON nesting accepted in an answer
)

// Config is the plugin's config (issue 20's shape).
type Config struct {
	// Timeout bounds the whole aggregation, in ms.
	Timeout int `yaml:"timeout"`
	// MaxCalls bounds the calls listed.
	MaxCalls int `yaml:"max_calls"`
	// MaxBody bounds one call's answer, in bytes.
	MaxBody int    `yaml:"max_body"`
	Calls   []Call `yaml:"calls"`
	// Cache is where calls with a cache_ttl keep their answers.
	Cache CacheConfig `yaml:"cache"`
}

// Call is one backend call.
type Call struct {
	Name    string `yaml:"name"`
	URL     string `yaml:"url"`
	Service string `yaml:"service"`
	Path    string `yaml:"path"`
	Method  string `yaml:"method"`
	// Group is where the answer goes: nil merges it at the top level.
	Group *string `yaml:"group"`
	// Timeout bounds this call, in ms (0: the whole timeout).
	Timeout int `yaml:"timeout"`
	// Required: true fails the aggregation (502) when the call fails;
	// false puts null in its place; unset leaves it out.
	Required       *bool             `yaml:"required"`
	After          []string          `yaml:"after"`
	Target         string            `yaml:"target"`
	Allow          []string          `yaml:"allow"`
	Deny           []string          `yaml:"deny"`
	Mapping        map[string]string `yaml:"mapping"`
	Collection     string            `yaml:"collection"`
	ForwardHeaders []string          `yaml:"forward_headers"`
	// CacheTTL keeps the call's 200 answers for this many seconds (nil:
	// not cached).
	CacheTTL *int `yaml:"cache_ttl"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	c.Timeout = defaultTimeout
	c.MaxCalls = defaultMaxCalls
	c.MaxBody = defaultMaxBody
	c.Cache.setDefaults()
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      pluginName,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
		Admin:     []plugin.AdminRoute{{Method: http.MethodDelete, Path: "/aggregate/cache", Serve: serveFlush}},
	}
}

// call is one compiled call.
type call struct {
	name    string
	method  string
	service string // the service's id; "" for a url call
	// label names the call's upstream in the record when no target was
	// reached: the service's name or the URL's host.
	label  string
	scheme string // url calls
	host   string // url calls
	tmpl   template
	// group is the top-level key of the answer ("" merges it); slot is
	// the key a failed optional call's null goes under.
	group     string
	slot      string
	timeout   int64 // ns
	required  bool
	nullOnErr bool
	after     []int
	next      []int // the calls that list this one in after
	target    []string
	allow     *tree
	deny      *tree
	mapping   map[string]string
	coll      string
	forward   []string // canonical names
	// cacheTTL keeps the call's answers (0: not cached); hitName names a
	// hit in the record's calls.
	cacheTTL time.Duration
	hitName  string
}

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// checker collects a config's problems.
type checker struct {
	errs plugin.Errors
	env  plugin.Env
}

func (k *checker) add(path, msg string) {
	k.errs = append(k.errs, plugin.Problem{Path: path, Message: msg})
}

// compile checks cfg and builds its calls.
func (k *checker) compile(cfg *Config) []call {
	if cfg.Timeout < 1 || cfg.Timeout > maxTimeout {
		k.add("timeout", "value should be between 1 and "+strconv.Itoa(maxTimeout))
	}
	if cfg.MaxCalls < 1 || cfg.MaxCalls > hardMaxCalls {
		k.add("max_calls", "value should be between 1 and "+strconv.Itoa(hardMaxCalls))
	}
	if cfg.MaxBody < 1 || cfg.MaxBody > hardMaxBody {
		k.add("max_body", "value should be between 1 and "+strconv.Itoa(hardMaxBody))
	}
	switch {
	case len(cfg.Calls) == 0:
		k.add("calls", "required field missing")
		return nil
	case cfg.MaxCalls >= 1 && len(cfg.Calls) > cfg.MaxCalls:
		k.add("calls", "at most "+strconv.Itoa(cfg.MaxCalls)+" calls (max_calls)")
	}
	index := make(map[string]int, len(cfg.Calls))
	for i, c := range cfg.Calls {
		p := "calls[" + strconv.Itoa(i) + "]"
		switch {
		case c.Name == "":
			k.add(p+".name", "required field missing")
		case !isName(c.Name):
			k.add(p+".name", "must be letters, digits, '_' or '-'")
		default:
			if j, dup := index[c.Name]; dup {
				k.add(p+".name", "the name '"+c.Name+"' is also calls["+strconv.Itoa(j)+"]'s")
			} else {
				index[c.Name] = i
			}
		}
	}
	calls := make([]call, len(cfg.Calls))
	groups := map[string]int{}
	for i := range cfg.Calls {
		k.call(cfg, i, index, &calls[i], groups)
	}
	k.cycles(cfg, calls)
	return calls
}

// call checks and compiles calls[i] into out.
func (k *checker) call(cfg *Config, i int, index map[string]int, out *call, groups map[string]int) {
	c := &cfg.Calls[i]
	p := "calls[" + strconv.Itoa(i) + "]"
	out.name = c.Name
	out.method = http.MethodGet
	if c.Method != "" {
		m := strings.ToUpper(c.Method)
		if !slices.Contains(methods, m) {
			k.add(p+".method", "expected one of: "+strings.Join(methods, ", "))
		}
		out.method = m
	}
	for j, a := range c.After {
		d, ok := index[a]
		switch {
		case !ok:
			k.add(p+".after["+strconv.Itoa(j)+"]", "no call named '"+a+"'")
		case d == i:
			k.add(p+".after["+strconv.Itoa(j)+"]", "a call cannot come after itself")
		case slices.Contains(c.After[:j], a):
			k.add(p+".after["+strconv.Itoa(j)+"]", "'"+a+"' is listed twice")
		default:
			out.after = append(out.after, d)
		}
	}
	k.target(c, p, out)
	k.cacheTTL(c, p, out)
	out.timeout = int64(cfg.Timeout) * 1e6
	if c.Timeout != 0 {
		if c.Timeout < 1 || c.Timeout > maxTimeout {
			k.add(p+".timeout", "value should be between 1 and "+strconv.Itoa(maxTimeout))
		}
		out.timeout = min(out.timeout, int64(c.Timeout)*1e6)
	}
	out.required = c.Required != nil && *c.Required
	out.nullOnErr = c.Required != nil && !*c.Required
	k.placement(c, p, out, i, groups)
	out.target = splitPath(c.Target)
	if c.Target != "" && out.target == nil {
		k.add(p+".target", "expected a dot path of field names")
	}
	out.allow = k.tree(c.Allow, p+".allow")
	out.deny = k.tree(c.Deny, p+".deny")
	if out.allow != nil && out.deny != nil {
		k.add(p+".deny", "allow and deny are exclusive")
	}
	for from, to := range c.Mapping {
		if from == "" || to == "" {
			k.add(p+".mapping", "names must not be empty")
		}
	}
	out.mapping = c.Mapping
	for j, h := range c.ForwardHeaders {
		name := http.CanonicalHeaderKey(h)
		// Hop-by-hop fields describe the client's connection; Host and
		// Content-Length belong to the call's own request.
		if !plugin.ValidHeaderName(h) || plugin.IsHopByHop(name) || name == "Host" || name == "Content-Length" {
			k.add(p+".forward_headers["+strconv.Itoa(j)+"]", "'"+h+"' is not a header a call may forward")
		}
		out.forward = append(out.forward, name)
	}
}

// target checks where calls[i] goes: a url, or a service and a path.
func (k *checker) target(c *Call, p string, out *call) {
	var err string
	switch {
	case c.URL != "" && c.Service != "":
		k.add(p, "url and service are exclusive")
		return
	case c.URL == "" && c.Service == "":
		k.add(p, "one of url and service is required")
		return
	case c.URL != "":
		if c.Path != "" {
			k.add(p+".path", "path goes with service; put it in the url")
		}
		out.scheme, out.host, out.tmpl, err = parseURL(c.URL)
		out.label = out.host
		if err != "" {
			k.add(p+".url", err)
		}
	default:
		out.label = c.Service
		if c.Path == "" {
			k.add(p+".path", "required field missing")
		} else if out.tmpl, err = parseTemplate(c.Path); err != "" {
			k.add(p+".path", err)
		}
		if k.env.ServiceIDs != nil {
			id, ok := k.env.ServiceIDs.ServiceID(c.Service)
			if !ok {
				k.add(p+".service", "no service named '"+c.Service+"'")
			}
			out.service = id
		}
	}
	for _, s := range out.tmpl.segs {
		if s.kind == varResp && !slices.Contains(c.After, s.call) {
			k.add(p+tmplField(c), "{resp."+s.call+"...} needs '"+s.call+"' in after")
		}
	}
}

func tmplField(c *Call) string {
	if c.URL != "" {
		return ".url"
	}
	return ".path"
}

// placement checks where calls[i]'s answer goes in the merged one.
func (k *checker) placement(c *Call, p string, out *call, i int, groups map[string]int) {
	out.slot = c.Name
	if c.Group != nil {
		out.group = *c.Group
		if out.group == "" {
			k.add(p+".group", "must not be empty (leave it out to merge at the top level)")
		}
		out.slot = out.group
	}
	if c.Collection != "" {
		out.coll = c.Collection
		if c.Group == nil {
			out.slot = c.Collection
		}
	}
	if out.slot == "errors" {
		k.add(p+".group", "'errors' is the aggregation's own key")
	}
	if j, dup := groups[out.slot]; dup && out.slot != "" {
		k.add(p+".group", "'"+out.slot+"' is also calls["+strconv.Itoa(j)+"]'s place")
	} else if c.Group != nil || c.Collection != "" {
		groups[out.slot] = i
	}
}

// cycles reports every dependency cycle once, at the call that closes it.
func (k *checker) cycles(cfg *Config, calls []call) {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(calls))
	var stack []int
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for j, d := range calls[i].after {
			switch color[d] {
			case grey:
				// i after d after ... after i: the stack from d on.
				names := []string{calls[i].name}
				for s := slices.Index(stack, d); s < len(stack); s++ {
					names = append(names, calls[stack[s]].name)
				}
				k.add("calls["+strconv.Itoa(i)+"].after["+strconv.Itoa(afterIndex(cfg.Calls[i].After, calls[d].name, j))+"]",
					"cycle: "+strings.Join(names, " after "))
			case white:
				visit(d)
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range calls {
		if color[i] == white {
			visit(i)
		}
	}
	for i := range calls {
		for _, d := range calls[i].after {
			calls[d].next = append(calls[d].next, i)
		}
	}
}

// afterIndex is the position of name in after (fallback: j).
func afterIndex(after []string, name string, j int) int {
	for n, a := range after {
		if a == name {
			return n
		}
	}
	return j
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// splitPath splits a dot path into its names; nil when one is empty.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(p, ".")
	for _, s := range parts {
		if s == "" {
			return nil
		}
	}
	return parts
}
