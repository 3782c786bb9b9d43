package oidc

import "testing"

func TestClaimsFromIntrospectionShapes(t *testing.T) {
	c, err := parseClaims([]byte(`{"active":true,"username":"bob","azp":"app","scp":["a","b"],"aud":"api",
		"exp":1e10,"evil":"x\r\nX-Injected: 1","nested":{"k":[1,2]},"mixed":["a",1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "bob" || c.ClientID != "app" || c.Scope != "a b" || !c.HasScope("b") || c.Audience[0] != "api" || c.Expiry.IsZero() {
		t.Fatalf("%+v", c)
	}
	for name, want := range map[string]string{"nested": `{"k":[1,2]}`, "mixed": `["a",1]`, "exp": "1e10", "active": "true"} {
		if got, _ := c.Claim(name); got != want {
			t.Errorf("Claim(%s) = %q, want %q", name, got, want)
		}
	}
	// A value no header can carry is not offered as one.
	bad, _ := parseClaims([]byte(`{"sub":"a\nb","client_id":"ok","scope":"r\u0000"}`))
	if sub, cid, scope := bad.HeaderValues(); sub != nil || scope != nil || len(cid) != 1 || cid[0] != "ok" {
		t.Fatalf("%q %q %q", sub, cid, scope)
	}
	if _, err := parseClaims([]byte(`[1]`)); err == nil {
		t.Fatal("an array was taken for claims")
	}
}
