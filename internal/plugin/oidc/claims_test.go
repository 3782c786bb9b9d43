package oidc

import (
	"testing"
	"time"
)

func TestClaimsFromIntrospectionShapes(t *testing.T) {
	c, act, err := parseClaims([]byte(`{"active":true,"username":"bob","azp":"app","scp":["a","b"],"aud":"api",
		"exp":1e10,"nbf":1e9,"evil":"x\r\nX-Injected: 1","nested":{"k":[1,2]},"mixed":["a",1]}`))
	if err != nil || act != activeTrue {
		t.Fatal(act, err)
	}
	if c.Subject != "bob" || c.ClientID != "app" || c.Scope != "a b" || !c.HasScope("b") || c.Audience[0] != "api" ||
		c.Expiry.Unix() != 1e10 || c.NotBefore.Unix() != 1e9 {
		t.Fatalf("%+v", c)
	}
	for name, want := range map[string]string{"nested": `{"k":[1,2]}`, "mixed": `["a",1]`, "exp": "1e10", "active": "true"} {
		if got, _ := c.Claim(name); got != want {
			t.Errorf("Claim(%s) = %q, want %q", name, got, want)
		}
	}
	// A value no header can carry is not offered as one.
	bad, act, _ := parseClaims([]byte(`{"sub":"a\nb","client_id":"ok","scope":"r\u0000"}`))
	if act != activeAbsent {
		t.Fatalf("active = %v for an answer without it", act)
	}
	if sub, cid, scope := bad.HeaderValues(); sub != nil || scope != nil || len(cid) != 1 || cid[0] != "ok" {
		t.Fatalf("%q %q %q", sub, cid, scope)
	}
	if _, _, err := parseClaims([]byte(`[1]`)); err == nil {
		t.Fatal("an array was taken for claims")
	}
	if _, act, _ := parseClaims([]byte(`{"active":false}`)); act != activeFalse {
		t.Fatalf("active = %v", act)
	}
}

// The cache weighs an answer by its claims, audiences included.
func TestClaimsSizeCountsAudiences(t *testing.T) {
	one, _, _ := parseClaims([]byte(`{"aud":["a"]}`))
	three, _, _ := parseClaims([]byte(`{"aud":["a","b","c"]}`))
	if d := three.size - one.size; d < 2*24 {
		t.Fatalf("two more audiences weigh %d more bytes", d)
	}
}

// TestUnusableDates: an exp or nbf that is there but no date is not
// taken for an absent one (a token with exp 0 would never expire).
func TestUnusableDates(t *testing.T) {
	now := time.Now()
	for _, payload := range []string{`{"exp":0}`, `{"exp":-5}`, `{"exp":"soon"}`, `{"exp":null}`, `{"nbf":"x"}`, `{"nbf":1e300}`} {
		c, err := ParseClaims([]byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if usable := (c.Expiry.IsZero() || c.Expiry.After(now)) && !c.NotBefore.After(now); usable {
			t.Errorf("%s reads as usable now: exp %v, nbf %v", payload, c.Expiry, c.NotBefore)
		}
	}
	c, _ := ParseClaims([]byte(`{"sub":"a"}`))
	if !c.Expiry.IsZero() || !c.NotBefore.IsZero() {
		t.Errorf("absent dates: exp %v, nbf %v", c.Expiry, c.NotBefore)
	}
}
