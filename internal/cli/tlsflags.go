package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/server"
)

// tlsOptions are the listener TLS flags, Kong's ssl_cipher_suite,
// ssl_protocols, ssl_ciphers, admin_ssl_cert and admin_ssl_cert_key.
type tlsOptions struct {
	cipherSuite string
	protocols   string
	ciphers     string
	adminCert   string
	adminKey    string
}

func (t *tlsOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&t.cipherSuite, "ssl-cipher-suite", "intermediate", "TLS versions and ciphers of every TLS listener, Kong's presets: modern (TLS 1.3 only), intermediate (TLS 1.2 and 1.3, AEAD ciphers with forward secrecy), old (TLS 1.0 to 1.3, CBC and 3DES ciphers too), fips (TLS 1.2, AES-GCM), or custom (--ssl-protocols and --ssl-ciphers)")
	fs.StringVar(&t.protocols, "ssl-protocols", "TLSv1.2 TLSv1.3", "TLS versions served with --ssl-cipher-suite custom, space-separated (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3); ignored otherwise, as in Kong")
	fs.StringVar(&t.ciphers, "ssl-ciphers", "", "TLS 1.0-1.2 ciphers served with --ssl-cipher-suite custom, OpenSSL names separated by colons (ECDHE-RSA-AES128-GCM-SHA256:...; empty: Go's defaults); ignored otherwise. TLS 1.3 ciphers are not configurable")
	fs.StringVar(&t.adminCert, "admin-ssl-cert", "", "certificate of the admin API's ssl listeners: a PEM file or PEM text, comma-separated for one per key type (default: a self-signed certificate made at start, its fingerprint logged)")
	fs.StringVar(&t.adminKey, "admin-ssl-cert-key", "", "private keys of --admin-ssl-cert, in the same order")
}

// prepare checks the flags: the listeners' TLS policy and the admin
// listeners' certificate.
func (t *tlsOptions) prepare(admin []server.Listen, logger *slog.Logger) (server.Policy, func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	policy, err := server.ParsePolicy(t.cipherSuite, t.protocols, t.ciphers)
	if err != nil {
		return policy, nil, err
	}
	cert, err := t.adminCertificate(admin, logger)
	return policy, cert, err
}

// adminCertificate picks the admin listeners' certificate: Kong's
// admin_ssl_cert pairs, or, when none is given and a listener is ssl, a
// self-signed one made now (Kong makes one too), whose fingerprints are
// logged so that a client can pin it. Nil when no admin listener is ssl.
func (t *tlsOptions) adminCertificate(listens []server.Listen, logger *slog.Logger) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	ssl := false
	for _, l := range listens {
		ssl = ssl || l.TLS
	}
	if (t.adminCert == "") != (t.adminKey == "") {
		return nil, errors.New("--admin-ssl-cert and --admin-ssl-cert-key go together")
	}
	if !ssl {
		return nil, nil
	}
	var pairs []*tls.Certificate
	if t.adminCert != "" {
		certs, keys := splitList(t.adminCert), splitList(t.adminKey)
		if len(certs) != len(keys) {
			return nil, fmt.Errorf("--admin-ssl-cert names %d certificates and --admin-ssl-cert-key %d keys", len(certs), len(keys))
		}
		for i := range certs {
			pair, err := loadPair(certs[i], keys[i])
			if err != nil {
				name := certs[i]
				if isPEM(name) {
					name = "#" + strconv.Itoa(i+1)
				}
				return nil, fmt.Errorf("--admin-ssl-cert %s: %v", name, err)
			}
			pairs = append(pairs, pair)
		}
	} else {
		pair, err := selfSigned(listens)
		if err != nil {
			return nil, fmt.Errorf("admin TLS: %v", err)
		}
		spki := sha256.Sum256(pair.Leaf.RawSubjectPublicKeyInfo)
		logger.Warn("admin API over TLS with a self-signed certificate made at start; give --admin-ssl-cert to serve your own",
			"sha256_fingerprint", fingerprint(pair.Leaf.Raw),
			"pinnedpubkey", "sha256//"+base64.StdEncoding.EncodeToString(spki[:]),
			"not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
		pairs = append(pairs, pair)
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		for _, p := range pairs {
			if hello.SupportsCertificate(p) == nil {
				return p, nil
			}
		}
		return pairs[0], nil
	}, nil
}

// loadPair reads a certificate and its key, each a file or PEM text.
func loadPair(cert, key string) (*tls.Certificate, error) {
	read := func(v string) ([]byte, error) {
		if isPEM(v) {
			return []byte(v), nil
		}
		return os.ReadFile(v)
	}
	c, err := read(cert)
	if err != nil {
		return nil, err
	}
	k, err := read(key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

func isPEM(v string) bool { return strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") }

// selfSigned makes an ECDSA P-256 certificate for localhost, the loopback
// addresses and the listeners' hosts, valid for a year.
func selfSigned(listens []server.Listen) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Turnpike admin API (self-signed)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, l := range listens {
		host, _, _ := net.SplitHostPort(l.Addr)
		ip := net.ParseIP(host)
		switch {
		case ip != nil && !ip.IsUnspecified() && !ip.IsLoopback():
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case ip == nil && host != "" && host != "localhost":
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// fingerprint is the SHA-256 of a certificate as `openssl x509
// -fingerprint -sha256` prints it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
