package config

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"time"
)

// buildCACertificates validates the `ca_certificates` entities as Kong's
// schema does (kong/db/schema/entities/ca_certificates.lua): one PEM
// certificate each, marked as a CA by its basic constraints, not expired.
// Kong computes cert_digest (the hex SHA-256 of the DER) itself; a digest
// given in the file must be that value, and no two entities may hold the
// same certificate. Entities are indexed by id for the services and
// plugins that name them.
func (b *builder) buildCACertificates() {
	digests, ids := index[*CACertEntry]{}, idSet{}
	now := time.Now()
	for i := range b.cfg.CACertificates {
		if b.cp.stop() {
			return
		}
		c := &b.cfg.CACertificates[i]
		path := at("ca_certificates", i)
		b.checkID(c.ID, path)
		e := &CACertEntry{Path: path, CACert: c}
		cert, msg := parseCACert(c.Cert, now)
		if msg != "" {
			b.err(JoinPath(path, "cert"), msg)
		} else {
			sum := sha256.Sum256(cert.Raw)
			e.X509, e.Digest = cert, hex.EncodeToString(sum[:])
			if c.CertDigest != "" && !strings.EqualFold(c.CertDigest, e.Digest) {
				b.errf(JoinPath(path, "cert_digest"), "does not match the certificate (its SHA-256 is %s)", e.Digest)
			}
			register(b, &digests, "cert_digest", e.Digest, path, e)
		}
		b.m.CACerts = append(b.m.CACerts, e)
		b.claimID(ids, c.ID, c.ID, path)
		b.caCerts.add(c.ID, e)
	}
}

// parseCACert parses the one PEM certificate of a ca_certificates entity
// and checks it is a CA that has not expired at now; the message says what
// is wrong otherwise.
func parseCACert(data string, now time.Time) (*x509.Certificate, string) {
	if data == "" {
		return nil, "required field missing"
	}
	var cert *x509.Certificate
	for rest := []byte(data); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, "invalid certificate: unexpected PEM block " + block.Type
		}
		if cert != nil {
			return nil, "please submit only one certificate at a time"
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, "invalid certificate: " + err.Error()
		}
		cert = c
	}
	switch {
	case cert == nil:
		return nil, "invalid certificate: no PEM data found"
	case now.After(cert.NotAfter):
		return nil, `certificate expired, "Not After" time is in the past`
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, `certificate does not appear to be a CA because it is missing the "CA" basic constraint`
	}
	return cert, ""
}
