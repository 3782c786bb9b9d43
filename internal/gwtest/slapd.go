package gwtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SlapdSuffix is the naming context StartSlapd serves: the one of Kong's
// ldap-auth specs, so their base_dn values work unchanged.
const SlapdSuffix = "dc=ldap,dc=mashape,dc=com"

// SlapdBaseDN is where StartSlapd puts the users it is given.
const SlapdBaseDN = "ou=scientists," + SlapdSuffix

// SlapdOptions configure StartSlapd.
type SlapdOptions struct {
	// Users are uid → userPassword entries (inetOrgPerson) under
	// SlapdBaseDN. Kong's specs use einstein/password.
	Users map[string]string
	// CertFile and KeyFile, when set, make the server offer StartTLS on
	// its ldap:// port and also listen for ldaps:// (LDAPSPort).
	CertFile, KeyFile string
}

// Slapd is an OpenLDAP slapd process on free loopback ports, with an
// mdb database seeded at start. It is killed when the test ends.
type Slapd struct {
	process
	Addr      string // 127.0.0.1:port of ldap://
	Port      int
	LDAPSPort int // 0 without TLS
	conf      string
	tls       bool
	log       *SyncBuffer
}

// StartSlapd writes a slapd.conf and a seed LDIF into a temporary
// directory, loads the LDIF with slapadd and starts slapd in the
// foreground, waiting until its port accepts connections. Without slapd
// (Debian's slapd package) the test is skipped, or fails when CI is set.
func StartSlapd(t testing.TB, opts SlapdOptions) *Slapd {
	t.Helper()
	for _, bin := range []string{"slapd", "slapadd"} {
		if _, err := lookSlapd(bin); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("%s is not installed (Debian's slapd package; with CI set this is a failure)", bin)
			}
			t.Fatalf("%s is not installed and CI is set: %v", bin, err)
		}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	var c strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		c.WriteString("include /etc/ldap/schema/" + s + ".schema\n")
	}
	c.WriteString("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
	c.WriteString("pidfile " + filepath.Join(dir, "slapd.pid") + "\n")
	if opts.CertFile != "" {
		c.WriteString("TLSCertificateFile " + opts.CertFile + "\nTLSCertificateKeyFile " + opts.KeyFile + "\n")
	}
	c.WriteString("database mdb\nmaxsize 10485760\nsuffix \"" + SlapdSuffix + "\"\n")
	c.WriteString("rootdn \"cn=admin," + SlapdSuffix + "\"\nrootpw admin-secret\ndirectory " + db + "\n")
	if err := os.WriteFile(conf, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "seed.ldif")
	if err := os.WriteFile(ldif, []byte(seedLDIF(opts.Users)), 0o600); err != nil {
		t.Fatal(err)
	}
	slapadd, _ := lookSlapd("slapadd")
	if out, err := exec.Command(slapadd, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	s := &Slapd{process: process{t: t, name: "slapd"}, conf: conf, tls: opts.CertFile != ""}
	t.Cleanup(s.Stop)
	// A port found free may be taken before slapd binds it (other tests
	// run in parallel): then slapd exits, and it is started on others.
	for try := 1; ; try++ {
		s.pickPorts()
		if s.start() {
			return s
		}
		if try == 3 || !strings.Contains(s.log.String(), "Address already in use") {
			t.Fatalf("slapd exited at start-up:\n%s", s.log.String())
		}
	}
}

// lookSlapd finds slapd tools, which Debian installs in /usr/sbin (not
// always on a user's PATH).
func lookSlapd(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", name))
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func seedLDIF(users map[string]string) string {
	var b strings.Builder
	b.WriteString("dn: " + SlapdSuffix + "\nobjectClass: dcObject\nobjectClass: organization\no: mashape\ndc: ldap\n\n")
	b.WriteString("dn: " + SlapdBaseDN + "\nobjectClass: organizationalUnit\nou: scientists\n\n")
	for uid, pw := range users {
		b.WriteString("dn: uid=" + uid + "," + SlapdBaseDN + "\nobjectClass: inetOrgPerson\nuid: " + uid +
			"\ncn: " + uid + "\nsn: " + uid + "\nuserPassword: " + pw + "\n\n")
	}
	return b.String()
}

// pickPorts chooses free loopback ports.
func (s *Slapd) pickPorts() {
	s.Port = freePort(s.t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	if s.tls {
		s.LDAPSPort = freePort(s.t)
	}
}

// start runs slapd on s's ports and waits until it accepts connections;
// false when it exited first.
func (s *Slapd) start() bool {
	s.t.Helper()
	urls := "ldap://" + s.Addr + "/"
	if s.tls {
		urls += " ldaps://127.0.0.1:" + strconv.Itoa(s.LDAPSPort) + "/"
	}
	bin, _ := lookSlapd("slapd")
	// -d 32768 (level "none"): stay in the foreground, so the test owns
	// the process, logging only what slapd always logs (start-up errors).
	cmd := exec.Command(bin, "-f", s.conf, "-h", urls, "-d", "32768")
	s.log = &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	done := s.run(cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			// The listener may be another process's: slapd, failing to
			// bind its other port, exits at once.
			select {
			case <-done:
				return false
			case <-time.After(50 * time.Millisecond):
				return true
			}
		}
		select {
		case <-done:
			return false
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("slapd did not accept connections within 10s (%v):\n%s", err, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart starts the server again on the same ports and database.
func (s *Slapd) Restart() {
	s.t.Helper()
	s.Stop()
	if !s.start() {
		s.t.Fatalf("slapd exited at restart:\n%s", s.log.String())
	}
}

// TLSFiles are PEM files of a test CA and a server certificate it signed
// for 127.0.0.1 and localhost.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// WriteTLSFiles makes a fresh CA and server certificate in a temporary
// directory (slapd reads them; a client trusts CAFile).
func WriteTLSFiles(t testing.TB) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turnpike test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	for path, blk := range map[string]*pem.Block{
		f.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		f.CertFile: {Type: "CERTIFICATE", Bytes: der},
		f.KeyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
