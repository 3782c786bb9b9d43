package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// retargetProbe sends a request to the target its X-Side header names:
// "host" (a host and port), "up" (an upstreams entity, falling back to
// the service when it has no healthy target), "strict" (the same entity
// without fallback), "alien" (a target it never declared).
type retargetProbe struct{ host, up, strict, alien *plugin.Target }

type retargetConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Upstream string `yaml:"upstream"`
}

func (p *retargetProbe) Targets() []*plugin.Target { return []*plugin.Target{p.host, p.up, p.strict} }

func (p *retargetProbe) Access(c *plugin.Ctx) error {
	switch c.Req.Header.Get("X-Side") {
	case "host":
		c.Target = p.host
	case "up":
		c.Target = p.up
	case "strict":
		c.Target = p.strict
	case "alien":
		c.Target = p.alien
	}
	return nil
}

func retargetRegistry(t *testing.T) *plugin.Registry {
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "retarget", Priority: 20,
		NewConfig: func() any { return &retargetConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			c := cfg.(*retargetConfig)
			return &retargetProbe{
				host:   &plugin.Target{Host: c.Host, Port: c.Port},
				up:     &plugin.Target{Host: c.Upstream, Path: "/canary", Fallback: true},
				strict: &plugin.Target{Host: c.Upstream},
				alien:  &plugin.Target{Host: c.Host, Port: c.Port},
			}, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// named answers with its name and the Host it was sent.
func named(t *testing.T, name string) (*httptest.Server, string, int) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.Host+" "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return srv, host, p
}

const retargetYAML = `
_format_version: "3.0"
upstreams:
- name: canary-up
  targets: [{target: "${C}"}]
services:
- name: s
  url: ${A}/base
  routes: [{paths: [/]}]
plugins:
- name: retarget
  config:
    host: "${BH}"
    port: ${BP}
    upstream: canary-up
`

// A plugin's Ctx.Target sends the request to a host and port or to an
// upstreams entity, with the service's path or the target's, and the
// target's Host; a
// target with Fallback stays on the service when the entity has no
// healthy target, one without answers 503; an undeclared target changes
// nothing.
func TestPluginTargetSendsElsewhere(t *testing.T) {
	a, _, _ := named(t, "A")
	_, bh, bp := named(t, "B")
	_, ch, cp := named(t, "C")
	env := map[string]string{"A": a.URL, "BH": bh, "BP": strconv.Itoa(bp), "C": net.JoinHostPort(ch, strconv.Itoa(cp))}
	m, err := config.Parse([]byte(retargetYAML), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: retargetRegistry(t), Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, Options{Version: "test"})
	srv := httptest.NewServer(h.Listener("http", "80"))
	t.Cleanup(srv.Close)
	get := func(side string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/p", nil)
		req.Header.Set("X-Side", side)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bHost := net.JoinHostPort(bh, strconv.Itoa(bp))
	// An upstreams entity is sent its name with the service's port.
	_, aPort, _ := net.SplitHostPort(a.Listener.Addr().String())
	for side, want := range map[string]string{
		"":       "A " + a.Listener.Addr().String() + " /base/p",
		"host":   "B " + bHost + " /base/p",
		"up":     "C canary-up:" + aPort + " /canary",
		"strict": "C canary-up:" + aPort + " /base/p",
		"alien":  "A " + a.Listener.Addr().String() + " /base/p",
	} {
		if code, body := get(side); code != 200 || body != want {
			t.Errorf("X-Side %q: %d %q, want %q", side, code, body, want)
		}
	}
	// Without a States registry (as here) each alternate has its own
	// target state; the gateway's is shared by upstream and address.
	for _, alt := range snap.Routes[0].Targets {
		for _, tg := range alt.Balancer.Targets() {
			if tg.Port == cp {
				tg.State.SetHealth(false, "test")
			}
		}
	}
	if code, body := get("up"); code != 200 || body != "A "+a.Listener.Addr().String()+" /base/p" {
		t.Errorf("fallback: %d %q, want A on the service's path", code, body)
	}
	if code, _ := get("strict"); code != http.StatusServiceUnavailable {
		t.Errorf("no fallback: %d, want 503", code)
	}
}
