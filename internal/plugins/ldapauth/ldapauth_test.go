package ldapauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// decode runs src through the real loader's decoding, over the defaults.
func decode(t *testing.T, src string) *Config {
	t.Helper()
	raw, err := config.ParseRaw([]byte(src), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	cfg.SetDefaults()
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatalf("decode: %v", errs)
	}
	return cfg
}

func errorsOf(t *testing.T, err error) plugin.Errors {
	t.Helper()
	var got plugin.Errors
	if err != nil && !errors.As(err, &got) {
		t.Fatalf("error %v is not plugin.Errors", err)
	}
	return got
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "ldap-auth" || reg.Priority != 1200 || !reg.NoConsumer {
		t.Fatalf("got %q %d no_consumer=%v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	cfg := decode(t, "ldap_host: example.com\nbase_dn: dc=example,dc=com\nattribute: cn\n")
	host, base, attr := "example.com", "dc=example,dc=com", "cn"
	want := &Config{LDAPHost: &host, LDAPPort: 389, BaseDN: &base, Attribute: &attr,
		CacheTTL: 60, Timeout: 10000, Keepalive: 60000, HeaderType: "ldap"}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

// The cases of Kong's spec/03-plugins/20-ldap-auth/02-schema_spec.lua, and
// the schema's field rules.
func TestSchema(t *testing.T) {
	const base = "base_dn: ou=users\nattribute: cn\n"
	tests := []struct {
		name string
		src  string
		want plugin.Errors
		port int
	}{
		{name: "ldaps and start_tls are exclusive", src: "ldap_host: none\nldap_port: 389\nldaps: true\nstart_tls: true\n" + base,
			want: plugin.Errors{{Path: "@entity", Message: "'ldaps' and 'start_tls' cannot be enabled simultaneously"}}},
		{name: "default port 389", src: "ldap_host: example.com\n" + base, port: 389},
		{name: "default port override", src: "ldap_host: example.com\nldap_port: 12345\n" + base, port: 12345},
		{name: "ipv4 host", src: "ldap_host: 10.0.0.1\n" + base, port: 389},
		{name: "ipv6 host", src: "ldap_host: \"::1\"\n" + base, port: 389},
		{name: "bracketed ipv6 host", src: "ldap_host: \"[::1]\"\n" + base, port: 389},
		{name: "all optional fields", src: "ldap_host: example.com\nldaps: true\nverify_ldap_host: true\ncache_ttl: 0.5\n" +
			"hide_credentials: true\ntimeout: 0\nkeepalive: 0\nanonymous: no-body\nheader_type: Basic\nrealm: r\n" + base, port: 389},
		{name: "required fields missing", src: "ldap_port: 389\n", want: plugin.Errors{
			{Path: "ldap_host", Message: "required field missing"},
			{Path: "base_dn", Message: "required field missing"},
			{Path: "attribute", Message: "required field missing"},
		}},
		{name: "empty strings", src: "ldap_host: \"\"\nbase_dn: \"\"\nattribute: \"\"\nanonymous: \"\"\nheader_type: \"\"\nrealm: \"\"\n", want: plugin.Errors{
			{Path: "ldap_host", Message: "length must be at least 1"},
			{Path: "base_dn", Message: "length must be at least 1"},
			{Path: "attribute", Message: "length must be at least 1"},
			{Path: "anonymous", Message: "length must be at least 1"},
			{Path: "realm", Message: "length must be at least 1"},
			{Path: "header_type", Message: "length must be at least 1"},
		}},
		{name: "host with port", src: "ldap_host: example.com:389\n" + base,
			want: plugin.Errors{{Path: "ldap_host", Message: "must not have a port"}}},
		{name: "ipv6 host with port", src: "ldap_host: \"[::1]:389\"\n" + base,
			want: plugin.Errors{{Path: "ldap_host", Message: "must not have a port"}}},
		{name: "invalid host", src: "ldap_host: \"ex ample\"\n" + base,
			want: plugin.Errors{{Path: "ldap_host", Message: "invalid value: ex ample"}}},
		{name: "port out of range", src: "ldap_host: h\nldap_port: 65536\n" + base,
			want: plugin.Errors{{Path: "ldap_port", Message: "value should be between 0 and 65535"}}},
		{name: "negative durations", src: "ldap_host: h\ncache_ttl: -1\ntimeout: -1\nkeepalive: -1\n" + base, want: plugin.Errors{
			{Path: "cache_ttl", Message: "value must be greater than or equal to 0"},
			{Path: "timeout", Message: "value must be greater than or equal to 0"},
			{Path: "keepalive", Message: "value must be greater than or equal to 0"},
		}},
		{name: "header type with a space", src: "ldap_host: h\nheader_type: \"a b\"\n" + base,
			want: plugin.Errors{{Path: "header_type", Message: "invalid value: a b"}}},
		{name: "realm with a quote", src: "ldap_host: h\nrealm: 'a\"b'\n" + base,
			want: plugin.Errors{{Path: "realm", Message: "must not contain quotes, backslashes or line breaks"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := decode(t, tt.src)
			in, err := Registration().New(cfg, plugin.Env{})
			if diff := cmp.Diff(tt.want, errorsOf(t, err)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if err == nil {
				defer in.(plugin.Closer).Close()
				if cfg.LDAPPort != tt.port {
					t.Fatalf("ldap_port %d, want %d", cfg.LDAPPort, tt.port)
				}
			}
		})
	}
}

// Kong's "expected an integer" for a fractional port is the loader's.
func TestSchemaTypes(t *testing.T) {
	raw, err := config.ParseRaw([]byte("ldap_port: 1.5\n"), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	errs := raw.Decode(Registration().NewConfig())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "plugins[0].config.ldap_port") || !strings.Contains(errs[0].Error(), "integer") {
		t.Fatalf("got %v", errs)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// The header values of Kong's access spec, and the edges of its regexes.
func TestParse(t *testing.T) {
	tests := []struct {
		scheme, value string
		user, pass    string
		ok            bool
	}{
		{"ldap", "ldap " + b64("einstein:password"), "einstein", "password", true},
		{"ldap", "LDAP " + b64("einstein:password"), "einstein", "password", true},
		{"ldap", " ldap " + b64("einstein:password"), "einstein", "password", true},
		{"ldap", "ldap \t  " + strings.TrimRight(b64("einstein:password"), "="), "einstein", "password", true},
		{"ldap", "ldap " + b64("einstein:password:another_password"), "einstein", "password:another_password", true},
		{"ldap", "ldap " + b64("einstein:pass\n"), "einstein", "pass", true},
		{"basic", "basic " + b64("einstein:password"), "einstein", "password", true},
		{"basic", "Basic " + b64("einstein:password"), "einstein", "password", true},
		{"ldap", "abcd", "", "", false},
		{"ldap", "ldap ", "", "", false},
		{"ldap", "ldap", "", "", false},
		{"ldap", "ldap" + b64("einstein:password"), "", "", false},
		{"ldap", "invalidldap " + b64("einstein:password"), "", "", false},
		{"ldap", "basic " + b64("einstein:password"), "", "", false},
		{"ldap", "ldap " + b64("einstein:"), "", "", false},
		{"ldap", "ldap " + b64(":password"), "", "", false},
		{"ldap", "ldap " + b64("einstein"), "", "", false},
		{"ldap", "ldap " + b64("einstein:pass\nword"), "", "", false},
		{"ldap", "ldap " + b64("ein\rstein:password"), "", "", false},
		{"ldap", "ldap " + b64("ein\x00stein:password"), "", "", false},
		{"ldap", "ldap !!!!", "", "", false},
		{"ldap", "ldap " + b64("einstein:password1") + " trailing", "", "", false},
		// ngx.decode_base64 stops at the first '='.
		{"ldap", "ldap " + b64("einstein:password") + " trailing", "einstein", "password", true},
		{"ldap", "ldap " + b64(strings.Repeat("u", 300)+":"+strings.Repeat("p", 300)), strings.Repeat("u", 300), strings.Repeat("p", 300), true},
	}
	for _, tt := range tests {
		in := &instance{scheme: tt.scheme}
		var buf [256]byte
		user, pass, ok := in.parse(tt.value, buf[:0])
		if ok != tt.ok || string(user) != tt.user || string(pass) != tt.pass {
			t.Errorf("parse(%q) with %q = %q, %q, %v; want %q, %q, %v", tt.value, tt.scheme, user, pass, ok, tt.user, tt.pass, tt.ok)
		}
	}
}
