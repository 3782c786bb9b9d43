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
