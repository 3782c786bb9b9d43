package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tokenFields are the fields of a credential kind declared by a test
// plugin: a token, unique, and a scope with a default.
type tokenFields struct {
	Token string `yaml:"token"`
	Scope string `yaml:"scope"`
}

func (f *tokenFields) SetDefaults() { f.Scope = "read" }

var tokenKind = CredentialKind{
	Name: "token_credentials",
	New:  func() any { return &tokenFields{} },
	Key:  func(fields any) string { return fields.(*tokenFields).Token },
	Check: func(fields any, c CredentialCheck) bool {
		f := fields.(*tokenFields)
		ok := true
		if f.Token == "" {
			c.Error("token", "required field missing")
			ok = false
		} else if first, free := c.Claim(f.Token); !free {
			c.Duplicate("token", "duplicate token", first)
			ok = false
		}
		if f.Scope != "read" && f.Scope != "write" {
			c.Error("scope", "expected one of: read, write")
			ok = false
		}
		return ok
	},
}

// keyAuthFields and keyAuthKind stand in for key-auth's declared kind in
// this package's tests, which cannot import the plugin: a key, required
// and unique, and a ttl. The plugin's own rules are tested in its package.
type keyAuthFields struct {
	Key string `yaml:"key"`
	TTL int    `yaml:"ttl"`
}

var keyAuthKind = CredentialKind{
	Name: "keyauth_credentials",
	New:  func() any { return &keyAuthFields{} },
	Key:  func(fields any) string { return fields.(*keyAuthFields).Key },
	Check: func(fields any, c CredentialCheck) bool {
		k := fields.(*keyAuthFields).Key
		if k == "" {
			c.Error("key", "required field missing")
			return false
		}
		if first, free := c.Claim(k); !free {
			c.Duplicate("key", "duplicate key", first)
			return false
		}
		return true
	},
}

// withKeyAuth are the options of a load with key-auth's stand-in declared.
var withKeyAuth = Options{Credentials: []CredentialKind{keyAuthKind}}

func parseWithTokens(src string) (*Model, error) {
	return Parse([]byte("_format_version: \"3.0\"\n"+src+"\n"), Options{Credentials: []CredentialKind{tokenKind}})
}

// TestDeclaredCredentialModel checks what a declared kind's credentials
// become: nested ones first, their consumer resolved, the kind's fields
// decoded over their defaults, ids configured or derived, keys taken.
func TestDeclaredCredentialModel(t *testing.T) {
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	m, err := parseWithTokens("token_credentials: [{token: t2, consumer: alice, scope: write, tags: [x], created_at: 7}]\n" +
		"consumers: [{username: alice, token_credentials: [{id: " + uuid1 + ", token: t1}]}]")
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Path, Kind, ID, Key, Consumer string
		Tags                          []string
		CreatedAt                     int64
		Fields                        tokenFields
	}
	var gots []got
	for _, e := range m.Credentials {
		gots = append(gots, got{e.Path, e.Kind, e.ID, e.Key, e.Consumer.Consumer.Username, e.Tags, e.CreatedAt, *e.Fields.(*tokenFields)})
	}
	alice := ConsumerID(m.Consumers[0].Consumer)
	want := []got{
		{"consumers[0].token_credentials[0]", "token_credentials", uuid1, "t1", "alice", nil, 0, tokenFields{"t1", "read"}},
		{"token_credentials[0]", "token_credentials", EntityID("token_credentials", "", alice+"|t2"), "t2", "alice", []string{"x"}, 7, tokenFields{"t2", "write"}},
	}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	if s := m.Summary(); s != "0 services, 0 routes, 0 plugins, 1 consumer, 2 credentials" {
		t.Errorf("summary %q", s)
	}
}

// TestDeclaredCredentialErrors checks that a declared kind's errors come
// with their paths, in the order the built-in entities' do: decoding's in
// document order, then the checks, nested credentials first.
func TestDeclaredCredentialErrors(t *testing.T) {
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		{"decoding in document order", "token_credentials: [{token: [x], consumer: a}, 5]\nservices: [{name: s, host: h, port: x}]\nconsumers: [{username: a, token_credentials: {token: t}}]", Errors{
			{Path: "token_credentials[0].token", Message: "expected a string"},
			{Path: "token_credentials[1]", Message: "expected a map"},
			{Path: "services[0].port", Message: "expected an integer"},
			{Path: "consumers[0].token_credentials", Message: "expected an array"},
		}},
		{"unknown field", "consumers: [{username: a, token_credentials: [{token: t, name: x, _comment: ok}]}]", Errors{
			{Path: "consumers[0].token_credentials[0].name", Message: "unknown field"},
		}},
		{"checks, nested first", "token_credentials: [{token: t1, consumer: a}, {consumer: nobody, scope: all}]\nconsumers: [{username: a, token_credentials: [{token: t1, id: x}]}]", Errors{
			{Path: "consumers[0].token_credentials[0].id", Message: "expected a valid UUID"},
			{Path: "token_credentials[0].token", Message: "duplicate token (first defined at consumers[0].token_credentials[0])"},
			{Path: "token_credentials[1].consumer", Message: "consumer 'nobody' not found"},
			{Path: "token_credentials[1].token", Message: "required field missing"},
			{Path: "token_credentials[1].scope", Message: "expected one of: read, write"},
		}},
		{"consumer required at the top level", "token_credentials: [{token: t}]", Errors{
			{Path: "token_credentials[0].consumer", Message: "required field missing"},
		}},
		{"duplicate ids", "consumers: [{username: a, token_credentials: [{id: " + uuid1 + ", token: t1}, {id: " + uuid1 + ", token: t2}]}]", Errors{
			{Path: "consumers[0].token_credentials[1].id", Message: "duplicate id '" + uuid1 + "' (first defined at consumers[0].token_credentials[0])"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWithTokens(tt.src)
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUndeclaredCredentialKind checks that a kind no plugin declares is an
// unknown field, at the top level and in a consumer.
func TestUndeclaredCredentialKind(t *testing.T) {
	_, err := Parse([]byte("_format_version: \"3.0\"\nconsumers: [{username: a, token_credentials: []}]\ntoken_credentials: []\n"), Options{})
	want := Errors{
		{Path: "consumers[0].token_credentials", Message: "unknown field"},
		{Path: "token_credentials", Message: "unknown field"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestCredentialKindNamedAsField checks that a kind named as a field of
// Config or Consumer is refused rather than taking the field over: the
// file below is valid without the kind, and with it would decode its
// plugins (or its username) as credentials.
func TestCredentialKindNamedAsField(t *testing.T) {
	src := []byte("_format_version: \"3.0\"\nconsumers: [{username: a}]\nplugins: [{name: cors}]\n")
	for name, want := range map[string]string{
		"plugins":  `credential kind "plugins": Config already has a field of that name`,
		"username": `credential kind "username": Consumer already has a field of that name`,
	} {
		k := tokenKind
		k.Name = name
		if _, err := Parse(src, Options{Credentials: []CredentialKind{tokenKind, k}}); err == nil || err.Error() != want {
			t.Errorf("kind %q: err = %v, want %s", name, err, want)
		}
	}
}

// TestDeclaredCredentialLines checks that a check's error carries the line
// of the field it names.
func TestDeclaredCredentialLines(t *testing.T) {
	_, err := parseWithTokens("consumers:\n- username: a\n  token_credentials:\n  - token: t\n    scope: all")
	es := asErrors(t, err)
	if len(es) != 1 || es[0].Line != 6 {
		t.Errorf("errors %+v, want one on line 6", es)
	}
}
