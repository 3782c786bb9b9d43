package snapshot

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"strings"
)

var errNoCertificate = errors.New("no certificate configured")

// CertStore selects a certificate by server name the way Kong does: the
// exact name, then the name with its first label as `*` (`*.example.com`,
// for names of three labels or more), then with its last label as `*`
// (`www.example.*`), then the SNI `*`. A handshake that matches none, or
// sends no name, gets the `*` certificate, or else the file's first one
// (Kong would serve its own default certificate; Turnpike has none).
type CertStore struct {
	byName   map[string]*certPair
	fallback *certPair
}

// certPair is a certificate with its optional alternative (cert_alt and
// key_alt: one RSA and one ECDSA or Ed25519, as Kong requires).
type certPair struct {
	main, alt *tls.Certificate
}

// GetCertificate is a tls.Config.GetCertificate callback.
func (cs *CertStore) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	p := cs.lookup(hello.ServerName)
	if p == nil {
		p = cs.fallback
	}
	if p == nil {
		return nil, errNoCertificate
	}
	return p.pick(hello), nil
}

func (cs *CertStore) lookup(name string) *certPair {
	if name == "" {
		return nil
	}
	name = strings.ToLower(name)
	if p, ok := cs.byName[name]; ok {
		return p
	}
	first := strings.IndexByte(name, '.')
	if first <= 0 {
		return nil
	}
	if strings.IndexByte(name[first+1:], '.') > 0 {
		if p, ok := cs.byName["*"+name[first:]]; ok {
			return p
		}
	}
	last := strings.LastIndexByte(name, '.')
	return cs.byName[name[:last+1]+"*"]
}

// pick serves the alternative certificate when the client cannot use the
// main one, or when it names the alternative's signature kind first among
// those it supports (browsers list ECDSA before RSA): as OpenSSL does for
// NGINX when both are configured.
func (p *certPair) pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	if p.alt == nil {
		return p.main
	}
	// The SNI entity, not the certificate's names, decides which
	// certificate a server name gets (as in Kong): ask only whether the
	// client can use the key.
	kind := *hello
	kind.ServerName = ""
	if kind.SupportsCertificate(p.main) != nil {
		if kind.SupportsCertificate(p.alt) == nil {
			return p.alt
		}
		return p.main
	}
	if kind.SupportsCertificate(p.alt) != nil {
		return p.main
	}
	for _, s := range hello.SignatureSchemes {
		switch {
		case isECScheme(s):
			if isECKey(p.alt) {
				return p.alt
			}
			if isECKey(p.main) {
				return p.main
			}
		case isRSAScheme(s):
			if !isECKey(p.alt) {
				return p.alt
			}
			if !isECKey(p.main) {
				return p.main
			}
		}
	}
	return p.main
}

func isECScheme(s tls.SignatureScheme) bool {
	switch s {
	case tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512, tls.ECDSAWithSHA1, tls.Ed25519:
		return true
	}
	return false
}

func isRSAScheme(s tls.SignatureScheme) bool {
	switch s {
	case tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512,
		tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512, tls.PKCS1WithSHA1:
		return true
	}
	return false
}

// isECKey reports an elliptic-curve key (ECDSA or Ed25519), the kind a
// cert_alt beside an RSA cert has.
func isECKey(c *tls.Certificate) bool {
	switch c.PrivateKey.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}

func (c *compiler) certificates() {
	if len(c.m.Certificates) == 0 {
		return
	}
	cs := &CertStore{byName: map[string]*certPair{}}
	for _, ce := range c.m.Certificates {
		p := &certPair{main: c.keyPair(ce.Path, "cert", ce.Certificate.Cert, ce.Certificate.Key)}
		if p.main == nil {
			continue
		}
		if ce.Certificate.CertAlt != "" {
			if p.alt = c.keyPair(ce.Path, "cert_alt", ce.Certificate.CertAlt, ce.Certificate.KeyAlt); p.alt == nil {
				continue
			}
		}
		if cs.fallback == nil {
			cs.fallback = p
		}
		for _, s := range ce.SNIs {
			name := strings.ToLower(s.Name)
			cs.byName[name] = p
			if name == "*" {
				cs.fallback = p
			}
		}
	}
	c.snap.Certs = cs
}

func (c *compiler) keyPair(path, field, cert, key string) *tls.Certificate {
	pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
	if err != nil {
		c.fail(path+"."+field, "invalid certificate/key pair: %v", err)
		return nil
	}
	return &pair
}
