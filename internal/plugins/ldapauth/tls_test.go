package ldapauth

import (
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// ldaps and StartTLS, with and without checking the server's certificate
// (Kong's verify_ldap_host; its trusted certificates are the system's,
// here the test CA put in their place).
func TestTLS(t *testing.T) {
	files := gwtest.WriteTLSFiles(t)
	s := gwtest.StartSlapd(t, gwtest.SlapdOptions{Users: users, CertFile: files.CertFile, KeyFile: files.KeyFile})
	pem, err := os.ReadFile(files.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(pem)
	tests := []struct {
		name                    string
		ldaps, startTLS, verify bool
		trustCA                 bool
		status                  int // 0: authenticated
	}{
		{name: "ldaps", ldaps: true},
		{name: "start_tls", startTLS: true},
		{name: "ldaps verified", ldaps: true, verify: true, trustCA: true},
		{name: "start_tls verified", startTLS: true, verify: true, trustCA: true},
		{name: "ldaps, unknown CA", ldaps: true, verify: true, status: 500},
		{name: "start_tls, unknown CA", startTLS: true, verify: true, status: 500},
		{name: "plain ldap on the ldaps port", status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstance(t, s, func(c *Config) {
				c.LDAPS, c.StartTLS, c.VerifyLDAPHost, c.Timeout = tt.ldaps, tt.startTLS, tt.verify, 2000
				if tt.ldaps || !tt.startTLS {
					c.LDAPPort = s.LDAPSPort
				}
			})
			if tt.trustCA {
				in.pool.tls.RootCAs = ca
			}
			e := access(t, in, request("Authorization", ldapHeader("einstein:password")))
			switch {
			case tt.status == 0 && e != nil:
				t.Fatalf("got %d %q, want authenticated", e.Status, e.Message)
			case tt.status != 0 && (e == nil || e.Status != tt.status):
				t.Fatalf("got %+v, want %d", e, tt.status)
			}
		})
	}
}

// A server that answers a bind with an endless message is cut off once
// the read budget is spent, well before the timeout, holding at most
// maxRead bytes.
func TestHostileServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				c.Read(buf)
				// A SEQUENCE announcing 2 GiB, then an OCTET STRING as long.
				c.Write([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x04, 0x84, 0x7f, 0xff, 0xff, 0x00})
				junk := make([]byte, 32<<10)
				for {
					c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write(junk); err != nil {
						return
					}
				}
			}()
		}
	}()
	host, base, attr := "127.0.0.1", gwtest.SlapdBaseDN, "uid"
	cfg := &Config{}
	cfg.SetDefaults()
	cfg.LDAPHost, cfg.LDAPPort, cfg.BaseDN, cfg.Attribute = &host, l.Addr().(*net.TCPAddr).Port, &base, &attr
	cfg.Timeout = 10000
	pi, err := New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := pi.(*instance)
	defer in.Close()
	start := time.Now()
	e := access(t, in, request("Authorization", ldapHeader("einstein:password")))
	if e == nil || e.Status != 500 {
		t.Fatalf("got %+v, want 500", e)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %v: the answer was read until the timeout", d)
	}
}
