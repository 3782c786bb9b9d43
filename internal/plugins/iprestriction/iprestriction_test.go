package iprestriction

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func build(t *testing.T, c *Config) (plugin.Instance, error) {
	t.Helper()
	return Registration().New(c, plugin.Env{})
}

func mustBuild(t *testing.T, c *Config) plugin.Accessor {
	t.Helper()
	in, err := build(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return in.(plugin.Accessor)
}

func ctx(ip string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/status/200", nil)
	return &plugin.Ctx{Req: r, ClientIP: "127.0.0.1", ForwardedIP: ip}
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "ip-restriction" || reg.Priority != 990 || reg.NoConsumer {
		t.Fatalf("got %q %d no_consumer=%v", reg.Name, reg.Priority, reg.NoConsumer)
	}
}

// The cases of Kong's spec/03-plugins/17-ip-restriction/01-schema_spec.lua.
func TestSchema(t *testing.T) {
	status := func(n int) *int { return &n }
	msg := "Forbidden"
	tests := []struct {
		name string
		cfg  Config
		want plugin.Errors
	}{
		{name: "valid allow", cfg: Config{Allow: []string{"127.0.0.1/32", "127.0.0.2/32"}}},
		{name: "allow with status and message", cfg: Config{Allow: []string{"127.0.0.1/32", "127.0.0.2/32"}, Status: status(403), Message: &msg}},
		{name: "cidr with host bits", cfg: Config{Allow: []string{"127.0.0.1/8"}}},
		{name: "valid deny", cfg: Config{Deny: []string{"127.0.0.1/32", "127.0.0.2/32"}}},
		{name: "allow and deny", cfg: Config{Deny: []string{"127.0.0.2/32"}, Allow: []string{"127.0.0.1/32"}}},
		{name: "ipv6 cidrs", cfg: Config{Allow: []string{"::/0", "::/1", "::/128"}}},
		{name: "bare addresses", cfg: Config{Deny: []string{"127.0.0.1", "::1", "fe80::/8", "::ffff:10.0.0.1"}}},
		{
			name: "invalid ip", cfg: Config{Allow: []string{"hello"}},
			want: plugin.Errors{{Path: "allow[0]", Message: "invalid ip or cidr range: 'hello'"}},
		},
		{
			name: "third entry invalid", cfg: Config{Allow: []string{"127.0.0.1/32", "127.0.0.2/32", "hello"}},
			want: plugin.Errors{{Path: "allow[2]", Message: "invalid ip or cidr range: 'hello'"}},
		},
		{
			name: "invalid deny", cfg: Config{Deny: []string{"127.0.0.1/32", "127.0.0.2/32", "hello"}},
			want: plugin.Errors{{Path: "deny[2]", Message: "invalid ip or cidr range: 'hello'"}},
		},
		{
			name: "both empty", cfg: Config{Allow: []string{}, Deny: []string{}},
			want: plugin.Errors{{Message: "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"}},
		},
		{
			name: "neither", cfg: Config{},
			want: plugin.Errors{{Message: "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"}},
		},
		{
			name: "invalid ipv4 prefixes", cfg: Config{Allow: []string{"0.0.0.0/a", "0.0.0.0/-1", "0.0.0.0/33"}},
			want: plugin.Errors{
				{Path: "allow[0]", Message: "invalid ip or cidr range: '0.0.0.0/a'"},
				{Path: "allow[1]", Message: "invalid ip or cidr range: '0.0.0.0/-1'"},
				{Path: "allow[2]", Message: "invalid ip or cidr range: '0.0.0.0/33'"},
			},
		},
		{
			name: "invalid ipv6 prefixes", cfg: Config{Allow: []string{"::/a", "::/-1", "::/129", "::1/a", "::1/-1", "::1/129"}},
			want: plugin.Errors{
				{Path: "allow[0]", Message: "invalid ip or cidr range: '::/a'"},
				{Path: "allow[1]", Message: "invalid ip or cidr range: '::/-1'"},
				{Path: "allow[2]", Message: "invalid ip or cidr range: '::/129'"},
				{Path: "allow[3]", Message: "invalid ip or cidr range: '::1/a'"},
				{Path: "allow[4]", Message: "invalid ip or cidr range: '::1/-1'"},
				{Path: "allow[5]", Message: "invalid ip or cidr range: '::1/129'"},
			},
		},
		{
			name: "forms Kong's parser refuses", cfg: Config{Deny: []string{"01.2.3.4", "1.2.3.4/08", "fe80::1%eth0", " 1.2.3.4", ""}},
			want: plugin.Errors{
				{Path: "deny[0]", Message: "invalid ip or cidr range: '01.2.3.4'"},
				{Path: "deny[1]", Message: "invalid ip or cidr range: '1.2.3.4/08'"},
				{Path: "deny[2]", Message: "invalid ip or cidr range: 'fe80::1%eth0'"},
				{Path: "deny[3]", Message: "invalid ip or cidr range: ' 1.2.3.4'"},
				{Path: "deny[4]", Message: "invalid ip or cidr range: ''"},
			},
		},
		{
			name: "status kong.response.error refuses", cfg: Config{Deny: []string{"::1"}, Status: status(302)},
			want: plugin.Errors{{Path: "status", Message: "value should be between 400 and 599"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, &tt.cfg)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("not plugin.Errors: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// Kong's "expected an array" for allow: 12 is the loader's, by field type.
func TestSchemaTypes(t *testing.T) {
	raw, err := config.ParseRaw([]byte("allow: 12\n"), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	errs := raw.Decode(Registration().NewConfig())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "plugins[0].config.allow") || !strings.Contains(errs[0].Error(), "expected an array") {
		t.Fatalf("got %v", errs)
	}
}

func exitOf(t *testing.T, err error) *plugin.Exit {
	t.Helper()
	var e *plugin.Exit
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("not an Exit: %v", err)
	}
	return e
}

// The routes of Kong's spec/03-plugins/17-ip-restriction/02-access_spec.lua,
// with the address Kong would see (remote_addr after the realip module).
func TestAccess(t *testing.T) {
	status := func(n int) *int { return &n }
	forbidden := "Forbidden"
	tests := []struct {
		name   string
		cfg    Config
		ip     string
		status int // 0: passes
		msg    string
	}{
		{"denied ip", Config{Deny: []string{"127.0.0.1", "127.0.0.2"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"denied with status and message", Config{Deny: []string{"127.0.0.0/24"}, Status: status(401), Message: &forbidden}, "127.0.0.1", 401, "Forbidden"},
		{"not denied", Config{Deny: []string{"127.0.0.2"}}, "127.0.0.1", 0, ""},
		{"cidr denied", Config{Deny: []string{"127.0.0.0/24"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"deny wins over allowed range", Config{Allow: []string{"127.0.0.0/24"}, Deny: []string{"127.0.0.1"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"deny wins over allowed ip", Config{Allow: []string{"127.0.0.1"}, Deny: []string{"127.0.0.1"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"deny range wins over allow range", Config{Allow: []string{"127.0.0.0/24"}, Deny: []string{"127.0.0.0/24"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"forwarded address allowed", Config{Deny: []string{"127.0.0.4"}}, "127.0.0.3", 0, ""},
		{"forwarded address denied", Config{Deny: []string{"127.0.0.4"}}, "127.0.0.4", 403, "IP address not allowed: 127.0.0.4"},
		{"not allowed", Config{Allow: []string{"127.0.0.2"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"allowed", Config{Allow: []string{"127.0.0.1"}}, "127.0.0.1", 0, ""},
		{"allow 0.0.0.0/0", Config{Allow: []string{"0.0.0.0/0"}}, "127.0.0.1", 0, ""},
		{"ipv6 denied", Config{Deny: []string{"::1", "::2"}}, "::1", 403, "IP address not allowed: ::1"},
		{"ipv6 not denied", Config{Deny: []string{"::2"}}, "::1", 0, ""},
		{"ipv6 cidr denied", Config{Deny: []string{"fe80::/8"}}, "fe80::1", 403, "IP address not allowed: fe80::1"},
		{"ipv6 not allowed", Config{Allow: []string{"::2"}}, "::1", 403, "IP address not allowed: ::1"},
		{"ipv6 allowed", Config{Allow: []string{"::1"}}, "::1", 0, ""},
		{"ipv6 allow all", Config{Allow: []string{"::/0"}}, "::1", 0, ""},
		{"ipv6 deny wins", Config{Allow: []string{"::1/128"}, Deny: []string{"::1"}}, "::1", 403, "IP address not allowed: ::1"},
		{"ipv6 deny range wins", Config{Allow: []string{"::1/128"}, Deny: []string{"::1/128"}}, "::1", 403, "IP address not allowed: ::1"},
		{"families apart: ::/0 allows no ipv4", Config{Allow: []string{"::/0"}}, "127.0.0.1", 403, "IP address not allowed: 127.0.0.1"},
		{"families apart: 0.0.0.0/0 denies no ipv6", Config{Deny: []string{"0.0.0.0/0"}}, "::1", 0, ""},
		{"mapped client is its ipv4", Config{Deny: []string{"10.0.0.0/8"}}, "::ffff:10.1.2.3", 403, "IP address not allowed: ::ffff:10.1.2.3"},
		{"mapped entry is its ipv4", Config{Allow: []string{"::ffff:10.0.0.0/104"}}, "10.9.9.9", 0, ""},
		{"no address (unix socket)", Config{Allow: []string{"0.0.0.0/0"}}, "", 403, "Cannot identify the client IP address, unix domain sockets are not supported."},
		{"garbage address", Config{Deny: []string{"::1"}}, "not-an-ip", 403, "Cannot identify the client IP address, unix domain sockets are not supported."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := exitOf(t, mustBuild(t, &tt.cfg).Access(ctx(tt.ip)))
			switch {
			case tt.status == 0 && e != nil:
				t.Fatalf("refused: %v", e)
			case tt.status == 0:
			case e == nil:
				t.Fatalf("passed, want %d", tt.status)
			case e.Status != tt.status || e.Message != tt.msg:
				t.Fatalf("got %d %q, want %d %q", e.Status, e.Message, tt.status, tt.msg)
			}
		})
	}
}

// A request that passes costs no allocation, whatever the list's length.
func TestAccessAllocatesNothing(t *testing.T) {
	acc := mustBuild(t, &Config{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.1.0.0/16"}})
	for _, ip := range []string{"10.2.3.4", "2001:db8::7"} {
		c := ctx(ip)
		if n := testing.AllocsPerRun(100, func() {
			if err := acc.Access(c); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations", ip, n)
		}
	}
}
