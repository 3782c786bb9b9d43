package plugin

import (
	"strings"
	"testing"
)

func TestSecretHeadersAndQuery(t *testing.T) {
	var c Ctx
	for _, h := range []string{"Authorization", "proxy-authorization", "COOKIE", "Set-Cookie"} {
		if !c.SecretHeader(h) {
			t.Errorf("%s not secret", h)
		}
	}
	if c.SecretHeader("apikey") || c.SecretQuery("apikey") || c.SecretQuery("") {
		t.Error("no configuration, yet secret")
	}
	c.Secrets = NewSecrets([]string{"ApiKey", "authorization"}, []string{"apikey", "jwt"})
	c.Secrets.Add([]string{"apikey"}, []string{"jwt"})
	if len(c.Secrets.headers) != 1 || len(c.Secrets.query) != 2 {
		t.Errorf("names kept twice: %+v", c.Secrets)
	}
	if !c.SecretHeader("APIKEY") || !c.SecretQuery("apikey") || !c.SecretQuery("jwt") ||
		c.SecretQuery("APIKEY") || c.SecretHeader("x-other") || c.SecretQuery("other") {
		t.Error("configured names")
	}
	// Names of 64 bytes or more are past the lengths mask: compared.
	long := strings.Repeat("x-long-key-", 7)
	c.Secrets.Add([]string{long}, nil)
	if !c.SecretHeader(strings.ToUpper(long)) || c.SecretHeader(strings.Repeat("y-long-key-", 7)) || c.SecretHeader(long+"x") {
		t.Error("long names")
	}
}

// Names match as strings.EqualFold matches them, letters outside ASCII
// that fold into ASCII ones (ſ is s, K is k) included.
func TestSecretHeaderFoldsUnicode(t *testing.T) {
	c := &Ctx{}
	if !c.SecretHeader("ſet-Cookie") || c.SecretHeader("x-set-cookie") {
		t.Error("always-secret headers")
	}
	c.Secrets = NewSecrets([]string{"X-ſecret", "api\u212Aey"}, nil)
	if !c.SecretHeader("x-secret") || !c.SecretHeader("APIKEY") || !c.SecretHeader("x-ſecret") || c.SecretHeader("x-secrets") {
		t.Error("configured headers")
	}
}
