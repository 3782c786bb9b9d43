package acl

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// The consumers of Kong's spec/03-plugins/18-acl/02-access_spec.lua.
func kongDirectory() *plugintest.Directory {
	d := &plugintest.Directory{GroupsOf: map[string][]string{}}
	add := func(username string, groups ...string) {
		c := &plugin.Consumer{ID: "id-" + username, Username: username}
		d.Consumers = append(d.Consumers, c)
		if len(groups) > 0 {
			d.GroupsOf[c.ID] = groups
		}
	}
	add("consumer1")
	add("consumer2", "admin")
	add("consumer3", "pro", "hello")
	add("consumer4", "free", "hello")
	add("consumer5", "acl_group1")
	add("anonymous", "anonymous")
	add("anonymous_no_group")
	add("anonymous_with_group", "everyone")
	return d
}

func build(t *testing.T, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	return in.(*instance), nil
}

func mustBuild(t *testing.T, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func allow(groups ...string) func(*Config) { return func(c *Config) { c.Allow = groups } }
func deny(groups ...string) func(*Config)  { return func(c *Config) { c.Deny = groups } }

// request describes who the auth plugins that ran before acl identified.
type request struct {
	// consumer is the username of the consumer set by an auth plugin.
	consumer string
	// credential marks the consumer as authenticated by a credential (not
	// the anonymous consumer), or stands alone like Kong's ctx-checker
	// setting authenticated_credential.
	credential bool
	// authGroups, when non-nil, is put in c.Shared (Kong's
	// kong.ctx.shared.authenticated_groups).
	authGroups []string
}

type outcome struct {
	status  int // 0: let through
	message string
	header  http.Header // the identity headers seen upstream
}

func run(t *testing.T, in *instance, r request) outcome {
	t.Helper()
	d := kongDirectory()
	req := httptest.NewRequest("GET", "/request", nil)
	c := &plugin.Ctx{Req: req, Method: "GET", Path: "/request", Directory: d}
	if r.consumer != "" {
		cons, ok := d.Consumer(r.consumer)
		if !ok {
			t.Fatalf("no consumer %q", r.consumer)
		}
		c.Consumer = cons
	}
	if r.credential {
		c.Credential = "cred-id"
	}
	if r.authGroups != nil {
		c.Shared = map[string]any{SharedAuthenticatedGroups: r.authGroups}
	}
	err := in.Access(c)
	var out outcome
	if err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access returned %v, want an *plugin.Exit", err)
		}
		out.status, out.message = e.Status, e.Message
	}
	for _, h := range []string{headerConsumerGroups, headerAuthenticatedGroups} {
		if v, ok := req.Header[h]; ok {
			if out.header == nil {
				out.header = http.Header{}
			}
			out.header[h] = v
		}
	}
	return out
}

func passed(h, v string) outcome { return outcome{header: http.Header{h: {v}}} }

var (
	unauthorized = outcome{status: 401, message: "Unauthorized"}
	forbidden    = outcome{status: 403, message: "You cannot consume this service"}
	hidden       = outcome{}
)

func consumerGroups(v string) outcome { return passed("X-Consumer-Groups", v) }
func authGroups(v string) outcome     { return passed("X-Authenticated-Groups", v) }

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "acl" || reg.Priority != 950 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	if diff := cmp.Diff(&Config{}, reg.NewConfig()); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "nothing", want: plugin.Errors{{Message: errAtLeastOne}}},
		{name: "allow", set: allow("a")},
		{name: "deny", set: deny("a")},
		{name: "allow with empty deny", set: func(c *Config) { c.Allow, c.Deny = []string{"a"}, []string{} }},
		{name: "deny with empty allow", set: func(c *Config) { c.Allow, c.Deny = []string{}, []string{"a"} }},
		{name: "empty allow", set: allow(), want: plugin.Errors{{Message: errAtLeastOne}}},
		{name: "both empty", set: func(c *Config) { c.Allow, c.Deny = []string{}, []string{} },
			want: plugin.Errors{{Message: errOnlyOne}, {Message: errAtLeastOne}}},
		{name: "both", set: func(c *Config) { c.Allow, c.Deny = []string{"a"}, []string{"b"} },
			want: plugin.Errors{{Message: errOnlyOne}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// The patterns guide's config, decoded the way the gateway decodes it.
func TestPatternsGuideConfig(t *testing.T) {
	raw, err := config.ParseRaw([]byte(`
allow: [group-admin, group-user]
deny: []
hide_groups_header: false
`), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	reg := Registration()
	cfg := reg.NewConfig()
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	inst, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	in := inst.(*instance)
	if in.deny {
		t.Fatal("an empty deny list made it a deny config")
	}
	d := kongDirectory()
	d.GroupsOf["id-consumer1"] = []string{"group-user"}
	req := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: req, Directory: d, Consumer: consumerOf(d, "consumer1"), Credential: "k"}
	if err := in.Access(c); err != nil {
		t.Fatalf("group-user refused: %v", err)
	}
	if got := req.Header.Get("X-Consumer-Groups"); got != "group-user" {
		t.Fatalf("X-Consumer-Groups %q", got)
	}
	// Group names match exactly: no case folding, no prefixes.
	for _, g := range []string{"Group-User", "group", "group-admins"} {
		d.GroupsOf["id-consumer1"] = []string{g}
		c := &plugin.Ctx{Req: httptest.NewRequest("GET", "/", nil), Directory: d, Consumer: consumerOf(d, "consumer1"), Credential: "k"}
		var e *plugin.Exit
		if err := in.Access(c); !errors.As(err, &e) || e.Status != 403 {
			t.Errorf("group %q: %v, want 403", g, err)
		}
	}
}

// Each case is a scenario of Kong's 02-access_spec.lua; the name gives the
// spec's route host.
func TestKongAccessSpec(t *testing.T) {
	withGroups := func(g ...string) []string { return append([]string{}, g...) }
	cred := func(consumer string) request { return request{consumer: consumer, credential: true} }
	anon := func(consumer string) request { return request{consumer: consumer} }
	tests := []struct {
		name string
		set  func(*Config)
		req  request
		want outcome
	}{
		// Mapping to consumer or authenticated groups.
		{"acl2 consumer with credentials", allow("admin"), cred("consumer2"), consumerGroups("admin")},
		{"acl2b authenticated groups", allow("admin"), request{authGroups: withGroups("admin")}, authGroups("admin")},
		{"acl8 consumer without credentials", allow("anonymous"), anon("anonymous"), consumerGroups("anonymous")},
		{"acl8b authenticated groups without credentials", allow("anonymous"),
			request{consumer: "anonymous", authGroups: withGroups("anonymous")}, authGroups("anonymous")},

		// Simple lists.
		{"acl1 no authentication plugin", allow("admin"), request{}, unauthorized},
		{"acl1b no authentication plugin, with credential", allow("admin"), request{credential: true}, forbidden},
		{"acl2 not allowed", allow("admin"), cred("consumer1"), forbidden},
		{"acl2c not allowed with authenticated groups", allow("admin"), request{authGroups: withGroups()}, forbidden},
		{"acl9 hide_groups_header", func(c *Config) { c.Allow, c.HideGroupsHeader = []string{"admin"}, true }, cred("consumer2"), hidden},
		{"acl9b hide_groups_header authenticated", func(c *Config) { c.Allow, c.HideGroupsHeader = []string{"admin"}, true },
			request{authGroups: withGroups("admin")}, hidden},
		{"acl10 hide_groups_header false", func(c *Config) { c.Allow = []string{"admin"} }, cred("consumer2"), consumerGroups("admin")},
		{"acl3 not denied", deny("admin"), cred("consumer1"), consumerGroups("")},
		{"acl3b not denied with authenticated groups", deny("admin"), request{authGroups: withGroups()}, authGroups("")},
		{"acl3 denied", deny("admin"), cred("consumer2"), forbidden},
		{"acl3c denied with authenticated groups", deny("admin"), request{authGroups: withGroups("admin")}, forbidden},
		{"acl3d denied and no authenticated groups", deny("none"), request{}, unauthorized},

		// Multi lists.
		{"acl4 allowed", allow("admin", "pro"), cred("consumer3"), consumerGroups("pro, hello")},
		{"acl4b allowed with authenticated groups", allow("admin", "pro"), request{authGroups: withGroups("pro", "hello")}, authGroups("pro, hello")},
		{"acl4 not allowed", allow("admin", "pro"), cred("consumer4"), forbidden},
		{"acl4c not allowed with authenticated groups", allow("admin", "pro"), request{authGroups: withGroups("free", "hello")}, forbidden},
		{"acl5 denied", deny("admin", "pro"), cred("consumer3"), forbidden},
		{"acl5b denied with authenticated groups", deny("admin", "pro"), request{authGroups: withGroups("pro", "hello")}, forbidden},
		{"acl5 not denied", deny("admin", "pro"), cred("consumer4"), consumerGroups("free, hello")},
		{"acl5c not denied with authenticated groups", deny("admin", "pro"), request{authGroups: withGroups("free", "hello")}, authGroups("free, hello")},
		{"acl6 one of the groups denied", deny("admin", "pro", "hello"), cred("consumer4"), forbidden},
		{"acl6b one of the groups denied, authenticated", deny("admin", "pro", "hello"), request{authGroups: withGroups("free", "hello")}, forbidden},
		{"acl7 one of the groups allowed", allow("admin", "pro", "hello"), cred("consumer4"), consumerGroups("free, hello")},
		{"acl7b one of the groups allowed, authenticated", allow("admin", "pro", "hello"), request{authGroups: withGroups("free", "hello")}, authGroups("free, hello")},
		{"acl6 at least one denied", deny("admin", "pro", "hello"), cred("consumer3"), forbidden},
		{"acl6c at least one denied, authenticated", deny("admin", "pro", "hello"), request{authGroups: withGroups("pro", "hello")}, forbidden},

		// Permits / forbids with a consumer and authenticated groups.
		{"acl11 credential consumer beats authenticated groups", allow("admin", "anonymous"),
			request{consumer: "consumer2", credential: true, authGroups: withGroups("admin")}, consumerGroups("admin")},
		{"acl11 authenticated groups beat the anonymous consumer", allow("admin", "anonymous"),
			request{consumer: "anonymous", authGroups: withGroups("admin")}, authGroups("admin")},
		{"acl12 credential consumer not in group despite authenticated groups", allow("anonymous"),
			request{consumer: "consumer2", credential: true, authGroups: withGroups("anonymous")}, forbidden},
		{"acl13 authenticated groups not allowed despite anonymous consumer", allow("anonymous"),
			request{consumer: "anonymous", authGroups: withGroups("admin")}, forbidden},

		// always_use_authenticated_groups.
		{"acl15 authenticated groups used", func(c *Config) { c.Allow, c.AlwaysUseAuthenticatedGroups = []string{"auth_group1"}, true },
			request{consumer: "consumer5", credential: true, authGroups: withGroups("auth_group1")}, authGroups("auth_group1")},
		{"acl16 authenticated groups used and refused", func(c *Config) { c.Allow, c.AlwaysUseAuthenticatedGroups = []string{"auth_group1"}, true },
			request{consumer: "consumer5", credential: true, authGroups: withGroups("auth_group2")}, forbidden},
		{"acl17 no authenticated groups: consumer groups", func(c *Config) { c.Allow, c.AlwaysUseAuthenticatedGroups = []string{"acl_group1"}, true },
			cred("consumer5"), consumerGroups("acl_group1")},
		{"acl17 no authenticated groups: consumer refused", func(c *Config) { c.Allow, c.AlwaysUseAuthenticatedGroups = []string{"acl_group1"}, true },
			cred("consumer4"), forbidden},

		// The "anonymous" describe block: no auth plugin, then key-auth
		// falling back to an anonymous consumer with or without groups.
		{"allow-everyone no auth", allow("everyone"), request{}, unauthorized},
		{"allow-none no auth", allow("none"), request{}, unauthorized},
		{"deny-everyone no auth", deny("everyone"), request{}, unauthorized},
		{"deny-none no auth", deny("none"), request{}, unauthorized},
		{"allow-everyone-anonymous", allow("everyone"), anon("anonymous_no_group"), unauthorized},
		{"allow-none-anonymous", allow("none"), anon("anonymous_no_group"), unauthorized},
		{"deny-everyone-anonymous", deny("everyone"), anon("anonymous_no_group"), consumerGroups("")},
		{"deny-none-anonymous", deny("none"), anon("anonymous_no_group"), consumerGroups("")},
		{"allow-everyone-anonymous-with-group", allow("everyone"), anon("anonymous_with_group"), consumerGroups("everyone")},
		{"deny-none-anonymous-with-group", deny("none"), anon("anonymous_with_group"), consumerGroups("everyone")},
		{"allow-none-anonymous-with-group", allow("none"), anon("anonymous_with_group"), forbidden},
		{"deny-everyone-anonymous-with-group", deny("everyone"), anon("anonymous_with_group"), forbidden},

		// A consumer authenticated with a credential but in no group.
		{"credential consumer without groups, allow list", allow("admin"), cred("consumer1"), forbidden},
		{"credential consumer without groups, deny list", deny("admin"), cred("consumer1"), consumerGroups("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, mustBuild(t, tt.set), tt.req)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(outcome{})); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidAuthenticatedGroupsIgnored(t *testing.T) {
	in := mustBuild(t, allow("admin"))
	d := kongDirectory()
	c := &plugin.Ctx{Req: httptest.NewRequest("GET", "/", nil), Directory: d,
		Shared: map[string]any{SharedAuthenticatedGroups: "admin"}}
	var e *plugin.Exit
	if err := in.Access(c); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("got %v, want 401", err)
	}
}

func BenchmarkAccess(b *testing.B) {
	inst, err := New(&Config{Allow: []string{"admin", "pro"}}, plugin.Env{})
	if err != nil {
		b.Fatal(err)
	}
	in := inst.(*instance)
	d := kongDirectory()
	req := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: req, Directory: d, Consumer: consumerOf(d, "consumer3"), Credential: "k"}
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}

func consumerOf(d *plugintest.Directory, username string) *plugin.Consumer {
	c, _ := d.Consumer(username)
	return c
}
