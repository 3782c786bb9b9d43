package importer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// TestAddCACertificates checks a bundle becomes one entity per
// certificate with ids that do not change from run to run, that a
// certificate seen again is not added twice, that what Kong refuses (a
// leaf, an expired CA, no PEM) is an error, and that a service and an
// mtls-auth plugin naming the ids validate.
func TestAddCACertificates(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	root := importertest.NewCert(t, "root", true, year, nil)
	inter := importertest.NewCert(t, "intermediate", true, year, root)
	var cfg importer.Config
	ids, err := cfg.AddCACertificates(inter.Cert+"\n"+root.Cert, []string{"k8s-name:ca"})
	if err != nil || len(ids) != 2 || len(cfg.CACertificates) != 2 {
		t.Fatalf("ids %v, err %v, entities %d", ids, err, len(cfg.CACertificates))
	}
	again, err := cfg.AddCACertificates(root.Cert, nil)
	if err != nil || len(again) != 1 || again[0] != ids[1] || len(cfg.CACertificates) != 2 {
		t.Fatalf("the root again: ids %v (want [%s]), err %v, entities %d", again, ids[1], err, len(cfg.CACertificates))
	}
	var other importer.Config
	if ids2, _ := other.AddCACertificates(inter.Cert+root.Cert, nil); strings.Join(ids2, ",") != strings.Join(ids, ",") {
		t.Errorf("ids differ between runs: %v and %v", ids, ids2)
	}
	for name, bundle := range map[string]string{
		"leaf":    importertest.NewCert(t, "leaf.example.com", false, year, root).Cert,
		"expired": importertest.NewCert(t, "old", true, time.Now().Add(-time.Hour), nil).Cert,
		"no PEM":  "not a certificate",
		"a key":   root.Key,
	} {
		if ids, err := cfg.AddCACertificates(bundle, nil); err == nil || ids != nil {
			t.Errorf("%s: ids %v, err %v: want an error", name, ids, err)
		}
	}
	if len(cfg.CACertificates) != 2 {
		t.Errorf("refused bundles added entities: %d", len(cfg.CACertificates))
	}
	leaf := importertest.NewCert(t, "client", false, year, root)
	cert := &importer.Certificate{Cert: leaf.Cert, Key: leaf.Key}
	cfg.Certificates = append(cfg.Certificates, cert)
	cfg.Services = append(cfg.Services, &importer.Service{Name: "s", Protocol: "https", Host: "up.example.com", Port: 443,
		Fields: importer.Fields{"tls_verify": true, "ca_certificates": []any{ids[1]}, "client_certificate": map[string]any{"id": importer.CertificateID(cert)}},
		Routes: []*importer.Route{{Name: "r", Paths: []string{"/"}, Plugins: []*importer.Plugin{
			{Name: "mtls-auth", Config: map[string]any{"ca_certificates": []any{ids[0], ids[1]}, "skip_consumer_lookup": true}},
		}}}})
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
	// YAML quotes an id only when it could read as another type (a UUID
	// of digits and an e reads as a number): either form.
	first := min(ids[0], ids[1])
	if s := string(out); !strings.Contains(s, "ca_certificates:\n  - id: \""+first) && !strings.Contains(s, "ca_certificates:\n  - id: "+first) {
		t.Errorf("no ca_certificates section sorted by id:\n%s", out)
	}
}
