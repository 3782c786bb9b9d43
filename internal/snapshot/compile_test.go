package snapshot

import (
	"errors"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// tagPlugin is a test plugin whose instances are told apart by their tag.
type tagConfig struct {
	Tag string `yaml:"tag"`
}

type tagInstance struct{ tag string }

func (t *tagInstance) Access(*plugin.Ctx) error { return nil }

func tagRegistration(name string, priority int, noConsumer bool) plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   priority,
		NoConsumer: noConsumer,
		NewConfig:  func() any { return &tagConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			c := cfg.(*tagConfig)
			if c.Tag == "bad" {
				return nil, plugin.FieldError("tag", "must not be bad")
			}
			return &tagInstance{tag: c.Tag}, nil
		},
	}
}

func compile(t *testing.T, yaml string) (*Snapshot, error) {
	t.Helper()
	m, err := config.Parse([]byte(yaml), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	reg, err := plugin.NewRegistry([]plugin.Registration{
		tagRegistration("tag", 100, false),
		tagRegistration("early", 2000, false),
		tagRegistration("noconsumer", 50, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	return Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
}

func routeByName(t *testing.T, s *Snapshot, name string) *Route {
	t.Helper()
	for _, r := range s.Routes {
		if r.Info.Name == name {
			return r
		}
	}
	t.Fatalf("no route %s", name)
	return nil
}

func tagFor(t *testing.T, r *Route, consumerID string) string {
	t.Helper()
	c := &plugin.Ctx{}
	if consumerID != "" {
		c.Consumer = &plugin.Consumer{ID: consumerID}
	}
	for i := range r.Chain.Access {
		if r.Chain.Access[i].Name != "tag" {
			continue
		}
		if inst := r.Chain.Access[i].Resolve(c); inst != nil {
			return inst.(*tagInstance).tag
		}
		return ""
	}
	return ""
}

// Kong's precedence: consumer+route+service > consumer+route >
// consumer+service > route+service > consumer > route > service > global.
func TestPluginPrecedence(t *testing.T) {
	s, err := compile(t, `
_format_version: "3.0"
consumers:
- username: alice
  id: 11111111-1111-4111-8111-111111111111
- username: bob
  id: 22222222-2222-4222-8222-222222222222
- username: carol
  id: 33333333-3333-4333-8333-333333333333
services:
- name: s1
  url: http://s1
  routes:
  - name: r1
    paths: [/r1]
  - name: r2
    paths: [/r2]
- name: s2
  url: http://s2
  routes:
  - name: r3
    paths: [/r3]
routes:
- name: bare
  paths: [/bare]
plugins:
- {name: tag, config: {tag: global}}
- {name: tag, service: s1, config: {tag: service}}
- {name: tag, route: r1, config: {tag: route}}
- {name: tag, route: r2, service: s1, config: {tag: route+service}}
- {name: tag, consumer: alice, config: {tag: consumer}}
- {name: tag, consumer: bob, service: s1, config: {tag: consumer+service}}
- {name: tag, consumer: bob, route: r1, config: {tag: consumer+route}}
- {name: tag, consumer: carol, route: r2, service: s1, config: {tag: consumer+route+service}}
- {name: tag, consumer: carol, config: {tag: carol-consumer}}
`)
	if err != nil {
		t.Fatal(err)
	}
	const alice, bob, carol = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	tests := []struct {
		name, route, consumer, want string
	}{
		{name: "route beats service and global", route: "r1", want: "route"},
		{name: "route+service", route: "r2", want: "route+service"},
		{name: "service", route: "r3", want: "global"},
		{name: "global only", route: "bare", want: "global"},
		{name: "consumer beats route", route: "r1", consumer: alice, want: "consumer"},
		{name: "consumer beats service", route: "r3", consumer: alice, want: "consumer"},
		{name: "consumer beats global", route: "bare", consumer: alice, want: "consumer"},
		{name: "consumer+route beats route", route: "r1", consumer: bob, want: "consumer+route"},
		{name: "consumer+service beats route+service", route: "r2", consumer: bob, want: "consumer+service"},
		{name: "consumer+route+service wins", route: "r2", consumer: carol, want: "consumer+route+service"},
		{name: "other consumer keeps base", route: "r2", consumer: "someone-else", want: "route+service"},
		{name: "consumer alone beats route", route: "r1", consumer: carol, want: "carol-consumer"},
		{name: "consumer on bare route", route: "bare", consumer: carol, want: "carol-consumer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tagFor(t, routeByName(t, s, tt.route), tt.consumer); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// r3's service s2 has no plugin; service-scoped s1 plugin must not leak.
	if got := tagFor(t, routeByName(t, s, "r3"), ""); got != "global" {
		t.Errorf("r3: %q", got)
	}
}

func TestChainOrderByPriority(t *testing.T) {
	s, err := compile(t, `
_format_version: "3.0"
services:
- name: s
  url: http://s
  routes: [{name: r, paths: [/]}]
plugins:
- {name: tag, config: {tag: a}}
- {name: noconsumer, config: {tag: b}}
- {name: early, config: {tag: c}}
`)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.Routes[0].Chain.Names, ",")
	if got != "early,tag,noconsumer" {
		t.Errorf("order %s", got)
	}
}

func TestCompileErrorsHaveFieldPaths(t *testing.T) {
	_, err := compile(t, `
_format_version: "3.0"
consumers:
- username: alice
services:
- name: s
  url: http://s
  routes: [{name: r, paths: [/]}]
  plugins:
  - {name: tag, config: {tag: bad}}
  - {name: tag, route: r, config: {colour: red}}
plugins:
- {name: nope}
- {name: noconsumer, consumer: alice}
- {name: early, enabled: false, config: {tag: bad}}
`)
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"services[0].plugins[0].config.tag: must not be bad",
		"services[0].plugins[1].config.colour: unknown field",
		"plugins[0].name: plugin 'nope' is not available",
		"plugins[1].consumer: plugin 'noconsumer' cannot be applied to consumers",
	}
	text := errs.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d (a disabled plugin is not built):\n%s", len(errs), len(want), text)
	}
}

func TestServicesAndCertificates(t *testing.T) {
	s, err := compile(t, `
_format_version: "3.0"
services:
- name: plain
  url: http://api.internal
  routes: [{name: a, paths: [/a]}]
- name: tls
  url: https://api.internal:8443/base
  routes: [{name: b, paths: [/b]}]
- name: grpc
  url: grpc://grpc.internal:50051
  routes: [{name: c, paths: [/c], protocols: [grpc]}]
- name: balanced
  host: pool
  routes: [{name: d, paths: [/d]}]
upstreams:
- name: pool
  targets:
  - {target: "10.0.0.1:80", weight: 1}
  - {target: "10.0.0.2:80", weight: 0}
`)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Service{}
	for _, svc := range s.Services {
		byName[svc.Info.Name] = svc
	}
	if h := byName["plain"].HostHeader; h != "api.internal" {
		t.Errorf("plain Host %q", h)
	}
	if h := byName["tls"].HostHeader; h != "api.internal:8443" || byName["tls"].Scheme != "https" || byName["tls"].Path != "/base" {
		t.Errorf("tls service %+v", byName["tls"])
	}
	if !byName["grpc"].HTTP2 {
		t.Errorf("grpc service is not HTTP/2")
	}
	if n := len(byName["balanced"].Balancer.Targets()); n != 2 {
		t.Errorf("balanced targets %d", n)
	}
	for range 5 {
		tg, err := byName["balanced"].Balancer.Pick(&upstream.PickRequest{})
		if err != nil || tg.Addr != "10.0.0.1:80" {
			t.Fatalf("pick %v %v (weight 0 must be skipped)", tg, err)
		}
	}
	if len(s.Upstreams.PoolKeys) != 5 {
		t.Errorf("pool keys %v", s.Upstreams.PoolKeys)
	}
	if got := config.ConsumerID(&config.Consumer{Username: "x"}); got != "f4ad81db-055e-5110-987a-a0f765d83c80" {
		t.Errorf("consumer id %q, want the pinned one", got)
	}
}

// A reload keeps the instances (and so the state) of plugins whose name,
// scope and config did not change, and rebuilds the others.
func TestReloadKeepsUnchangedPluginInstances(t *testing.T) {
	const before = `
_format_version: "3.0"
services:
- name: s
  url: http://s
  routes: [{name: r, paths: [/]}]
plugins:
- {name: tag, config: {tag: same}}
- {name: early, route: r, config: {tag: old}}
`
	const after = `
_format_version: "3.0"
services:
- name: s
  url: http://s
  routes: [{name: r, paths: [/], methods: [GET]}]
plugins:
- {name: tag, config: {tag: same}}
- {name: early, route: r, config: {tag: new}}
`
	first, err := compile(t, before)
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse([]byte(after), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := plugin.NewRegistry([]plugin.Registration{tagRegistration("tag", 100, false), tagRegistration("early", 2000, false)})
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	second, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: first})
	if err != nil {
		t.Fatal(err)
	}
	byTag := func(s *Snapshot, tag string) plugin.Instance {
		for _, inst := range s.Instances {
			if inst.(*tagInstance).tag == tag {
				return inst
			}
		}
		return nil
	}
	if byTag(second, "same") != byTag(first, "same") {
		t.Error("the unchanged global plugin got a new instance")
	}
	if byTag(second, "new") == nil || byTag(second, "old") != nil {
		t.Error("the changed plugin was not rebuilt")
	}
}
