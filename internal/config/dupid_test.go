package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDupIDSNINamesIgnoreCase: certificates are selected by the lower-case
// server name, so two SNIs that differ only in case (wildcards too) would
// let the later certificate take over the earlier one's name.
func TestDupIDSNINamesIgnoreCase(t *testing.T) {
	a, aKey := testPEM(t, false)
	b, bKey := testPEM(t, false)
	q := strconv.Quote
	src := `_format_version: "3.0"
certificates:
- cert: ` + q(a) + `
  key: ` + q(aKey) + `
  snis: [shop.example.com, "*.example.com"]
- id: 11111111-1111-4111-8111-111111111111
  cert: ` + q(b) + `
  key: ` + q(bKey) + `
  snis: [SHOP.example.com]
snis:
- name: "*.Example.COM"
  certificate: {id: 11111111-1111-4111-8111-111111111111}
- name: other.example.com
  certificate: {id: 11111111-1111-4111-8111-111111111111}
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{
		{Path: "certificates[1].snis[0].name", Message: "duplicate name 'shop.example.com' (first defined at certificates[0].snis[0])"},
		{Path: "snis[0].name", Message: "duplicate name '*.example.com' (first defined at certificates[0].snis[1])"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
}
