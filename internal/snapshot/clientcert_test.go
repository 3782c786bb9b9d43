package snapshot

import (
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// certAuth stands for mtls-auth: it trusts CA certificates by id and
// reads client certificates.
type certAuthConfig struct {
	CAs      []string `yaml:"ca_certificates"`
	SendCADN bool     `yaml:"send_ca_dn"`
}

type certAuth struct {
	ids   []string
	cas   []*x509.Certificate
	hints bool
}

func (a *certAuth) Access(*plugin.Ctx) error { return nil }
func (a *certAuth) TLSNeeds() plugin.TLSNeeds {
	n := plugin.TLSNeeds{ClientCertificate: true}
	if a.hints {
		n.ClientCAs = a.cas
	}
	return n
}

func certAuthRegistration() plugin.Registration {
	return plugin.Registration{
		Name: "cert-auth", Priority: 1600, NoConsumer: true,
		NewConfig: func() any { return &certAuthConfig{} },
		New: func(cfg any, env plugin.Env) (plugin.Instance, error) {
			c := cfg.(*certAuthConfig)
			a := &certAuth{ids: c.CAs, hints: c.SendCADN}
			for i, id := range c.CAs {
				ca, ok := env.Certificates.CACertificate(id)
				if !ok {
					return nil, plugin.FieldError("ca_certificates["+strconv.Itoa(i)+"]", "not found")
				}
				a.cas = append(a.cas, ca)
			}
			return a, nil
		},
	}
}

// compileCerts compiles src with ${CA1} and ${CA2} replaced by CA
// certificates (indented for a YAML block).
func compileCerts(t *testing.T, src string, ca1, ca2 string, prev *Snapshot) *Snapshot {
	t.Helper()
	indent := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }
	src = strings.NewReplacer("${CA1}", indent(ca1), "${CA2}", indent(ca2)).Replace(src)
	m, err := config.Parse([]byte(src), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	reg, err := plugin.NewRegistry([]plugin.Registration{certAuthRegistration(), tagRegistration("tag", 100, false)})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const certsHeader = `
_format_version: "3.0"
ca_certificates:
- id: 0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f
  cert: |
    ${CA1}
- id: 1b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f
  cert: |
    ${CA2}
`

func parseCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(p))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCertPolicy(t *testing.T) {
	ca1, ca2 := testCAPEM(t), testCAPEM(t)
	routes := `
services:
- name: s
  url: http://s
  routes:
  - {name: a, protocols: [https], snis: [a.example.com], paths: [/a]}
  - {name: b, protocols: [https], snis: [b.example.com], paths: [/b]}
  - {name: w, protocols: [https], snis: ["*.w.example.com", "p.example.*"], paths: [/w]}
- name: t
  url: http://t
  routes:
  - {name: open, paths: [/open]}
`
	tests := []struct {
		name    string
		plugins string
		// ask maps server names to whether a certificate is asked for and
		// the CAs the request names (1: CA1, 2: CA2).
		ask map[string]asked
		nil bool
	}{
		{name: "no client-certificate plugin", plugins: "\n- {name: tag, route: a}\n", nil: true},
		{name: "route-scoped, with CA names", plugins: `
- {name: cert-auth, route: a, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f], send_ca_dn: true}}
- {name: cert-auth, route: w, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f, 1b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}}
`, ask: map[string]asked{
			"a.example.com": {true, []int{1}}, "A.Example.COM.": {true, []int{1}}, "b.example.com": {}, "": {},
			"x.w.example.com": {ask: true}, "w.example.com": {}, "p.example.org": {ask: true}, "example.com": {},
		}},
		{name: "service-scoped on a service with a route without snis", plugins: `
- {name: cert-auth, service: t, config: {ca_certificates: [1b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f], send_ca_dn: true}}
- {name: cert-auth, route: a, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f], send_ca_dn: true}}
`, ask: map[string]asked{"a.example.com": {true, []int{1, 2}}, "b.example.com": {true, []int{2}}, "": {true, []int{2}}, "anything": {true, []int{2}}}},
		{name: "global", plugins: `
- {name: cert-auth, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}}
`, ask: map[string]asked{"a.example.com": {ask: true}, "b.example.com": {ask: true}, "": {ask: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := compileCerts(t, certsHeader+routes+"plugins:"+tt.plugins, ca1, ca2, nil)
			if tt.nil != (s.ClientCerts == nil) {
				t.Fatalf("ClientCerts = %v, want nil %v", s.ClientCerts, tt.nil)
			}
			for name, want := range tt.ask {
				ask, pool := s.ClientCerts.Request(name)
				var cas []*x509.Certificate
				for _, n := range want.cas {
					cas = append(cas, parseCert(t, []string{ca1, ca2}[n-1]))
				}
				wantPool := certPool(cas)
				if ask != want.ask || (pool == nil) != (wantPool == nil) || (pool != nil && !pool.Equal(wantPool)) {
					t.Errorf("Request(%q) = %v, %v; want %v, CAs %v", name, ask, pool, want.ask, want.cas)
				}
			}
		})
	}
}

// asked is what Request should answer for a server name.
type asked struct {
	ask bool
	cas []int
}

// A reload that changes a CA certificate under the same id rebuilds the
// instances that trust it, and only those.
func TestCACertificateChangeRebuildsInstances(t *testing.T) {
	ca1, ca2, ca3 := testCAPEM(t), testCAPEM(t), testCAPEM(t)
	src := certsHeader + `
services:
- name: s
  url: http://s
  routes: [{name: r, paths: [/]}]
plugins:
- {name: cert-auth, route: r, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}}
- {name: cert-auth, config: {ca_certificates: [1b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}}
- {name: tag, config: {tag: same}}
`
	first := compileCerts(t, src, ca1, ca2, nil)
	instances := func(s *Snapshot) (onCA1, onCA2 *certAuth, tag plugin.Instance) {
		for _, inst := range s.Instances {
			switch in := inst.(type) {
			case *certAuth:
				if in.ids[0] == "0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f" {
					onCA1 = in
				} else {
					onCA2 = in
				}
			case *tagInstance:
				tag = in
			}
		}
		return onCA1, onCA2, tag
	}
	a1, a2, tag := instances(first)
	block, _ := pem.Decode([]byte(ca1))
	if a1 == nil || a2 == nil || string(a1.cas[0].Raw) != string(block.Bytes) {
		t.Fatal("the instances did not get their CA certificates")
	}
	same := compileCerts(t, src, ca1, ca2, first)
	if b1, b2, btag := instances(same); b1 != a1 || b2 != a2 || btag != tag {
		t.Error("an unchanged reload rebuilt instances")
	}
	changed := compileCerts(t, src, ca3, ca2, same)
	c1, c2, ctag := instances(changed)
	if c1 == a1 || string(c1.cas[0].Raw) == string(a1.cas[0].Raw) {
		t.Error("the instance trusting the replaced CA was reused")
	}
	if c2 != a2 || ctag != tag {
		t.Error("instances not trusting the replaced CA were rebuilt")
	}
}
