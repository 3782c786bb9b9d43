package importer

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/uuid"
)

// CACertificate is a trusted CA (Kong's `ca_certificates`): one PEM
// certificate. Services (upstream TLS) and mtls-auth name it by ID, which
// Kong's format wants a UUID: the importers derive it from the
// certificate, so the same input always gives the same id.
type CACertificate struct {
	ID   string
	Cert string
	Tags []string
}

// idSpace is the UUID namespace of the ids the importers derive (a random
// constant: only its stability matters). internal/ident cannot be used:
// the importers' core imports nothing of the gateway's.
var idSpace = uuid.UUID{0x6b, 0x3f, 0x1c, 0x52, 0x0e, 0x94, 0x4a, 0x21, 0x9d, 0x57, 0x80, 0x1e, 0xc3, 0x2a, 0x66, 0x0b}

// stableID is a version 5 UUID of name: the same name always gives the
// same id.
func stableID(name string) string { return uuid.NewSHA1(idSpace, []byte(name)).String() }

// AddCACertificates adds every certificate of a PEM bundle (a Secret's
// ca.crt often holds a chain) as its own ca_certificates entity, as Kong
// takes one per entity, and returns their ids in the bundle's order. A
// certificate already added (the same DER) is reused with its id. Kong
// refuses a certificate that is not a CA or has expired, and so does the
// gateway: such a bundle adds nothing and the error says why, for the
// importer to warn.
func (c *Config) AddCACertificates(bundle string, tags []string) ([]string, error) {
	var certs []*x509.Certificate
	now := time.Now()
	for rest := []byte(bundle); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s PEM block where certificates were expected", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		switch {
		case !cert.BasicConstraintsValid || !cert.IsCA:
			return nil, fmt.Errorf("certificate %d (%s) is not a CA (no CA basic constraint)", len(certs)+1, cert.Subject)
		case now.After(cert.NotAfter):
			return nil, fmt.Errorf("certificate %d (%s) expired on %s", len(certs)+1, cert.Subject, cert.NotAfter.Format(time.DateOnly))
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	ids := make([]string, 0, len(certs))
	for _, cert := range certs {
		id := stableID("ca_certificate:" + string(cert.Raw))
		ids = append(ids, id)
		if c.caCertificate(id) != nil {
			continue
		}
		text := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		c.CACertificates = append(c.CACertificates, &CACertificate{ID: id, Cert: string(text), Tags: tags})
	}
	return ids, nil
}

func (c *Config) caCertificate(id string) *CACertificate {
	for _, ca := range c.CACertificates {
		if ca.ID == id {
			return ca
		}
	}
	return nil
}

// CertificateID gives cert a stable id, derived from its certificate and
// key, so that a service's client_certificate can name it, and returns it.
func CertificateID(cert *Certificate) string {
	if cert.ID == "" {
		cert.ID = stableID("certificate:" + cert.Cert + "\x00" + cert.Key)
	}
	return cert.ID
}

func (c *CACertificate) ordered() yaml.MapSlice {
	e := entity{}
	e.set("id", c.ID)
	e.set("cert", c.Cert)
	e.set("tags", c.Tags)
	return e.ordered("id")
}
