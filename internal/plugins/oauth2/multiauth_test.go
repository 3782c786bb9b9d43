package oauth2

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// TestMultipleAuth ports 03-access_spec's "multiple auth" cases: oauth2
// (priority 1400) then key-auth (1250) on one route, without anonymous
// (logical AND) and with it (logical OR).
func TestMultipleAuth(t *testing.T) {
	reg, err := plugin.NewRegistry([]plugin.Registration{keyauth.Registration(), Registration()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse([]byte(`_format_version: "3.0"
consumers:
- username: user1
  keyauth_credentials: [{key: Mouse}]
- username: user2
  oauth2_credentials: [{name: app, client_id: clientid4567, client_secret: secret4567}]
- username: Anonymous
`), config.Options{Credentials: snapshot.CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	d := snapshot.NewDirectory(m, time.Now(), nil, reg.CredentialKinds())

	for _, anonymous := range []bool{false, true} {
		k := kongInstance(t, func(c *Config) {
			if anonymous {
				a := "Anonymous"
				c.Anonymous = &a
			}
		})
		ka := keyauth.Registration()
		kc := ka.NewConfig().(*keyauth.Config)
		kc.SetDefaults()
		if anonymous {
			a := "Anonymous"
			kc.Anonymous = &a
		}
		key, err := ka.New(kc, plugin.Env{})
		if err != nil {
			t.Fatal(err)
		}
		tok := k.tokenFor(t, d, form("client_id", "clientid4567", "client_secret", "secret4567",
			"grant_type", "client_credentials"))["access_token"].(string)

		run := func(header ...string) (int, http.Header) {
			r := httptest.NewRequest(http.MethodGet, "/request", nil)
			for i := 0; i+1 < len(header); i += 2 {
				r.Header.Set(header[i], header[i+1])
			}
			c := &plugin.Ctx{Req: r, Directory: d, Scheme: "https", ClientPath: "/request",
				Service: &plugin.ServiceInfo{ID: "svc-1"}}
			for _, in := range []plugin.Accessor{k, key.(plugin.Accessor)} {
				if err := in.Access(c); err != nil {
					var x *plugin.Exit
					errors.As(err, &x)
					return x.Status, r.Header
				}
			}
			return 200, r.Header
		}
		both := []string{"Authorization", "bearer " + tok, "apikey", "Mouse"}
		status, h := run(both...)
		if status != 200 || h.Get("X-Anonymous-Consumer") != "" || h.Get("X-Consumer-Username") == "Anonymous" {
			t.Errorf("anonymous %v, both credentials: %d %v", anonymous, status, h)
		}
		status, h = run("apikey", "Mouse")
		switch {
		case !anonymous && status != 401:
			t.Errorf("AND, key only: %d", status)
		case anonymous && (status != 200 || h.Get("X-Consumer-Username") != "user1" || h.Get("X-Anonymous-Consumer") != "" ||
			h.Get("X-Authenticated-Scope") != "" || h.Get("X-Authenticated-Userid") != ""):
			t.Errorf("OR, key only: %d %v", status, h)
		}
		status, h = run("Authorization", "bearer "+tok)
		switch {
		case !anonymous && status != 401:
			t.Errorf("AND, token only: %d", status)
		case anonymous && (status != 200 || h.Get("X-Consumer-Username") != "user2" || h.Get("X-Credential-Identifier") != "clientid4567"):
			t.Errorf("OR, token only: %d %v", status, h)
		}
		status, h = run()
		switch {
		case !anonymous && status != 401:
			t.Errorf("AND, nothing: %d", status)
		case anonymous && (status != 200 || h.Get("X-Consumer-Username") != "Anonymous" || h.Get("X-Anonymous-Consumer") != "true"):
			t.Errorf("OR, nothing: %d %v", status, h)
		}
	}
}
