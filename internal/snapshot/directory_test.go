package snapshot

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/acl"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

const directoryYAML = `_format_version: "3.0"
consumers:
  - username: alice
    custom_id: A1
    keyauth_credentials:
      - {key: alice-key, tags: [t1]}
      - {id: 11111111-1111-4111-8111-111111111111, key: alice-temp, ttl: 60}
    acls:
      - {group: admins}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
acls:
  - {group: users, consumer: alice}
  - {group: users, consumer: 22222222-2222-4222-8222-222222222222}
`

// credentialRegistry declares key-auth's and acl's credential kinds, which
// the directory's tests index.
func credentialRegistry(t testing.TB) *plugin.Registry {
	t.Helper()
	reg, err := plugin.NewRegistry([]plugin.Registration{keyauth.Registration(), acl.Registration()})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func loadDirectory(t *testing.T, src string, now time.Time, prev *Directory) *Directory {
	t.Helper()
	reg := credentialRegistry(t)
	m, err := config.Parse([]byte(src), config.Options{Credentials: CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	return NewDirectory(m, now, prev, reg.CredentialKinds())
}

// keyAuth finds a key-auth credential.
func keyAuth(d plugin.Directory, key string) (*plugin.Credential, bool) {
	return d.Credential("keyauth_credentials", key)
}

func TestDirectoryLookups(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := loadDirectory(t, directoryYAML, now, nil)

	aliceID := config.KongID("consumers", "alice")
	alice, ok := d.Consumer("alice")
	if !ok || alice.ID != aliceID || alice.Username != "alice" || alice.CustomID != "A1" {
		t.Fatalf("Consumer(alice) = %+v, %v", alice, ok)
	}
	if byID, _ := d.Consumer(aliceID); byID != alice {
		t.Error("lookup by id returned a different consumer value")
	}
	bob, ok := d.Consumer("22222222-2222-4222-8222-222222222222")
	if !ok || bob.Username != "" || bob.CustomID != "B1" {
		t.Fatalf("Consumer(bob's id) = %+v, %v", bob, ok)
	}
	for _, miss := range []string{"", "B1", "nobody", "alice-key"} {
		if _, ok := d.Consumer(miss); ok {
			t.Errorf("Consumer(%q) found", miss)
		}
	}

	k, ok := keyAuth(d, "alice-key")
	if !ok || k.Consumer != alice || k.Kind != "key-auth" || k.Key != "alice-key" || !k.ExpiresAt.IsZero() || len(k.Tags) != 1 {
		t.Fatalf("keyAuth(alice-key) = %+v, %v", k, ok)
	}
	if want := config.EntityID("keyauth_credentials", "", aliceID+"|alice-key"); k.ID != want {
		t.Errorf("generated key-auth id %q, want %q", k.ID, want)
	}
	tmp, _ := keyAuth(d, "alice-temp")
	if tmp.ID != "11111111-1111-4111-8111-111111111111" {
		t.Errorf("configured id not kept: %q", tmp.ID)
	}
	if want := now.Add(time.Minute); !tmp.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", tmp.ExpiresAt, want)
	}
	if tmp.Expired(now.Add(59*time.Second)) || !tmp.Expired(now.Add(time.Minute)) {
		t.Error("Expired wrong around the ttl")
	}
	if _, ok := keyAuth(d, "nope"); ok {
		t.Error("unknown key found")
	}

	if g := d.Groups(aliceID); strings.Join(g, ",") != "admins,users" {
		t.Errorf("Groups(alice) = %v", g)
	}
	if g := d.Groups(bob.ID); strings.Join(g, ",") != "users" {
		t.Errorf("Groups(bob) = %v", g)
	}
	if g := d.Groups("alice"); g != nil {
		t.Errorf("Groups by username = %v, want nil (ids only)", g)
	}
}

// TestDirectoryTTLSurvivesReload checks that a reload keeps an unchanged
// key's ttl start, and that a changed key starts afresh.
func TestDirectoryTTLSurvivesReload(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := func(key string) string {
		return "_format_version: \"3.0\"\nconsumers: [{username: u, keyauth_credentials: [{key: " + key + ", ttl: 3600}]}]\n"
	}
	d1 := loadDirectory(t, src("k1"), t0, nil)
	d2 := loadDirectory(t, src("k1"), t0.Add(30*time.Minute), d1)
	c, _ := keyAuth(d2, "k1")
	if want := t0.Add(time.Hour); !c.ExpiresAt.Equal(want) {
		t.Errorf("after reload ExpiresAt = %v, want %v", c.ExpiresAt, want)
	}
	d3 := loadDirectory(t, src("k2"), t0.Add(30*time.Minute), d2)
	c, _ = keyAuth(d3, "k2")
	if want := t0.Add(90 * time.Minute); !c.ExpiresAt.Equal(want) {
		t.Errorf("new key ExpiresAt = %v, want %v", c.ExpiresAt, want)
	}
}

func TestCompileSetsDirectory(t *testing.T) {
	reg := credentialRegistry(t)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	compile := func(src string) (*Snapshot, error) {
		m, err := config.Parse([]byte(src), config.Options{Credentials: CredentialKinds(reg)})
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	}
	s, err := compile(directoryYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keyAuth(s.Directory, "alice-key"); !ok {
		t.Fatal("snapshot directory lacks alice-key")
	}
	empty, err := compile("_format_version: \"3.0\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Directory == nil {
		t.Fatal("Directory is nil without consumers")
	}
	if _, ok := empty.Directory.Consumer("x"); ok {
		t.Error("empty directory found a consumer")
	}
}

func TestDirectoryLookupsDoNotAllocate(t *testing.T) {
	d := loadDirectory(t, directoryYAML, time.Now(), nil)
	var dir plugin.Directory = d
	id := config.KongID("consumers", "alice")
	n := testing.AllocsPerRun(100, func() {
		dir.Consumer("alice")
		keyAuth(dir, "alice-key")
		keyAuth(dir, "missing")
		dir.Groups(id)
	})
	if n != 0 {
		t.Errorf("%v allocations per lookup round", n)
	}
}

// bigConfig is a config of n consumers, each with one key-auth key.
func bigConfig(n int) []byte {
	var b strings.Builder
	b.Grow(n * 64)
	b.WriteString("_format_version: \"3.0\"\nconsumers:\n")
	for i := range n {
		s := strconv.Itoa(i)
		b.WriteString("  - username: user-" + s + "\n    keyauth_credentials: [{key: key-" + s + "}]\n")
	}
	return []byte(b.String())
}

var (
	big100k     []byte
	big100kOnce sync.Once
)

// BenchmarkDirectoryLoad100k is Parse + Compile of 100,000 consumers with a
// key-auth key each.
func BenchmarkDirectoryLoad100k(b *testing.B) {
	big100kOnce.Do(func() { big100k = bigConfig(100_000) })
	reg := credentialRegistry(b)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	b.ReportAllocs()
	for b.Loop() {
		m, err := config.Parse(big100k, config.Options{Credentials: CredentialKinds(reg)})
		if err != nil {
			b.Fatal(err)
		}
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := keyAuth(s.Directory, "key-99999"); !ok {
			b.Fatal("key-99999 missing")
		}
	}
}

func benchDirectory(b *testing.B) plugin.Directory {
	b.Helper()
	big100kOnce.Do(func() { big100k = bigConfig(100_000) })
	reg := credentialRegistry(b)
	m, err := config.Parse(big100k, config.Options{Credentials: CredentialKinds(reg)})
	if err != nil {
		b.Fatal(err)
	}
	return NewDirectory(m, time.Now(), nil, reg.CredentialKinds())
}

// benchShuffled is prefix+i for every i below 100,000, in a random order
// fixed by its seed: lookups spread over the whole index, as a gateway's
// clients are, and not a few keys that stay in the CPU cache.
func benchShuffled(format func(int) string) []string {
	out := make([]string, 100_000)
	for i, n := range rand.New(rand.NewPCG(1, 2)).Perm(len(out)) {
		out[i] = format(n)
	}
	return out
}

func BenchmarkDirectoryKeyAuth(b *testing.B) {
	d := benchDirectory(b)
	for _, bm := range []struct {
		name   string
		prefix string
	}{{"hit", "key-"}, {"miss", "nokey-"}} {
		keys := benchShuffled(func(n int) string { return bm.prefix + strconv.Itoa(n) })
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := keyAuth(d, keys[i]); ok != (bm.name == "hit") {
					b.Fatalf("keyAuth(%s) found: %v", keys[i], ok)
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkDirectoryConsumer(b *testing.B) {
	d := benchDirectory(b)
	for _, bm := range []struct {
		name   string
		format func(int) string
	}{
		{"username", func(n int) string { return "user-" + strconv.Itoa(n) }},
		{"id", func(n int) string { return config.KongID("consumers", "user-"+strconv.Itoa(n)) }},
	} {
		names := benchShuffled(bm.format)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := d.Consumer(names[i]); !ok {
					b.Fatalf("Consumer(%s) not found", names[i])
				}
				if i++; i == len(names) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkDirectoryGroups(b *testing.B) {
	d := benchDirectory(b)
	id := config.KongID("consumers", "user-7")
	b.ReportAllocs()
	for b.Loop() {
		d.Groups(id)
	}
}

func TestDirectoryConsumerByCustomID(t *testing.T) {
	d := loadDirectory(t, directoryYAML, time.Now(), nil)
	c, ok := d.ConsumerByCustomID("B1")
	if !ok || c.ID != "22222222-2222-4222-8222-222222222222" {
		t.Fatalf("B1: %+v %v", c, ok)
	}
	if c, ok := d.ConsumerByCustomID("A1"); !ok || c.Username != "alice" {
		t.Fatalf("A1: %+v %v", c, ok)
	}
	// custom_id is not a username or an id, and those are not custom_ids.
	if _, ok := d.ConsumerByCustomID("alice"); ok {
		t.Fatal("a username was found as a custom_id")
	}
	if _, ok := d.Consumer("B1"); ok {
		t.Fatal("a custom_id was found as a username")
	}
}

// A username may be another consumer's id: each lookup finds by its own
// field, and Consumer (Kong's anonymous) by id first, whatever the order.
func TestDirectoryUsernameThatIsAnotherID(t *testing.T) {
	const id = "33333333-3333-4333-8333-333333333333"
	for name, consumers := range map[string]string{
		"id first":       "  - {id: " + id + ", username: owner}\n  - {username: " + id + "}\n",
		"username first": "  - {username: " + id + "}\n  - {id: " + id + ", username: owner}\n",
	} {
		d := loadDirectory(t, "_format_version: \"3.0\"\nconsumers:\n"+consumers, time.Now(), nil)
		if c, ok := d.ConsumerByID(id); !ok || c.Username != "owner" {
			t.Errorf("%s: ConsumerByID = %+v %v", name, c, ok)
		}
		if c, ok := d.ConsumerByUsername(id); !ok || c.ID == id {
			t.Errorf("%s: ConsumerByUsername = %+v %v", name, c, ok)
		}
		if c, ok := d.Consumer(id); !ok || c.Username != "owner" {
			t.Errorf("%s: Consumer = %+v %v", name, c, ok)
		}
		if _, ok := d.ConsumerByUsername("owner"); !ok {
			t.Errorf("%s: owner not found by username", name)
		}
		if _, ok := d.ConsumerByID("owner"); ok {
			t.Errorf("%s: a username found as an id", name)
		}
	}
}
