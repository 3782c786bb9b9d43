package snapshot

import (
	"crypto/tls"
	"testing"
)

// TestCertStoreLookup replays the handshake cases of Kong's
// spec/02-integration/05-proxy/06-ssl_spec.lua ("wildcard sni" and "sets the
// default certificate of '*' SNI") and the names produce_wild_snis derives
// in spec/01-unit/24-runloop_certificate_spec.lua.
func TestCertStoreLookup(t *testing.T) {
	alt, altAlt, example, def := &certPair{}, &certPair{}, &certPair{}, &certPair{}
	names := map[*certPair]string{alt: "ssl-alt.com", altAlt: "ssl-alt-alt.com", example: "ssl-example.com", def: "default"}
	cs := &CertStore{byName: map[string]*certPair{
		"example.com":        example,
		"ssl1.com":           example,
		"*.wildcard.com":     alt,
		"wildcard.*":         alt,
		"wildcard.org":       altAlt,
		"test.wildcard.*":    altAlt,
		"*.www.wildcard.com": altAlt,
		"*.test":             alt,
	}, fallback: example}
	tests := []struct {
		source, sni string
		want        *certPair
	}{
		{`"sets the configured SSL certificate if SNI match"`, "ssl1.com", example},
		{`"sets the configured SSL certificate if SNI match"`, "EXAMPLE.com", example},
		{`"matches *.wildcard.com (prefix)"`, "test.wildcard.com", alt},
		{`"matches wildcard.* (suffix)"`, "wildcard.eu", alt},
		{`"respects matching priorities (exact first)"`, "wildcard.org", altAlt},
		{`"respects matching priorities (suffix third)"`, "test.wildcard.org", altAlt},
		{`"matches *.www.wildcard.com"`, "test.www.wildcard.com", altAlt},
		{`"produces suffix wildcard SNI"`, "wildcard.com", alt},
		{`"produces suffix wildcard SNI" (and no prefix one for two labels)`, "domain.test", nil},
		{`"sets the default fallback SSL certificate if no SNI match"`, "test.com", nil},
	}
	for _, tt := range tests {
		if got := cs.lookup(tt.sni); got != tt.want {
			t.Errorf("%s: lookup(%q) = %s, want %s", tt.source, tt.sni, names[got], names[tt.want])
		}
	}
	// Compile makes the '*' SNI's certificate the fallback of names that
	// match nothing.
	cs.byName["*"], cs.fallback = def, def
	pick := func(name string) *certPair {
		if p := cs.lookup(name); p != nil {
			return p
		}
		return cs.fallback
	}
	if got := pick("test.com"); got != def {
		t.Errorf(`"sets the default certificate of '*' SNI": test.com got %s, want the '*' certificate`, names[got])
	}
	if got := pick("ssl1.com"); got != example {
		t.Errorf("the '*' SNI must not shadow an exact one: got %s", names[got])
	}
	if _, err := (&CertStore{byName: map[string]*certPair{}}).GetCertificate(&tls.ClientHelloInfo{ServerName: "x"}); err == nil {
		t.Error("a store with no certificate must fail the handshake, not panic")
	}
}
