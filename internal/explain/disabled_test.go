package explain

import (
	"reflect"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
)

// A route of a disabled service is not routed: explain names it as the
// reason for a 404 and notes it when another route answers instead.
func TestDisabledServiceRoutes(t *testing.T) {
	snap := compile(t, `
_format_version: "3.0"
services:
- name: off
  url: http://off.internal:8080
  enabled: false
  routes:
  - name: off-route
    paths: [/off]
  - name: shadow
    hosts: [shadow.example.com]
    paths: [/s]
- name: on
  url: http://on.internal:8080
  routes:
  - name: fallback
    hosts: [shadow.example.com]
`)
	r, err := Explain(snap, Request{URL: "http://x/off"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 404 || r.NoMatch == nil || len(r.NoMatch.Closest) == 0 {
		t.Fatalf("report %+v", r)
	}
	c := r.NoMatch.Closest[0]
	if c.Route.Name != "off-route" || !reflect.DeepEqual(c.Failed, []string{"service"}) ||
		!strings.Contains(c.Details[0], "service off is disabled") {
		t.Errorf("closest %+v", c)
	}
	if text := r.Text(); !strings.Contains(text, "service off is disabled") {
		t.Errorf("text:\n%s", text)
	}

	r, err = Explain(snap, Request{URL: "http://shadow.example.com/s"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Matched == nil || r.Matched.Route.Name != "fallback" {
		t.Fatalf("matched %+v", r.Matched)
	}
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "route shadow would match, but service off is disabled") {
		t.Errorf("notes %q", r.Notes)
	}
}

// An unnamed disabled service is named by its id.
func TestDisabledUnnamedServiceLabel(t *testing.T) {
	se := &config.ServiceEntry{Path: "services[0]", Service: &config.Service{}}
	re := &config.RouteEntry{Service: se}
	if got := disabledDetail(re); !strings.HasPrefix(got, "service "+se.ID+" is disabled") {
		t.Errorf("detail %q does not name the service", got)
	}
}
