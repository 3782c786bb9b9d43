package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// anyCache is a client session cache that offers its last session to
// every server name, to try resuming across names.
type anyCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *anyCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *anyCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs = cs
}

func clientCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// A TLS listener asks for a client certificate only on the server names
// ClientCert picks, names the CAs it gives, verifies nothing, and never
// resumes a session across the two kinds of handshake.
func TestClientCertificateRequest(t *testing.T) {
	cert := testCert(t)
	client, cas := clientCert(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s peers=%d", r.Proto, len(r.TLS.PeerCertificates))
	})
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", TLS: true}}, func(string, string) http.Handler { return h }, DefaultLimits,
		TLS{
			Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil },
			ClientCert: func(name string) (bool, *x509.CertPool) {
				switch name {
				case "mtls.example.com":
					return true, nil
				case "named.example.com":
					return true, cas
				}
				return false, nil
			},
		}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	addr := s.Addrs()[0].String()

	type result struct {
		asked   bool
		named   int
		resumed bool
		answer  string
	}
	get := func(t *testing.T, sni, proto string, send bool, cache tls.ClientSessionCache) result {
		t.Helper()
		var res result
		conf := &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{proto}, ClientSessionCache: cache,
			GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				res.asked, res.named = true, len(cri.AcceptableCAs)
				if send {
					return &client, nil
				}
				return &tls.Certificate{}, nil
			}}
		if proto == "h2" {
			tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			res.answer, res.resumed = string(b), resp.TLS.DidResume
			return res
		}
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		res.answer, res.resumed = string(b), c.ConnectionState().DidResume
		return res
	}

	tests := []struct {
		name, sni, proto string
		send             bool
		want             result
	}{
		{"not asked", "plain.example.com", "http/1.1", true, result{answer: "HTTP/1.1 peers=0"}},
		{"not asked, h2", "plain.example.com", "h2", true, result{answer: "HTTP/2.0 peers=0"}},
		{"asked, sent", "mtls.example.com", "http/1.1", true, result{asked: true, answer: "HTTP/1.1 peers=1"}},
		{"asked, sent, h2", "mtls.example.com", "h2", true, result{asked: true, answer: "HTTP/2.0 peers=1"}},
		{"asked, none sent", "mtls.example.com", "http/1.1", false, result{asked: true, answer: "HTTP/1.1 peers=0"}},
		{"asked with CA names", "named.example.com", "h2", true, result{asked: true, named: 1, answer: "HTTP/2.0 peers=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, tt.sni, tt.proto, tt.send, nil); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("resumption", func(t *testing.T) {
		cache := &anyCache{}
		get(t, "mtls.example.com", "http/1.1", true, cache)
		if got := get(t, "mtls.example.com", "http/1.1", false, cache); !got.resumed || got.asked || !strings.HasSuffix(got.answer, "peers=1") {
			t.Errorf("same kind of handshake: %+v, want resumed with the first handshake's certificate", got)
		}
		get(t, "plain.example.com", "http/1.1", true, cache)
		if got := get(t, "mtls.example.com", "http/1.1", true, cache); got.resumed || !got.asked || !strings.HasSuffix(got.answer, "peers=1") {
			t.Errorf("after a session without the request: %+v, want a full handshake that asks", got)
		}
		if got := get(t, "plain.example.com", "http/1.1", true, cache); got.resumed || got.asked {
			t.Errorf("after a session with the request: %+v, want a full handshake that does not ask", got)
		}
		// Handshakes that name CAs use per-handshake copies of the config:
		// they share its ticket keys.
		get(t, "named.example.com", "http/1.1", true, cache)
		if got := get(t, "named.example.com", "http/1.1", true, cache); !got.resumed {
			t.Errorf("named CAs: %+v, want resumed", got)
		}
	})
}
