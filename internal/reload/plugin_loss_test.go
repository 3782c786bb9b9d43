package reload

import (
	"slices"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
)

const lossBase = `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  plugins:
  - name: rate-limiting
    config: {minute: 5}
  routes:
  - name: r
    paths: [/r]
    plugins:
    - name: key-auth
  - paths: [/unnamed]
    plugins:
    - name: acl
      config: {allow: [a]}
  - name: gone
    paths: [/gone]
    plugins:
    - name: basic-auth
consumers:
- username: alice
plugins:
- name: cors
- name: rate-limiting
  consumer: alice
  service: s
  config: {minute: 1}
- name: request-termination
  enabled: false
`

func lossModel(t *testing.T, src string) *config.Model {
	t.Helper()
	m, err := config.Parse([]byte(src), config.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return m
}

// edit applies pairs of old/new replacements to lossBase.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := lossBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q not in the base config", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestLostPlugins(t *testing.T) {
	prev := lossModel(t, lossBase)
	unnamedRoute := ""
	for _, re := range prev.Routes {
		if re.Route.Name == "" {
			unnamedRoute = routeLabel(re)
		}
	}
	if !strings.HasPrefix(unnamedRoute, "route ") || len(unnamedRoute) < len("route ")+36 {
		t.Fatalf("the unnamed route is labelled %q, want its id", unnamedRoute)
	}
	cases := []struct {
		name string
		next string
		want []string
	}{
		{"unchanged", lossBase, nil},
		{"config changed only", edit(t, "{minute: 5}", "{minute: 50}"), nil},
		{"route plugin removed", edit(t, "    plugins:\n    - name: key-auth\n", ""),
			[]string{`key-auth on route "r"`}},
		{"route plugin disabled", edit(t, "    - name: key-auth\n", "    - name: key-auth\n      enabled: false\n"),
			[]string{`key-auth on route "r"`}},
		{"service plugin removed", edit(t, "  plugins:\n  - name: rate-limiting\n    config: {minute: 5}\n", ""),
			[]string{`rate-limiting on service "s"`}},
		{"global plugin removed", edit(t, "- name: cors\n", ""),
			[]string{"cors (global)"}},
		{"consumer and service plugin removed", edit(t, "- name: rate-limiting\n  consumer: alice\n  service: s\n  config: {minute: 1}\n", ""),
			[]string{`rate-limiting on service "s" and consumer "alice"`}},
		{"unnamed route plugin removed", edit(t, "    - name: acl\n      config: {allow: [a]}\n", "    - name: cors\n"),
			[]string{"acl on " + unnamedRoute}},
		{"cut after the routes", lossBase[:strings.Index(lossBase, "consumers:")],
			[]string{"cors (global)", `rate-limiting on service "s" and consumer "alice" (consumer removed)`}},
		{"route removed with its plugin", edit(t, "  - name: gone\n    paths: [/gone]\n    plugins:\n    - name: basic-auth\n", ""),
			[]string{`basic-auth on route "gone" (route removed)`}},
		{"route without plugins removed", edit(t, "consumers:\n", "  - name: plain\n    paths: [/plain]\nconsumers:\n"), nil},
		{"consumer removed with its plugin", edit(t, "consumers:\n- username: alice\n", "consumers:\n- username: bob\n", "  consumer: alice\n", "  consumer: bob\n"),
			[]string{`rate-limiting on service "s" and consumer "alice" (consumer removed)`}},
		{"service removed with its routes and plugins", edit(t, "- name: s\n", "- name: t\n", "  service: s\n", "  service: t\n"),
			[]string{`rate-limiting on service "s" (service removed)`, `rate-limiting on service "s" and consumer "alice" (service removed)`}},
		{"moved from the route to its service", edit(t, "    plugins:\n    - name: key-auth\n", "", "  plugins:\n", "  plugins:\n  - name: key-auth\n"),
			[]string{`key-auth on route "r"`}},
		{"a disabled plugin removed", edit(t, "- name: request-termination\n  enabled: false\n", ""), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lostPlugins(prev, lossModel(t, c.next))
			if !slices.Equal(got, c.want) {
				t.Errorf("lost %q, want %q", got, c.want)
			}
		})
	}
	if got := lostPlugins(nil, prev); got != nil {
		t.Errorf("lost from no configuration: %q", got)
	}
}
