package mtlsauth

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"time"
)

// identity is what a verified certificate chain tells about its client,
// computed once per chain and shared by the requests that present it.
// Nothing in it is modified after it is built.
type identity struct {
	// credID is the hex SHA-256 of the leaf (X-Credential-Identifier).
	credID string
	// names are the subject names consumers are matched by: the SANs (DNS
	// names, email addresses, IP addresses, URIs), then the CN.
	names []string
	// dn is the subject DN in RFC 2253 form, as nginx's $ssl_client_s_dn.
	dn string
	// san is names joined with ",", control bytes escaped.
	san string
	// groups is the authenticated group (the CN or the DN); nil when
	// grouping by CN and the certificate has none.
	groups []string
	// details are the inject_client_cert_details headers, in pairs.
	details []string
	// expires is when this verification stops being trusted: the cache
	// ttl, the chain's first expiry, or when the CRL it relied on goes
	// stale.
	expires time.Time
	// gen is the CRL generation it was checked against.
	gen uint64
}

// inject sets the certificate detail headers.
func (id *identity) inject(h http.Header) {
	for i := 0; i+1 < len(id.details); i += 2 {
		h[id.details[i]] = []string{id.details[i+1]}
	}
}

// verified returns the identity of a presented chain (leaf first), from
// the cache or by verifying it: the chain, built from the certificates the
// client sent and the configured intermediate CAs, must lead to a
// configured CA, the leaf must be valid for client authentication, and it
// must not be revoked. On failure it returns nil and the reason (for the
// debug log).
func (in *instance) verified(presented []*x509.Certificate, now time.Time) (*identity, string) {
	key := chainKey(presented)
	var gen uint64
	if in.crl != nil {
		in.crl.refresh(now)
		gen = in.crl.current().gen
	}
	if id := in.cache.get(key, now, gen); id != nil {
		return id, ""
	}
	leaf := presented[0]
	opts := x509.VerifyOptions{
		Roots:         in.roots,
		Intermediates: in.intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(presented) > 1 {
		if in.intermediates != nil {
			opts.Intermediates = in.intermediates.Clone()
		} else {
			opts.Intermediates = x509.NewCertPool()
		}
		for _, c := range presented[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, err.Error()
	}
	chain := in.pickChain(chains)
	if chain == nil {
		return nil, "the chain ends at a CA certificate that is not a root (allow_partial_chain is off)"
	}
	expires := now.Add(in.ttl)
	for _, c := range chain {
		if c.NotAfter.Before(expires) {
			expires = c.NotAfter
		}
	}
	if in.mode != revocationSkip && in.crl != nil {
		set := in.crl.current()
		gen = set.gen
		st, until := set.status(chain, now)
		switch {
		case st == statusRevoked:
			return nil, "certificate revoked"
		case st == statusUnknown && in.mode == revocationStrict:
			return nil, "revocation status unknown: no current CRL from the certificate's issuer"
		case st == statusGood && !until.IsZero() && until.Before(expires):
			expires = until
		}
	}
	id := newIdentity(leaf, in.groupByDN, in.inject)
	id.expires, id.gen = expires, gen
	if in.ttl > 0 {
		in.cache.put(key, id, now)
	}
	return id, ""
}

// pickChain returns a verified chain that ends at a self-signed root, or
// with allow_partial_chain any chain (Go trusts every certificate in the
// pool as an anchor, as OpenSSL does only with X509_V_FLAG_PARTIAL_CHAIN).
func (in *instance) pickChain(chains [][]*x509.Certificate) []*x509.Certificate {
	if in.partial {
		return chains[0]
	}
	for _, ch := range chains {
		if in.selfSigned[sha256.Sum256(ch[len(ch)-1].Raw)] {
			return ch
		}
	}
	return nil
}

// isSelfSigned reports whether c is a root: issued by itself and signed
// by its own key.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// chainKey identifies a presented chain: the leaf's SHA-256 when it comes
// alone, else the SHA-256 of all of it (the intermediates decide whether
// it verifies).
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	if len(certs) == 1 {
		return sha256.Sum256(certs[0].Raw)
	}
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// newIdentity reads the names, DN, groups and detail headers of a verified
// leaf.
func newIdentity(leaf *x509.Certificate, groupByDN, details bool) *identity {
	sum := sha256.Sum256(leaf.Raw)
	id := &identity{credID: hex.EncodeToString(sum[:]), dn: formatDN(leaf.RawSubject)}
	id.names = append(id.names, leaf.DNSNames...)
	id.names = append(id.names, leaf.EmailAddresses...)
	for _, ip := range leaf.IPAddresses {
		id.names = append(id.names, ip.String())
	}
	for _, u := range leaf.URIs {
		id.names = append(id.names, u.String())
	}
	// The first CN, as OpenSSL finds it (Go's Subject.CommonName is the
	// last).
	cn := ""
	for _, a := range leaf.Subject.Names {
		if s, ok := a.Value.(string); ok && a.Type.Equal(oidCommonName) {
			cn = s
			break
		}
	}
	if cn != "" {
		id.names = append(id.names, cn)
	}
	safe := make([]string, len(id.names))
	for i, n := range id.names {
		safe[i] = escapeControls(n)
	}
	id.san = strings.Join(safe, ",")
	switch {
	case groupByDN:
		id.groups = []string{id.dn}
	case cn != "":
		id.groups = []string{cn}
	}
	if details {
		fp := sha1.Sum(leaf.Raw)
		id.details = []string{
			headerCert, escapePEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
			headerSerial, serialHex(leaf),
			headerIssuerDN, formatDN(leaf.RawIssuer),
			headerSubjectDN, id.dn,
			headerFingerprint, hex.EncodeToString(fp[:]),
		}
	}
	return id
}

// serialHex is the serial number as nginx's $ssl_client_serial writes it:
// its bytes in upper-case hex, so with an even number of digits.
func serialHex(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// escapePEM percent-encodes a PEM certificate for a header value, as
// nginx's $ssl_client_escaped_cert: everything but RFC 3986's unreserved
// characters.
func escapePEM(p []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p) + len(p)/8)
	for _, c := range p {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// escapeControls writes control bytes (which a CN may hold, and a header
// may not) as \XX.
func escapeControls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			writeHexEscape(&b, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func writeHexEscape(b *strings.Builder, c byte) {
	const hexDigits = "0123456789ABCDEF"
	b.WriteByte('\\')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
}
