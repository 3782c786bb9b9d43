package importer

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// ImportFunc is one format's import with its options bound: it reads the
// documents into the Config and adds its warnings.
type ImportFunc func([]Document, *Config, *Warnings) error

// Config is a Kong 3.0 declarative configuration under construction.
// Importers append entities; YAML sorts everything, so the order in which
// an importer visits its inputs never shows in the output.
type Config struct {
	Services       []*Service
	Routes         []*Route // routes without a service (they answer 503 unless a plugin answers)
	Upstreams      []*Upstream
	Consumers      []*Consumer
	Certificates   []*Certificate
	CACertificates []*CACertificate
	Plugins        []*Plugin // global
}

// Fields are an entity's other fields, as Kong spells them (values are
// strings, numbers, bools, []any and map[string]any): the importers'
// pass-through of `x-kong-*-defaults`, annotations and the like.
type Fields map[string]any

// Service is a Kong service with its routes and plugins nested.
type Service struct {
	Name     string
	Protocol string
	Host     string
	Port     int
	Path     string
	Fields   Fields
	Tags     []string
	Routes   []*Route
	Plugins  []*Plugin
}

// Route is a Kong route; nested in a Service, or in Config.Routes.
type Route struct {
	Name          string
	Methods       []string
	Hosts         []string
	Paths         []string
	Headers       map[string][]string
	StripPath     *bool
	PreserveHost  *bool
	RegexPriority *int
	Fields        Fields
	Tags          []string
	Plugins       []*Plugin
}

// Upstream is a Kong upstream with its targets.
type Upstream struct {
	Name    string
	Fields  Fields
	Tags    []string
	Targets []Target
}

// Target is one upstream target, host:port.
type Target struct {
	Target string
	Weight *int
}

// Consumer is a Kong consumer with its credentials by kind
// (keyauth_credentials, jwt_secrets, basicauth_credentials...).
type Consumer struct {
	Username    string
	CustomID    string
	Tags        []string
	Credentials map[string][]Fields
	Plugins     []*Plugin
}

// Certificate is a PEM certificate and key with the server names it
// serves.
type Certificate struct {
	ID        string // set by CertificateID when something names it
	Cert, Key string
	SNIs      []string
	Tags      []string
}

// Plugin is a plugin instance; its scope is where it is nested.
type Plugin struct {
	Name   string
	Config map[string]any
	Fields Fields // enabled, protocols, instance_name...
	Tags   []string
}

// MaxTimeout is the largest timeout Kong takes, in milliseconds.
const MaxTimeout = 2147483646

// Bool and Int make the optional fields easy to set.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n.
func Int(n int) *int { return &n }

// DenyAll is a request-termination plugin that answers every request
// with 503.
func DenyAll() *Plugin {
	return &Plugin{Name: "request-termination", Config: map[string]any{"status_code": 503}}
}

// Anys returns ss as a []any, the type of a list in a plugin's config.
func Anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Kind is an entity kind, within which Kong wants names unique.
type Kind int

// The kinds with names.
const (
	KindService Kind = iota
	KindRoute
	KindUpstream
	KindConsumer
)

// UniqueName returns base, or base-2, base-3... the first that no entity
// of kind k in c is named.
func (c *Config) UniqueName(k Kind, base string) string {
	used := c.names(k)
	name := base
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

func (c *Config) names(k Kind) map[string]bool {
	used := map[string]bool{}
	switch k {
	case KindService:
		for _, s := range c.Services {
			used[s.Name] = true
		}
	case KindRoute:
		for _, s := range c.Services {
			for _, r := range s.Routes {
				used[r.Name] = true
			}
		}
		for _, r := range c.Routes {
			used[r.Name] = true
		}
	case KindUpstream:
		for _, u := range c.Upstreams {
			used[u.Name] = true
		}
	case KindConsumer:
		for _, u := range c.Consumers {
			used[u.Username] = true
		}
	}
	return used
}

// Slug turns s into a string Kong accepts as a name or a tag: letters,
// digits and `.-_~` kept, every other character an underscore.
func Slug(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '~':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// YAML writes c as a Kong 3.0 declarative config: keys in alphabetical
// order except `name` (or `username`) first and the nested lists last,
// entities sorted by name, so that the same input always gives the same
// bytes.
func (c *Config) YAML() ([]byte, error) {
	doc := yaml.MapSlice{{Key: "_format_version", Value: "3.0"}}
	add := func(key string, n int, item func(int) any) {
		if n == 0 {
			return
		}
		list := make([]any, n)
		for i := range n {
			list[i] = item(i)
		}
		doc = append(doc, yaml.MapItem{Key: key, Value: list})
	}
	sortAll(c)
	add("ca_certificates", len(c.CACertificates), func(i int) any { return c.CACertificates[i].ordered() })
	add("certificates", len(c.Certificates), func(i int) any { return c.Certificates[i].ordered() })
	add("consumers", len(c.Consumers), func(i int) any { return c.Consumers[i].ordered() })
	add("plugins", len(c.Plugins), func(i int) any { return c.Plugins[i].ordered() })
	add("routes", len(c.Routes), func(i int) any { return c.Routes[i].ordered() })
	add("services", len(c.Services), func(i int) any { return c.Services[i].ordered() })
	add("upstreams", len(c.Upstreams), func(i int) any { return c.Upstreams[i].ordered() })
	if p, bad := BadKey(doc); bad {
		return nil, keyError(p)
	}
	return yaml.MarshalWithOptions(doc, yaml.Indent(2), yaml.IndentSequence(true))
}

func sortAll(c *Config) {
	byName := func(a, b *Route) int { return cmp.Compare(a.Name, b.Name) }
	slices.SortStableFunc(c.Services, func(a, b *Service) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range c.Services {
		slices.SortStableFunc(s.Routes, byName)
		sortPlugins(s.Plugins)
		for _, r := range s.Routes {
			sortPlugins(r.Plugins)
		}
	}
	slices.SortStableFunc(c.Routes, byName)
	for _, r := range c.Routes {
		sortPlugins(r.Plugins)
	}
	slices.SortStableFunc(c.Upstreams, func(a, b *Upstream) int { return cmp.Compare(a.Name, b.Name) })
	for _, u := range c.Upstreams {
		slices.SortStableFunc(u.Targets, func(a, b Target) int { return cmp.Compare(a.Target, b.Target) })
	}
	slices.SortStableFunc(c.Consumers, func(a, b *Consumer) int { return cmp.Compare(a.Username, b.Username) })
	for _, u := range c.Consumers {
		sortPlugins(u.Plugins)
	}
	slices.SortStableFunc(c.Certificates, func(a, b *Certificate) int {
		return cmp.Or(cmp.Compare(strings.Join(a.SNIs, ","), strings.Join(b.SNIs, ",")), cmp.Compare(a.Cert, b.Cert))
	})
	slices.SortStableFunc(c.CACertificates, func(a, b *CACertificate) int { return cmp.Compare(a.ID, b.ID) })
	sortPlugins(c.Plugins)
}

func sortPlugins(ps []*Plugin) {
	slices.SortStableFunc(ps, func(a, b *Plugin) int {
		ia, _ := a.Fields["instance_name"].(string)
		ib, _ := b.Fields["instance_name"].(string)
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(ia, ib))
	})
}

// entity gathers one entity's fields for ordering: set skips the zero
// values so that the output holds only what an importer chose.
type entity map[string]any

func (e entity) set(key string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return
		}
	case int:
		if x == 0 {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case *bool:
		if x == nil {
			return
		}
		v = *x
	case *int:
		if x == nil {
			return
		}
		v = *x
	case map[string][]string:
		if len(x) == 0 {
			return
		}
	case map[string]any:
		if x == nil {
			return
		}
	case []any:
		if len(x) == 0 {
			return
		}
	}
	e[key] = v
}

func (e entity) fields(f Fields) entity {
	for k, v := range f {
		if _, typed := e[k]; !typed {
			e[k] = v
		}
	}
	return e
}

// ordered is the entity as a YAML map: first the key named first, then
// the others in order, then the nested lists in order.
func (e entity) ordered(first string, nested ...string) yaml.MapSlice {
	var out yaml.MapSlice
	if v, ok := e[first]; ok {
		out = append(out, yaml.MapItem{Key: first, Value: value(v)})
	}
	keys := slices.Sorted(maps.Keys(e))
	for _, k := range keys {
		if k != first && !slices.Contains(nested, k) {
			out = append(out, yaml.MapItem{Key: k, Value: value(e[k])})
		}
	}
	for _, k := range nested {
		if v, ok := e[k]; ok {
			out = append(out, yaml.MapItem{Key: k, Value: value(v)})
		}
	}
	return out
}

// value turns maps into sorted YAML maps, all the way down, and strings
// that YAML could read as something else into quoted ones.
func value(v any) any {
	switch x := v.(type) {
	case string:
		return scalar(x)
	case yaml.MapSlice:
		return x
	case map[string]any:
		out := make(yaml.MapSlice, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, yaml.MapItem{Key: k, Value: value(x[k])})
		}
		return out
	case Fields:
		return value(map[string]any(x))
	case map[string][]string:
		out := make(yaml.MapSlice, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, yaml.MapItem{Key: k, Value: value(x[k])})
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = value(el)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = scalar(el)
		}
		return out
	}
	return v
}

// plain are the strings written without quotes: names, hosts, paths;
// anything else (a value from an input: a header value, a regex, a word
// YAML 1.1 reads as a bool, a number, a control character) is quoted so
// that every YAML reader gets the string back.
var plain = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./:-]*[A-Za-z0-9_./-]$|^[A-Za-z_/]$`)

// scalar is s as a YAML value that always reads back as the string s.
func scalar(s string) any {
	if plain.MatchString(s) && !reserved[strings.ToLower(s)] {
		return s
	}
	return quoted(s)
}

var reserved = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "y": true, "n": true, "null": true}

// quoted is a string written double-quoted, with Go's escapes (all of
// which YAML's double-quoted style reads the same).
type quoted string

func (q quoted) MarshalYAML() ([]byte, error) { return []byte(strconv.Quote(string(q))), nil }

func (s *Service) ordered() yaml.MapSlice {
	e := entity{}
	e.set("name", s.Name)
	e.set("protocol", s.Protocol)
	e.set("host", s.Host)
	e.set("port", s.Port)
	e.set("path", s.Path)
	e.set("tags", s.Tags)
	e.fields(s.Fields)
	e.set("routes", orderedList(s.Routes, (*Route).ordered))
	e.set("plugins", orderedList(s.Plugins, (*Plugin).ordered))
	return e.ordered("name", "plugins", "routes")
}

func (r *Route) ordered() yaml.MapSlice {
	e := entity{}
	e.set("name", r.Name)
	e.set("methods", r.Methods)
	e.set("hosts", r.Hosts)
	e.set("paths", r.Paths)
	e.set("headers", r.Headers)
	e.set("strip_path", r.StripPath)
	e.set("preserve_host", r.PreserveHost)
	e.set("regex_priority", r.RegexPriority)
	e.set("tags", r.Tags)
	e.fields(r.Fields)
	e.set("plugins", orderedList(r.Plugins, (*Plugin).ordered))
	return e.ordered("name", "plugins")
}

func (p *Plugin) ordered() yaml.MapSlice {
	e := entity{}
	e.set("name", p.Name)
	e.set("config", p.Config)
	e.set("tags", p.Tags)
	e.fields(p.Fields)
	return e.ordered("name")
}

func (u *Upstream) ordered() yaml.MapSlice {
	e := entity{}
	e.set("name", u.Name)
	e.set("tags", u.Tags)
	e.fields(u.Fields)
	targets := make([]any, len(u.Targets))
	for i, t := range u.Targets {
		te := entity{}
		te.set("target", t.Target)
		te.set("weight", t.Weight)
		targets[i] = te.ordered("target")
	}
	e.set("targets", targets)
	return e.ordered("name", "targets")
}

func (c *Consumer) ordered() yaml.MapSlice {
	e := entity{}
	e.set("username", c.Username)
	e.set("custom_id", c.CustomID)
	e.set("tags", c.Tags)
	kinds := slices.Sorted(maps.Keys(c.Credentials))
	for _, k := range kinds {
		list := make([]any, len(c.Credentials[k]))
		for i, f := range c.Credentials[k] {
			list[i] = value(f)
		}
		e.set(k, list)
	}
	e.set("plugins", orderedList(c.Plugins, (*Plugin).ordered))
	return e.ordered("username", append(kinds, "plugins")...)
}

func (c *Certificate) ordered() yaml.MapSlice {
	e := entity{}
	e.set("id", c.ID)
	e.set("cert", c.Cert)
	e.set("key", c.Key)
	e.set("tags", c.Tags)
	snis := make([]any, len(c.SNIs))
	for i, n := range c.SNIs {
		snis[i] = yaml.MapSlice{{Key: "name", Value: scalar(n)}}
	}
	e.set("snis", snis)
	return e.ordered("cert", "snis")
}

func orderedList[T any](items []T, f func(T) yaml.MapSlice) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = f(it)
	}
	return out
}
