package server

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// Policy is the TLS protocol versions and TLS 1.0–1.2 cipher suites the
// TLS listeners accept (Kong's ssl_cipher_suite, ssl_protocols and
// ssl_ciphers). TLS 1.3's suites are not configurable in Go, nor need to
// be: all three are sound, which is why Kong's modern preset lists none.
type Policy struct {
	MinVersion, MaxVersion uint16
	// CipherSuites are the TLS 1.0–1.2 suites; nil: Go's default list.
	CipherSuites []uint16
}

// Cipher names are OpenSSL's, as Kong's presets and ssl_ciphers spell
// them. The ones Go does not implement (every DHE suite, the CBC suites
// with SHA-384 or with SHA-256 and AES-256) are left out of the presets
// and refused in ssl_ciphers by name.
var opensslCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
}

// Kong's presets (Mozilla's Server Side TLS 5.7), as Go can serve them.
const (
	intermediateCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
	oldCiphers = intermediateCiphers + ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:" +
		"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:" +
		"AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA"
	fipsCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-GCM-SHA384"
)

var presets = map[string]struct{ protocols, ciphers string }{
	"modern":       {"TLSv1.3", ""},
	"intermediate": {"TLSv1.2 TLSv1.3", intermediateCiphers},
	"old":          {"TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", oldCiphers},
	"fips":         {"TLSv1.2", fipsCiphers},
}

var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// ParsePolicy is Kong's rule: a preset (modern, intermediate, old, fips)
// sets both the protocols and the ciphers, and ssl_protocols and
// ssl_ciphers are read only when the suite is custom. Empty protocols
// mean Kong's default, "TLSv1.2 TLSv1.3"; empty ciphers Go's default list.
func ParsePolicy(suite, protocols, ciphers string) (Policy, error) {
	if suite != "custom" {
		pre, ok := presets[suite]
		if !ok {
			return Policy{}, fmt.Errorf("--ssl-cipher-suite: Undefined cipher suite %s (known: modern, intermediate, old, fips, custom)", suite)
		}
		protocols, ciphers = pre.protocols, pre.ciphers
	} else if strings.TrimSpace(protocols) == "" {
		protocols = "TLSv1.2 TLSv1.3"
	}
	var p Policy
	var seen []uint16
	for _, name := range strings.Fields(protocols) {
		v, ok := protocolVersions[name]
		if !ok {
			return Policy{}, fmt.Errorf("--ssl-protocols: unsupported protocol %q (known: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3; SSLv2 and SSLv3 are not served)", name)
		}
		seen = append(seen, v)
		if p.MinVersion == 0 || v < p.MinVersion {
			p.MinVersion = v
		}
		p.MaxVersion = max(p.MaxVersion, v)
	}
	// Go serves a range of versions, not a set: "TLSv1 TLSv1.3" would
	// quietly serve 1.1 and 1.2 too.
	for v := p.MinVersion; v <= p.MaxVersion; v++ {
		found := false
		for _, s := range seen {
			found = found || s == v
		}
		if !found {
			return Policy{}, fmt.Errorf("--ssl-protocols: %q leaves a gap; list every version between the lowest and the highest", protocols)
		}
	}
	for name := range strings.SplitSeq(ciphers, ":") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		id, ok := opensslCiphers[name]
		if !ok {
			return Policy{}, fmt.Errorf("--ssl-ciphers: cipher %q is not one Go serves (OpenSSL names of ECDHE and RSA key exchange with AES-GCM, CHACHA20-POLY1305, AES-CBC or 3DES; no DHE, no keywords such as HIGH or !aNULL)", name)
		}
		p.CipherSuites = append(p.CipherSuites, id)
	}
	return p, nil
}

// apply sets the policy on a listener's TLS config. The zero policy (a
// server given none) keeps TLS 1.2 and later, Go's default suites.
func (p Policy) apply(conf *tls.Config) {
	conf.MinVersion, conf.MaxVersion, conf.CipherSuites = p.MinVersion, p.MaxVersion, p.CipherSuites
	if conf.MinVersion == 0 {
		conf.MinVersion = tls.VersionTLS12
	}
}
