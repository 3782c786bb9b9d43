package snapshot

import (
	"testing"

	"github.com/turnpikegw/turnpike/internal/router"
)

// The routes of a disabled service are left out of the router (Kong): a
// request they would match goes to the next route.
func TestDisabledServiceRoutesNeverMatch(t *testing.T) {
	s, err := compile(t, `
_format_version: "3.0"
services:
- name: off
  url: http://127.0.0.1:1
  enabled: false
  routes:
  - name: off-route
    paths: [/]
    hosts: [a.example.com]
- name: on
  url: http://127.0.0.1:2
  routes:
  - name: on-route
    paths: [/]
`)
	if err != nil {
		t.Fatal(err)
	}
	var m router.Match
	if !s.Router.Match(&router.Request{Method: "GET", Host: "a.example.com", Path: "/x"}, &m) {
		t.Fatal("no match")
	}
	if got := s.Routes[m.Route].Info.Name; got != "on-route" {
		t.Errorf("matched %s, want on-route", got)
	}

}

// A route of a disabled service asks for no client certificate.
func TestDisabledServiceAsksNoClientCertificate(t *testing.T) {
	ca1, ca2 := testCAPEM(t), testCAPEM(t)
	s := compileCerts(t, certsHeader+`
services:
- name: s
  url: http://s
  enabled: false
  routes:
  - {name: a, protocols: [https], snis: [a.example.com], paths: [/a]}
plugins:
- {name: cert-auth, route: a, config: {ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}}
`, ca1, ca2, nil)
	if s.ClientCerts != nil {
		ask, _ := s.ClientCerts.Request("a.example.com")
		t.Errorf("client certificates asked for a disabled service's route: %v", ask)
	}
}
