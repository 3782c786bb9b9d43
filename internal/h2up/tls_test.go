package h2up

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// selfSigned is a client certificate.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSWithClientCertificate: over TLS the client agrees on h2 by ALPN,
// verifies the server as configured and shows its certificate.
func TestTLSWithClientCertificate(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.TLS == nil || len(r.TLS.PeerCertificates) != 1 {
			http.Error(w, "HTTP/2 over TLS with a client certificate only", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		io.WriteString(w, "cn="+r.TLS.PeerCertificates[0].Subject.CommonName+" sni="+r.TLS.ServerName)
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
	}))
	up.EnableHTTP2 = true
	up.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	up.StartTLS()
	defer up.Close()
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	c := New(Config{ConnectTimeout: 2 * time.Second,
		TLS: &tls.Config{RootCAs: roots, ServerName: "example.com", Certificates: []tls.Certificate{selfSigned(t)}}})
	defer c.CloseIdle()
	r := rawCall(up.Listener.Addr().String())
	r.Scheme = "https"
	resp, err := c.RoundTrip(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || string(body) != "cn=gateway sni=example.com" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("status %d body %q trailer %v", resp.StatusCode, body, resp.Trailer)
	}
	untrusted := New(Config{ConnectTimeout: 2 * time.Second, TLS: &tls.Config{ServerName: "example.com"}})
	if _, err := untrusted.RoundTrip(context.Background(), r); err == nil {
		t.Fatal("an untrusted server was accepted")
	}
}
