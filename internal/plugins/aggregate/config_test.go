package aggregate

import (
	"errors"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestConfigErrors(t *testing.T) {
	svcs := services{"users": "", "orders": ""}
	u := "http://127.0.0.1:1/x"
	tests := []struct {
		name string
		cfg  func(c *Config)
		want []string // "path: message" fragments, in order
	}{
		{"no calls", func(c *Config) {}, []string{"calls: required field missing"}},
		{"unknown after", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u}, {Name: "b", URL: u}, {Name: "c", URL: u, After: []string{"zz"}}}
		}, []string{"calls[2].after[0]: no call named 'zz'"}},
		{"after itself", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, After: []string{"a"}}}
		}, []string{"calls[0].after[0]: a call cannot come after itself"}},
		{"cycle named", func(c *Config) {
			c.Calls = []Call{
				{Name: "a", URL: u, After: []string{"c"}},
				{Name: "b", URL: u, After: []string{"a"}},
				{Name: "c", URL: u, After: []string{"b"}},
			}
		}, []string{"calls[1].after[0]: cycle: b after a after c after b"}},
		{"duplicate names", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u}, {Name: "a", URL: u}}
		}, []string{"calls[1].name: the name 'a' is also calls[0]'s"}},
		{"missing name", func(c *Config) { c.Calls = []Call{{URL: u}} }, []string{"calls[0].name: required field missing"}},
		{"both url and service", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, Service: "users", Path: "/"}}
		}, []string{"calls[0]: url and service are exclusive"}},
		{"neither url nor service", func(c *Config) { c.Calls = []Call{{Name: "a"}} },
			[]string{"calls[0]: one of url and service is required"}},
		{"unknown service", func(c *Config) {
			c.Calls = []Call{{Name: "a", Service: "nope", Path: "/"}}
		}, []string{"calls[0].service: no service named 'nope'"}},
		{"service without path", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users"}} },
			[]string{"calls[0].path: required field missing"}},
		{"resp without after", func(c *Config) {
			c.Calls = []Call{{Name: "user", URL: u}, {Name: "b", Service: "orders", Path: "/o/{resp.user.id}"}}
		}, []string{"calls[1].path: {resp.user...} needs 'user' in after"}},
		{"host from a template", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: "http://{captures.host}/x"}}
		}, []string{"calls[0].url: the scheme and host cannot hold a template"}},
		{"host alone from a template", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: "http://{captures.host}"}}
		}, []string{"calls[0].url: the scheme and host cannot hold a template"}},
		{"not http", func(c *Config) { c.Calls = []Call{{Name: "a", URL: "ftp://h/x"}} },
			[]string{"calls[0].url: expected an http or https URL"}},
		{"fragment", func(c *Config) { c.Calls = []Call{{Name: "a", URL: "http://h/x#y"}} },
			[]string{"calls[0].url: a path cannot hold '#' or white space"}},
		{"dot segment", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/a/../{captures.x}"}} },
			[]string{"calls[0].path: the path cannot hold '.' or '..' segments"}},
		{"dot dot params segment", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/a/..;x/{captures.x}"}} },
			[]string{"calls[0].path: the path cannot hold '.' or '..' segments"}},
		{"encoded dot dot params segment", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/a/%2e%2e;/{captures.x}"}} },
			[]string{"calls[0].path: the path cannot hold '.' or '..' segments"}},
		{"dot params segment", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/a/.;/{captures.x}"}} },
			[]string{"calls[0].path: the path cannot hold '.' or '..' segments"}},
		{"unknown variable", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/{body.x}"}} },
			[]string{"calls[0].path: unknown variable {body.x}"}},
		{"unclosed", func(c *Config) { c.Calls = []Call{{Name: "a", Service: "users", Path: "/{query.x"}} },
			[]string{"calls[0].path: '{' without '}'"}},
		{"limits", func(c *Config) {
			c.Timeout, c.MaxBody = 0, 0
			c.Calls = []Call{{Name: "a", URL: u, Timeout: -1}}
		}, []string{"timeout: value should be between 1 and 600000", "max_body: value should be between 1 and 67108864",
			"calls[0].timeout: value should be between 1 and 600000"}},
		{"too many calls", func(c *Config) {
			c.MaxCalls = 1
			c.Calls = []Call{{Name: "a", URL: u}, {Name: "b", URL: u}}
		}, []string{"calls: at most 1 calls (max_calls)"}},
		{"errors is reserved", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, Group: ptr("errors")}}
		}, []string{"calls[0].group: 'errors' is the aggregation's own key"}},
		{"one place for two calls", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, Group: ptr("x")}, {Name: "b", URL: u, Group: ptr("x")}}
		}, []string{"calls[1].group: 'x' is also calls[0]'s place"}},
		{"allow and deny", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, Allow: []string{"x"}, Deny: []string{"y", "a..b"}}}
		}, []string{"calls[0].deny[1]: expected a dot path of field names", "calls[0].deny: allow and deny are exclusive"}},
		{"bad header", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, ForwardHeaders: []string{"Accept", "Connection", "a b", "x.y", "proxy-authorization", "host"}}}
		}, []string{"calls[0].forward_headers[1]: 'Connection' is not a header a call may forward",
			"calls[0].forward_headers[2]: 'a b' is not a header a call may forward",
			"calls[0].forward_headers[3]: 'x.y' is not a header a call may forward",
			"calls[0].forward_headers[4]: 'proxy-authorization' is not a header a call may forward",
			"calls[0].forward_headers[5]: 'host' is not a header a call may forward"}},
		{"method", func(c *Config) { c.Calls = []Call{{Name: "a", URL: u, Method: "CONNECT"}} },
			[]string{"calls[0].method: expected one of: GET, POST, PUT, PATCH, DELETE, OPTIONS"}},
		{"cache_ttl", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, CacheTTL: ptr(0)}, {Name: "b", URL: u, CacheTTL: ptr(-5)},
				{Name: "c", URL: u, CacheTTL: ptr(maxCacheTTL + 1)}, {Name: "d", URL: u, Method: "POST", CacheTTL: ptr(5)}}
		}, []string{"calls[0].cache_ttl: value must be greater than 0", "calls[1].cache_ttl: value must be greater than 0",
			"calls[2].cache_ttl: value should be between 1 and 31536000", "calls[3].cache_ttl: only GET calls are cached"}},
		{"cache block", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, CacheTTL: ptr(5)}}
			c.Cache.Strategy, c.Cache.Memory.DictionaryName, c.Cache.MaxSize = "disk", "", 0
		}, []string{"cache.strategy: expected one of: memory, redis", "cache.memory.dictionary_name: required field missing",
			"cache.max_size: value must be greater than 0"}},
		{"redis strategy without redis", func(c *Config) {
			c.Calls = []Call{{Name: "a", URL: u, CacheTTL: ptr(5)}}
			c.Cache.Strategy = "redis"
		}, []string{"cache.redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{}
			cfg.SetDefaults()
			tt.cfg(cfg)
			_, err := New(cfg, plugin.Env{ServiceIDs: svcs})
			var errs plugin.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("New: %v, want plugin.Errors", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %q, want %q", len(errs), errs.Error(), tt.want)
			}
			for i, e := range errs {
				if got := e.Path + ": " + e.Message; !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("error %d: %q, want %q", i, got, tt.want[i])
				}
			}
		})
	}
}

// The issue's own example compiles, with its service names resolved to
// ids.
func TestConfigAccepted(t *testing.T) {
	svcs := services{"orders": ""}
	in := build(t, plugin.Env{ServiceIDs: svcs},
		Call{Name: "user", URL: "http://users:8080/users/{captures.id}", Group: ptr("user"), Timeout: 500, Required: ptr(true)},
		Call{Name: "orders", Service: "orders", Path: "/orders?user={captures.id}&limit={query.limit}", Allow: []string{"id", "total"}},
		Call{Name: "account", After: []string{"user"}, URL: "http://accounts:8080/accounts/{resp.user.account_id}",
			Target: "data", Mapping: map[string]string{"acct_no": "number"}},
	)
	if got := in.calls[1].service; got != "id-orders" {
		t.Errorf("orders' service id %q, want id-orders", got)
	}
	if got := in.calls[0].next; len(got) != 1 || got[0] != 2 {
		t.Errorf("user's dependents %v, want [2]", got)
	}
	if in.calls[0].timeout != 500e6 || in.calls[1].timeout != 2000e6 {
		t.Errorf("timeouts %d %d", in.calls[0].timeout, in.calls[1].timeout)
	}
}

// A url without a path calls "/"; its query may hold variables.
func TestURLWithoutPath(t *testing.T) {
	for raw, want := range map[string]string{"http://h": "/", "https://h:8443?q={query.q}": "/?q=v"} {
		scheme, host, tmpl, err := parseURL(raw)
		if err != "" || host == "" || scheme == "" {
			t.Fatalf("%s: %q %q %q", raw, scheme, host, err)
		}
		c := request("/?q=v")
		got, _, why, _ := tmpl.render(nil, &source{c: c})
		if why != "" || string(got) != want {
			t.Errorf("%s renders %q (%s), want %q", raw, got, why, want)
		}
	}
}
