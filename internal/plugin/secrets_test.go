package plugin

import "testing"

func TestSecretHeadersAndQuery(t *testing.T) {
	var c Ctx
	for _, h := range []string{"Authorization", "proxy-authorization", "COOKIE", "Set-Cookie"} {
		if !c.SecretHeader(h) {
			t.Errorf("%s not secret", h)
		}
	}
	if c.SecretHeader("apikey") || c.SecretQuery("apikey") || c.SecretQuery("") {
		t.Error("nothing marked, yet secret")
	}
	c.MarkSecretHeader("Apikey")
	c.MarkSecretQuery("apikey")
	if !c.SecretHeader("apikey") || !c.SecretQuery("apikey") || c.SecretQuery("APIKEY") || c.SecretHeader("x-other") {
		t.Error("marked names")
	}
	c.Reset()
	if c.SecretHeader("apikey") {
		t.Error("reset keeps the mark")
	}
}
