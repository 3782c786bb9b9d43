package oauth2

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// BenchmarkAccess compares the access phase of key-auth and of oauth2
// (a gateway-issued token in the memory store) on the same route, side
// by side: 10,000 consumers, each with a key and a client with a live
// token, each request with another consumer's credential. The request
// and its header map are the server's work, made once; the loop only
// puts the next credential in the header.
func BenchmarkAccess(b *testing.B) {
	const n = 10_000
	var src strings.Builder
	src.WriteString("_format_version: \"3.0\"\nconsumers:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - username: user-%d\n    keyauth_credentials: [{key: key-%d}]\n"+
			"    oauth2_credentials: [{name: app, client_id: client-%d, client_secret: secret-%d}]\n", i, i, i, i)
	}
	reg, err := plugin.NewRegistry([]plugin.Registration{keyauth.Registration(), Registration()})
	if err != nil {
		b.Fatal(err)
	}
	m, err := config.Parse([]byte(src.String()), config.Options{Credentials: snapshot.CredentialKinds(reg)})
	if err != nil {
		b.Fatal(err)
	}
	d := snapshot.NewDirectory(m, time.Now(), nil, reg.CredentialKinds())

	ka := keyauth.Registration()
	kc := ka.NewConfig().(*keyauth.Config)
	kc.SetDefaults()
	keyInstance, err := ka.New(kc, plugin.Env{})
	if err != nil {
		b.Fatal(err)
	}

	oc := Registration().NewConfig().(*Config)
	oc.SetDefaults()
	oc.EnableClientCredentials = true
	in, err := Registration().New(oc, plugin.Env{PluginID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	k := in.(*kong)
	defer k.Close()
	k.store = newTestStore(b)
	clock = time.Now()
	k.now = func() time.Time { return clock }
	svc := &plugin.ServiceInfo{ID: "svc-1"}
	keys := make([]string, n)
	bearers := make([]string, n)
	for i := range n {
		keys[i] = "key-" + strconv.Itoa(i)
		cred, ok := d.Credential(kindName, "client-"+strconv.Itoa(i))
		if !ok {
			b.Fatal("no client")
		}
		hc := &plugin.Ctx{Service: svc, Req: httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)}
		t, err := k.issue(context.Background(), hc, cred, "", "", true, nil)
		if err != nil {
			b.Fatal(err)
		}
		bearers[i] = "Bearer " + t.access
	}

	run := func(b *testing.B, in plugin.Accessor, header string, values []string) {
		hr := httptest.NewRequest(http.MethodGet, "/request", nil)
		hr.Header = http.Header{header: {""}}
		slot := hr.Header[header]
		c := &plugin.Ctx{Directory: d, Req: hr, Service: svc, ClientPath: "/request"}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			slot[0], c.Consumer, c.Credential = values[i], nil, ""
			if err := in.Access(c); err != nil {
				b.Fatal(err)
			}
			if c.Consumer == nil {
				b.Fatal("no consumer")
			}
			if i++; i == n {
				i = 0
			}
		}
	}
	b.Run("key-auth", func(b *testing.B) { run(b, keyInstance.(plugin.Accessor), "Apikey", keys) })
	b.Run("oauth2", func(b *testing.B) { run(b, k, "Authorization", bearers) })
}
