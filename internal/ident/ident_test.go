package ident

import "testing"

// V5 agrees with the UUID library Kong derives its ids with
// (thibaultcha/lua-resty-jit-uuid, the factory_v5 examples of its docs),
// and Parse reads either case.
func TestV5AndParse(t *testing.T) {
	ns := MustParse("e6ebd542-06ae-11e6-8e82-bba81706b27d")
	for name, want := range map[string]string{
		"hello":  "4850816f-1658-5890-8bfd-1ed14251f1f0",
		"foobar": "c9be99fc-326b-5066-bdba-dcd31a6d01ab",
	} {
		if got := V5(ns, name).String(); got != want {
			t.Errorf("V5(%q) = %s, want %s", name, got, want)
		}
	}
	if u, ok := Parse("E6EBD542-06AE-11E6-8E82-BBA81706B27D"); !ok || u != ns {
		t.Errorf("Parse upper case = %s, %v", u, ok)
	}
	for _, bad := range []string{"", "e6ebd542-06ae-11e6-8e82-bba81706b27", "e6ebd542x06ae-11e6-8e82-bba81706b27d", "g6ebd542-06ae-11e6-8e82-bba81706b27d"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
