package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A nested entity may write out its parent's foreign key when it names that
// parent; any other value is refused.
func TestNestedForeignKeyNamingTheParent(t *testing.T) {
	cert, key := testPEM(t, false)
	q := strconv.Quote
	const (
		svcID  = "6f1c8f0e-8d0a-4c2e-9a53-1f5e1d0c2b10"
		certID = "0fe87b4a-ce29-515a-88ec-8547e66550b9"
		other  = "00000000-0000-0000-0000-000000000000"
		consID = "1d4c2a3e-5b6f-4a7c-8d9e-0f1a2b3c4d5e"
	)
	certs := func(ref string) string {
		return "certificates:\n- id: " + certID + "\n  cert: " + q(cert) + "\n  key: " + q(key) +
			"\n  snis:\n  - name: a.example.com\n    certificate: " + ref + "\n"
	}
	tests := []struct {
		name    string
		src     string
		wantErr Errors
	}{
		{name: "sni by {id}", src: certs("{id: " + certID + "}")},
		{name: "sni by a bare id", src: certs(certID)},
		{name: "sni naming another certificate", src: certs("{id: " + other + "}"), wantErr: Errors{
			{Path: "certificates[0].snis[0].certificate", Message: "value must be null: it may only name the certificate it is nested in"}}},
		{name: "route by name", src: "services: [{name: s, host: h, routes: [{paths: [/], service: s}]}]"},
		{name: "route by {id}", src: "services: [{id: " + svcID + ", host: h, routes: [{paths: [/], service: {id: " + svcID + "}}]}]"},
		{name: "route naming another service", src: "services: [{name: s, host: h, routes: [{paths: [/], service: t}]}, {name: t, host: h}]", wantErr: Errors{
			{Path: "services[0].routes[0].service", Message: "value must be null: it may only name the service it is nested in"}}},
		{name: "target by name", src: "upstreams: [{name: up, targets: [{target: 'a:80', upstream: up}]}]"},
		{name: "plugin in a route by name", src: "services: [{name: s, host: h, routes: [{name: r, paths: [/], plugins: [{name: cors, route: r}]}]}]"},
		{name: "plugin in a consumer by username", src: "consumers: [{username: alice, plugins: [{name: cors, consumer: alice}]}]"},
		{name: "credential by username", src: "consumers: [{username: alice, keyauth_credentials: [{key: k, consumer: alice}]}]"},
		{name: "credential by id", src: "consumers: [{id: " + consID + ", username: alice, keyauth_credentials: [{key: k, consumer: {id: " + consID + "}}]}]"},
		{name: "credential by a bare id", src: "consumers: [{id: " + consID + ", username: alice, keyauth_credentials: [{key: k, consumer: " + consID + "}]}]"},
		{name: "an id that is the parent's name is not the parent", src: "consumers: [{username: alice, keyauth_credentials: [{key: k, consumer: {id: alice}}]}]", wantErr: Errors{
			{Path: "consumers[0].keyauth_credentials[0].consumer", Message: "value must be null: it may only name the consumer it is nested in"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte("_format_version: \"3.0\"\n"+tt.src), withKeyAuth)
			for i := range tt.wantErr {
				tt.wantErr[i].Line = 0
			}
			got := asErrors(t, err)
			for i := range got {
				got[i].Line = 0
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			// The child belongs to its parent.
			switch {
			case len(m.Certificates) > 0:
				if got := m.Certificates[0].SNINames(); !cmp.Equal(got, []string{"a.example.com"}) {
					t.Errorf("certificate snis %q", got)
				}
			case len(m.Routes) > 0:
				if m.Routes[0].Service != m.Services[0] {
					t.Errorf("route service %v", m.Routes[0].Service)
				}
			case len(m.Upstreams) > 0:
				if len(m.Upstreams[0].Targets) != 1 {
					t.Errorf("%d targets", len(m.Upstreams[0].Targets))
				}
			}
			for _, p := range m.Plugins {
				if p.Route == nil && p.Consumer == nil {
					t.Errorf("plugin %s lost its parent", p.Path)
				}
			}
		})
	}
}
