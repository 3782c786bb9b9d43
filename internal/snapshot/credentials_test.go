package snapshot

import (
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// tokenFields are a test plugin's credential kind: a token valid for ttl
// seconds from its first load.
type tokenFields struct {
	Token string `yaml:"token"`
	TTL   int    `yaml:"ttl"`
}

func tokenRegistry(t *testing.T) *plugin.Registry {
	t.Helper()
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "token-auth", NewConfig: func() any { return &struct{}{} },
		New: func(any, plugin.Env) (plugin.Instance, error) { return struct{}{}, nil },
		Credentials: []plugin.CredentialKind{{
			Name: "token_credentials", Label: "token-auth", Endpoint: "tokens", ConsumerEndpoint: "token",
			New: func() any { return &tokenFields{} },
			Key: func(f any) string { return f.(*tokenFields).Token },
			Check: func(f any, c plugin.CredentialCheck) bool {
				if f.(*tokenFields).Token == "" {
					c.Error("token", "required field missing")
					return false
				}
				return true
			},
			Compile: func(c, prev *plugin.Credential) {
				c.State = prev
				if ttl := c.Fields.(*tokenFields).TTL; ttl > 0 {
					c.ExpiresAt = c.LoadedAt.Add(time.Duration(ttl) * time.Second)
				}
			},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func tokenDirectory(t *testing.T, reg *plugin.Registry, src string, now time.Time, prev *Directory) *Directory {
	t.Helper()
	m, err := config.Parse([]byte("_format_version: \"3.0\"\n"+src), config.Options{Credentials: CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	return NewDirectory(m, now, prev, reg.CredentialKinds())
}

// TestDirectoryDeclaredKind checks the index of a declared kind: lookup by
// the kind's key, the generic fields, Compile's result, and LoadedAt kept
// by a reload only for the same id and consumer.
func TestDirectoryDeclaredKind(t *testing.T) {
	reg := tokenRegistry(t)
	t0 := time.Unix(1000, 0)
	src := "consumers: [{username: alice, token_credentials: [{token: a1, ttl: 60, tags: [x]}]}, {username: bob}]\n" +
		"token_credentials: [{token: b1, consumer: bob}]\n"
	d := tokenDirectory(t, reg, src, t0, nil)
	c, ok := d.Credential("token_credentials", "a1")
	if !ok || c.Kind != "token-auth" || c.Key != "a1" || c.Consumer.Username != "alice" || c.Tags[0] != "x" ||
		c.ID == "" || !c.LoadedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(time.Minute)) || c.Fields.(*tokenFields).TTL != 60 {
		t.Fatalf("a1 = %+v, %v", c, ok)
	}
	if b, ok := d.Credential("token_credentials", "b1"); !ok || !b.ExpiresAt.IsZero() || b.Consumer.Username != "bob" {
		t.Errorf("b1 = %+v, %v", b, ok)
	}
	if _, ok := d.Credential("token_credentials", "nope"); ok {
		t.Error("unknown token found")
	}
	if _, ok := d.Credential("other", "a1"); ok {
		t.Error("token found under another kind")
	}
	if c.State != (*plugin.Credential)(nil) {
		t.Errorf("a1 compiled with a previous credential %v on the first load", c.State)
	}

	t1 := t0.Add(time.Hour)
	moved := "consumers: [{username: alice, token_credentials: [{token: a1, ttl: 60}]}, {username: bob, token_credentials: [{token: b1}]}]\n"
	d2 := tokenDirectory(t, reg, moved, t1, d)
	if c, _ := d2.Credential("token_credentials", "a1"); !c.LoadedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("kept a1: loaded %v, expires %v; want the first load's", c.LoadedAt, c.ExpiresAt)
	}
	// b1 moved from the top level into bob: the same consumer and key,
	// so the same derived id and start.
	if c, _ := d2.Credential("token_credentials", "b1"); !c.LoadedAt.Equal(t0) {
		t.Errorf("kept b1: loaded %v, want %v", c.LoadedAt, t0)
	}
	// Compile is given the previous credential of the same key, whatever
	// its consumer: the kind decides what carries over.
	old, _ := d.Credential("token_credentials", "a1")
	if c, _ := d2.Credential("token_credentials", "a1"); c.State != old {
		t.Errorf("a1 compiled with previous %v, want %v", c.State, old)
	}
	other := "consumers: [{username: bob, token_credentials: [{token: a1, ttl: 60}]}]\n"
	d3 := tokenDirectory(t, reg, other, t1, d)
	if c, _ := d3.Credential("token_credentials", "a1"); !c.LoadedAt.Equal(t1) || c.State != old {
		t.Errorf("a1 given to bob: loaded %v, want the new load's %v; previous %v, want %v", c.LoadedAt, t1, c.State, old)
	}
}

// TestCredentialKindsCheck checks that the kinds handed to config run the
// plugin's Check.
func TestCredentialKindsCheck(t *testing.T) {
	_, err := config.Parse([]byte("_format_version: \"3.0\"\nconsumers: [{username: a, token_credentials: [{ttl: 1}]}]\n"),
		config.Options{Credentials: CredentialKinds(tokenRegistry(t))})
	if err == nil || err.Error() != "consumers[0].token_credentials[0].token: required field missing (line 2)" {
		t.Errorf("err = %v", err)
	}
}

// TestDirectoryUnknownKind checks that a model holding a kind the
// directory is not given fails naming the credential and its kind, with
// no kinds or with others, instead of indexing it under another kind (or
// out of range).
func TestDirectoryUnknownKind(t *testing.T) {
	reg := tokenRegistry(t)
	m, err := config.Parse([]byte("_format_version: \"3.0\"\nconsumers: [{username: a, token_credentials: [{token: t1}]}]\n"),
		config.Options{Credentials: CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	other := *reg.CredentialKinds()[0]
	other.Name = "other_tokens"
	for name, kinds := range map[string][]*plugin.CredentialKind{"none": nil, "another": {&other}} {
		t.Run(name, func(t *testing.T) {
			want := `snapshot: credential consumers[0].token_credentials[0] is of kind "token_credentials", which none of the kinds the directory is given declares`
			defer func() {
				if got := recover(); got != want {
					t.Errorf("panic %v, want %s", got, want)
				}
			}()
			NewDirectory(m, time.Now(), nil, kinds)
		})
	}
}
