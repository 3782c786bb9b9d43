package snapshot

// What the configuration as a whole gives every request: the credential
// names logs redact and the plugins of requests no route matched.

import (
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// The names every enabled auth plugin entry reads credentials from are
// secret on every request, whatever route it is on; a disabled entry's
// are not.
func TestSecretsOfTheConfiguration(t *testing.T) {
	m, err := config.Parse([]byte(`
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  routes:
  - {name: a, paths: [/a], plugins: [{name: auth, config: {tag: x-route-key}}]}
  - {name: b, paths: [/b]}
plugins:
- {name: auth, config: {tag: x-global-key}}
- {name: auth, enabled: false, service: s, config: {tag: x-disabled}}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := tagRegistration("auth", 1000, false)
	auth.Secrets = func(cfg any) (headers, query []string) {
		tag := cfg.(*tagConfig).Tag
		return []string{tag}, []string{tag + "-q"}
	}
	reg, err := plugin.NewRegistry([]plugin.Registration{auth})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	c := &plugin.Ctx{Secrets: s.Secrets}
	for _, n := range []string{"X-Route-Key", "x-global-key"} {
		if !c.SecretHeader(n) {
			t.Errorf("header %s not secret", n)
		}
	}
	if !c.SecretQuery("x-route-key-q") || !c.SecretQuery("x-global-key-q") {
		t.Error("query names not secret")
	}
	if c.SecretHeader("x-disabled") || c.SecretQuery("x-disabled-q") {
		t.Error("a disabled entry's names are secret")
	}
}

// The chain of requests no route matched holds the global entries only.
func TestUnroutedChainIsTheGlobalEntries(t *testing.T) {
	s, err := compile(t, `
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  plugins: [{name: early, config: {tag: service}}]
  routes:
  - {name: a, paths: [/a], plugins: [{name: noconsumer, config: {tag: route}}]}
plugins:
- {name: tag, config: {tag: global}}
`)
	if err != nil {
		t.Fatal(err)
	}
	u := s.Unrouted
	if u == nil || strings.Join(u.Names, ",") != "tag" || len(u.Access) != 1 || u.Access[0].Base.(*tagInstance).tag != "global" {
		t.Fatalf("unrouted chain %+v", u)
	}
	if got := strings.Join(routeByName(t, s, "a").Chain.Names, ","); got != "early,tag,noconsumer" {
		t.Errorf("route chain %s", got)
	}
}
