package jwt

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// load parses src (after `_format_version: "3.0"`) with jwt's credential
// kind declared, as the gateway does, and indexes it after prev.
func load(t *testing.T, src string, prev *snapshot.Directory) (*config.Model, *snapshot.Directory, error) {
	t.Helper()
	reg, err := plugin.NewRegistry([]plugin.Registration{Registration()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse([]byte("_format_version: \"3.0\"\n"+src+"\n"), config.Options{Credentials: snapshot.CredentialKinds(reg)})
	if err != nil {
		return nil, nil, err
	}
	return m, snapshot.NewDirectory(m, now, prev, reg.CredentialKinds()), nil
}

// TestCredentialLoad checks what only the declaration does: a long
// duplicate key shortened in its message, the warning for a generated
// secret, and nothing of an invalid file's checks in the model.
func TestCredentialLoad(t *testing.T) {
	long := strings.Repeat("k", 300)
	_, _, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: "+long+", secret: s}, {key: "+long+", secret: t}, {key: j, audience: ['']}]}]", nil)
	want := "consumers[0].jwt_secrets[1].key: duplicate key '" + long[:256] + "…' (first defined at consumers[0].jwt_secrets[0]) (line 2)\n" +
		"consumers[0].jwt_secrets[2].audience[0]: length must be at least 1 (line 2)"
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	m, _, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, secret: s}]}]", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, w := range m.Warnings {
		got = append(got, w.Path)
	}
	if diff := cmp.Diff([]string{"consumers[0].jwt_secrets[0].secret"}, got); diff != "" || !strings.HasPrefix(m.Warnings[0].Message, "not set: a random secret is generated") {
		t.Errorf("warnings %v (-want +got):\n%s", m.Warnings, diff)
	}
}

// TestGeneratedSecret checks that a credential without a secret gets a
// random one, shown by the admin body, kept by a reload that keeps the
// credential's consumer and key, and not by one that gives the key to
// another consumer.
func TestGeneratedSecret(t *testing.T) {
	const src = "consumers: [{username: a, jwt_secrets: [{key: j}, {key: k, secret: configured}]}, {username: b}]"
	_, d, err := load(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(d *snapshot.Directory, key string) string {
		c, ok := d.Credential(kindName, key)
		if !ok {
			t.Fatalf("%s not found", key)
		}
		return c.State.(*verifyKeys).secret
	}
	first := secret(d, "j")
	if len(first) != 32 || strings.Trim(first, secretAlphabet) != "" || secret(d, "k") != "configured" {
		t.Fatalf("secrets %q, %q", first, secret(d, "k"))
	}
	k := credentialKind()
	for key, want := range map[string]any{"j": first, "k": nil} {
		c, _ := d.Credential(kindName, key)
		body := map[string]any{"secret": nil}
		k.Render(c, body)
		if body["secret"] != want {
			t.Errorf("%s: admin secret %v, want %v", key, body["secret"], want)
		}
	}
	_, kept, err := load(t, "consumers: [{username: a}, {username: b}]\njwt_secrets: [{key: j, consumer: a}]", d)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(kept, "j"); got != first {
		t.Errorf("kept credential's secret %q, want %q", got, first)
	}
	_, moved, err := load(t, "consumers: [{username: a}, {username: b, jwt_secrets: [{key: j}]}]", kept)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(moved, "j"); got == first || len(got) != 32 {
		t.Errorf("a key given to another consumer kept its secret %q", got)
	}
	// A configured secret, later removed, is not a generated one to keep.
	_, unset, err := load(t, "consumers: [{username: a, jwt_secrets: [{key: k}]}]", d)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret(unset, "k"); got == "configured" {
		t.Error("a configured secret was kept as the generated one")
	}
}

// countingTransport counts the round trips it makes.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestJWKSUsesEnvHTTPClient checks that JWK Sets are fetched through the
// gateway's outbound client (plugin.Env.HTTPClient), bounded by
// jwks_timeout rather than that client's own timeout.
func TestJWKSUsesEnvHTTPClient(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	rt := &countingTransport{}
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.JWKSTimeout = 1
	inst, err := reg.New(cfg, plugin.Env{HTTPClient: &http.Client{Transport: rt, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	in.now = func() time.Time { return now }
	t.Cleanup(in.Close)
	dir := jwksDir(srv.URL)
	tok := sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("%d round trips through Env.HTTPClient, want 1", n)
	}
	// An unknown kid asks for a fetch that hangs: jwks_timeout ends the
	// wait, not the client's minute.
	srv.setHook(func(int64, *http.Request) bool { time.Sleep(2500 * time.Millisecond); return true })
	other := sign(t, signer{"RS256", k.rsaOther}, valid("idp"), map[string]any{"kid": "k2"})
	start := time.Now()
	if got := run(t, in, newCtx(dir, authorize(other))); got.Status != 401 {
		t.Errorf("unknown kid: %+v", got)
	}
	if d := time.Since(start); d > 1800*time.Millisecond {
		t.Errorf("the request waited %v, past jwks_timeout (1s)", d)
	}
}
