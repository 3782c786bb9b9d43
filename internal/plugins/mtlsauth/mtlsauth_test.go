package mtlsauth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

const (
	rootID  = "10000000-0000-4000-8000-000000000001"
	interID = "10000000-0000-4000-8000-000000000002"
	otherID = "10000000-0000-4000-8000-000000000003"
)

var (
	alice    = &plugin.Consumer{ID: "alice-id", Username: "alice", CustomID: "alice-custom"}
	bob      = &plugin.Consumer{ID: "bob-id", Username: "bob"}
	carol    = &plugin.Consumer{ID: "carol-id", Username: "carol", CustomID: "svc-carol"}
	dave     = &plugin.Consumer{ID: "dave-id", Username: "dave"}
	erin     = &plugin.Consumer{ID: "erin-id", Username: "erin", CustomID: "dave"}
	anon     = &plugin.Consumer{ID: "anon-id", Username: "anonymous"}
	fallback = &plugin.Consumer{ID: "fallback-id", Username: "fallback"}
	dir      = &plugintest.Directory{Consumers: []*plugin.Consumer{alice, bob, carol, dave, erin, anon, fallback}}
)

// fixture is a small PKI: a root, an intermediate under it, an unrelated
// root, and client certificates.
type fixture struct {
	root, inter, other *party
	cas                map[string]*x509.Certificate
}

var (
	fixOnce sync.Once
	fix     fixture
)

func pki(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		fix.root = newCA(t, "Test Root", nil)
		fix.inter = newCA(t, "Test Intermediate", fix.root)
		fix.other = newCA(t, "Other Root", nil)
		fix.cas = map[string]*x509.Certificate{rootID: fix.root.cert, interID: fix.inter.cert, otherID: fix.other.cert}
	})
	return &fix
}

// certs is the test PKI's CA certificates, noting the ids looked up.
type certs struct {
	cas    map[string]*x509.Certificate
	looked []string
}

func (c *certs) Certificate(string) (*tls.Certificate, bool) { return nil, false }

func (c *certs) CACertificate(id string) (*x509.Certificate, bool) {
	c.looked = append(c.looked, id)
	ca, ok := c.cas[id]
	return ca, ok
}

func env(t testing.TB) plugin.Env {
	return plugin.Env{Certificates: &certs{cas: pki(t).cas}}
}

func build(t testing.TB, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.CACertificates = []string{rootID}
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, env(t))
	if err != nil {
		return nil, err
	}
	return in.(*instance), nil
}

func mustBuild(t testing.TB, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func str(s string) *string { return &s }

// newCtx is a request over TLS presenting chain (leaf first); a nil chain
// is plain HTTP, an empty one TLS without a client certificate.
func newCtx(chain []*x509.Certificate, header ...string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if chain != nil {
		r.TLS = &tls.ConnectionState{ServerName: "api.example.com", PeerCertificates: chain}
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header[header[i]] = []string{header[i+1]}
	}
	return &plugin.Ctx{Req: r, Directory: dir, StartedAt: time.Now()}
}

// outcome is what a test checks: the answer, or who the upstream is told
// the client is.
type outcome struct {
	Status  int
	Message string
	// Consumer is the authenticated consumer's username.
	Consumer string
	Header   map[string]string
	Groups   []string
}

var seenHeaders = []string{"X-Consumer-Id", "X-Consumer-Username", "X-Consumer-Custom-Id", "X-Anonymous-Consumer",
	headerDN, headerSAN, "X-Client-Cert-Custom", "X_client_cert_dn"}

func run(t *testing.T, in *instance, c *plugin.Ctx) outcome {
	t.Helper()
	if err := in.Access(c); err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access error %v is not an Exit", err)
		}
		return outcome{Status: e.Status, Message: e.Message}
	}
	o := outcome{Status: 200, Header: map[string]string{}}
	if c.Consumer != nil {
		o.Consumer = c.Consumer.Username
	}
	for _, h := range seenHeaders {
		if v, ok := c.Req.Header[h]; ok {
			o.Header[h] = strings.Join(v, "|")
		}
	}
	if g, ok := c.Shared[sharedGroups]; ok {
		o.Groups = g.([]string)
	}
	return o
}

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func chain(ps ...*party) []*x509.Certificate {
	out := make([]*x509.Certificate, len(ps))
	for i, p := range ps {
		out[i] = p.cert
	}
	return out
}

func TestAccess(t *testing.T) {
	f := pki(t)
	aliceCert := newClient(t, f.root, "alice")
	bobBySAN := newClient(t, f.root, "nobody", "bob")
	carolCert := newClient(t, f.root, "svc-carol")
	daveCert := newClient(t, f.root, "dave")
	stranger := newClient(t, f.root, "stranger", "stranger.example.com")
	byID := newClient(t, f.root, "bob-id")
	viaInter := newClient(t, f.inter, "alice")
	otherCA := newClient(t, f.other, "alice")
	expired := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, f.root)
	serverOnly := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, f.root)
	noCN := newClient(t, f.root, "", "nameless.example.com")
	aliceDN := "CN=alice"

	failed := outcome{Status: 401, Message: msgFailed}
	tests := []struct {
		name   string
		set    func(*Config)
		chain  []*x509.Certificate
		header []string
		want   outcome
	}{
		{name: "plain HTTP", want: outcome{Status: 401, Message: msgNoCert}},
		{name: "TLS without a certificate", chain: []*x509.Certificate{}, want: outcome{Status: 401, Message: msgNoCert}},
		{name: "CN matches a username", chain: chain(aliceCert),
			want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "SAN before CN", chain: chain(bobBySAN),
			want: outcome{Status: 200, Consumer: "bob", Header: map[string]string{"X-Consumer-Id": "bob-id", "X-Consumer-Username": "bob"}}},
		{name: "CN matches a custom_id", chain: chain(carolCert),
			want: outcome{Status: 200, Consumer: "carol", Header: map[string]string{
				"X-Consumer-Id": "carol-id", "X-Consumer-Username": "carol", "X-Consumer-Custom-Id": "svc-carol"}}},
		{name: "username before custom_id by default", chain: chain(daveCert),
			want: outcome{Status: 200, Consumer: "dave", Header: map[string]string{"X-Consumer-Id": "dave-id", "X-Consumer-Username": "dave"}}},
		{name: "consumer_by order", set: func(c *Config) { c.ConsumerBy = []string{"custom_id", "username"} }, chain: chain(daveCert),
			want: outcome{Status: 200, Consumer: "erin", Header: map[string]string{
				"X-Consumer-Id": "erin-id", "X-Consumer-Username": "erin", "X-Consumer-Custom-Id": "dave"}}},
		{name: "consumer_by custom_id only", set: func(c *Config) { c.ConsumerBy = []string{"custom_id"} }, chain: chain(aliceCert), want: failed},
		{name: "consumer_by empty", set: func(c *Config) { c.ConsumerBy = []string{} }, chain: chain(aliceCert), want: failed},
		{name: "a consumer id is not a username", chain: chain(byID), want: failed},
		{name: "no consumer matches", chain: chain(stranger), want: failed},
		{name: "unknown CA", chain: chain(otherCA), want: failed},
		{name: "expired", chain: chain(expired), want: failed},
		{name: "server-only key usage", chain: chain(serverOnly), want: failed},
		{name: "intermediate sent by the client", chain: chain(viaInter, f.inter),
			want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "intermediate missing", chain: chain(viaInter), want: failed},
		{name: "trusting an intermediate needs allow_partial_chain", set: func(c *Config) { c.CACertificates = []string{interID} },
			chain: chain(viaInter, f.inter), want: failed},
		{name: "configured intermediate completes a leaf-only chain", set: func(c *Config) { c.CACertificates = []string{interID, rootID} },
			chain: chain(viaInter), want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "configured intermediate, also sent by the client", set: func(c *Config) { c.CACertificates = []string{rootID, interID} },
			chain: chain(viaInter, f.inter), want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "configured intermediate without its root needs allow_partial_chain", set: func(c *Config) { c.CACertificates = []string{interID} },
			chain: chain(viaInter), want: failed},
		{name: "configured intermediate does not vouch for another root's leaf", set: func(c *Config) { c.CACertificates = []string{interID, rootID} },
			chain: chain(otherCA), want: failed},
		{name: "allow_partial_chain", set: func(c *Config) { c.CACertificates = []string{interID}; c.AllowPartialChain = true },
			chain: chain(viaInter), want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "several CAs", set: func(c *Config) { c.CACertificates = []string{otherID, rootID} }, chain: chain(otherCA),
			want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
		{name: "default_consumer", set: func(c *Config) { c.DefaultConsumer = str("fallback") }, chain: chain(stranger),
			want: outcome{Status: 200, Consumer: "fallback", Header: map[string]string{
				"X-Consumer-Id": "fallback-id", "X-Consumer-Username": "fallback",
				headerDN: "CN=stranger", headerSAN: "stranger.example.com,stranger"}}},
		{name: "default_consumer does not exist", set: func(c *Config) { c.DefaultConsumer = str("ghost") }, chain: chain(stranger),
			want: outcome{Status: 401, Message: "Unauthorized"}},
		{name: "default_consumer is not used for a bad certificate", set: func(c *Config) { c.DefaultConsumer = str("fallback") },
			chain: chain(otherCA), want: failed},
		{name: "anonymous after a failure", set: func(c *Config) { c.Anonymous = str("anon-id") }, chain: chain(otherCA),
			want: outcome{Status: 200, Consumer: "anonymous", Header: map[string]string{
				"X-Consumer-Id": "anon-id", "X-Consumer-Username": "anonymous", "X-Anonymous-Consumer": "true"}}},
		{name: "anonymous without a certificate", set: func(c *Config) { c.Anonymous = str("anonymous") },
			want: outcome{Status: 200, Consumer: "anonymous", Header: map[string]string{
				"X-Consumer-Id": "anon-id", "X-Consumer-Username": "anonymous", "X-Anonymous-Consumer": "true"}}},
		{name: "skip_consumer_lookup", set: func(c *Config) { c.SkipConsumerLookup = true }, chain: chain(bobBySAN),
			want: outcome{Status: 200, Header: map[string]string{headerDN: "CN=nobody", headerSAN: "bob,nobody"}, Groups: []string{"nobody"}}},
		{name: "skip_consumer_lookup, group by DN", set: func(c *Config) { c.SkipConsumerLookup = true; c.AuthenticatedGroupBy = "DN" },
			chain: chain(aliceCert), want: outcome{Status: 200, Header: map[string]string{headerDN: aliceDN, headerSAN: "alice"}, Groups: []string{aliceDN}}},
		{name: "skip_consumer_lookup needs a CN to group by", set: func(c *Config) { c.SkipConsumerLookup = true }, chain: chain(noCN),
			want: outcome{Status: 401, Message: msgNoCN}},
		{name: "client-sent certificate headers are dropped", chain: chain(aliceCert),
			header: []string{headerDN, "CN=admin", "X-Client-Cert-Custom", "x", "X_client_cert_dn", "y"},
			want: outcome{Status: 200, Consumer: "alice", Header: map[string]string{
				"X-Consumer-Id": "alice-id", "X-Consumer-Username": "alice", "X-Consumer-Custom-Id": "alice-custom"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			c := newCtx(tt.chain, tt.header...)
			got := run(t, in, c)
			if got.Status == 200 && len(got.Header) == 0 {
				got.Header = nil
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Consumer != "" && got.Consumer != "anonymous" {
				if id := c.Req.Header.Get("X-Credential-Identifier"); id != fingerprint(tt.chain[0]) || c.Credential != id {
					t.Errorf("credential %q / %q, want the leaf's SHA-256", id, c.Credential)
				}
			}
		})
	}
}

func TestInjectClientCertDetails(t *testing.T) {
	f := pki(t)
	leaf := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "alice", Organization: []string{"Example, Inc."}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, f.root)
	in := mustBuild(t, func(c *Config) { c.InjectClientCertDetails = true })
	c := newCtx(chain(leaf))
	if o := run(t, in, c); o.Consumer != "alice" {
		t.Fatalf("outcome %+v", o)
	}
	h := c.Req.Header
	if got := h.Get("X-Client-Cert-Subject-DN"); got != `CN=alice,O=Example\, Inc.` {
		t.Errorf("subject DN %q", got)
	}
	if got := h.Get("X-Client-Cert-Issuer-DN"); got != "CN=Test Root,O=Turnpike Test" {
		t.Errorf("issuer DN %q", got)
	}
	if got := h.Get("X-Client-Cert-Serial"); got != strings.ToUpper(hex.EncodeToString(leaf.cert.SerialNumber.Bytes())) || len(got)%2 != 0 {
		t.Errorf("serial %q", got)
	}
	if got := h.Get("X-Client-Cert-Fingerprint"); len(got) != 40 {
		t.Errorf("fingerprint %q", got)
	}
	pemText, err := url.QueryUnescape(h.Get("X-Client-Cert"))
	if err != nil || !strings.HasPrefix(pemText, "-----BEGIN CERTIFICATE-----\n") || strings.ContainsAny(h.Get("X-Client-Cert"), "\n+/= ") {
		t.Errorf("escaped PEM %q (%v)", h.Get("X-Client-Cert"), err)
	}
	if _, ok := h[headerDN]; ok {
		t.Error("X-Client-Cert-Dn is only sent with skip_consumer_lookup or default_consumer")
	}
}

func TestRevocation(t *testing.T) {
	f := pki(t)
	good := newClient(t, f.root, "alice")
	revoked := newClient(t, f.root, "alice")
	underInter := newClient(t, f.inter, "alice")
	now := time.Now()
	current := f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour), revoked.cert)
	stale := f.root.crl(t, now.Add(-48*time.Hour), now.Add(-time.Hour), revoked.cert)
	interRevoked := f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour), f.inter.cert)
	interCRL := f.inter.crl(t, now.Add(-time.Hour), now.Add(time.Hour))

	tests := []struct {
		name  string
		mode  string
		crl   string
		chain []*x509.Certificate
		ok    bool
	}{
		{"listed", "IGNORE_CA_ERROR", crlPEM(current), chain(revoked), false},
		{"not listed", "IGNORE_CA_ERROR", crlPEM(current), chain(good), true},
		{"not listed, strict", "STRICT", crlPEM(current), chain(good), true},
		{"skip", "SKIP", crlPEM(current), chain(revoked), true},
		{"stale CRL still revokes", "IGNORE_CA_ERROR", crlPEM(stale), chain(revoked), false},
		{"stale CRL: unknown, ignored", "IGNORE_CA_ERROR", crlPEM(stale), chain(good), true},
		{"stale CRL: unknown, strict", "STRICT", crlPEM(stale), chain(good), false},
		{"no CRL of the leaf's issuer, ignored", "IGNORE_CA_ERROR", crlPEM(current), chain(underInter, f.inter), true},
		{"no CRL of the leaf's issuer, strict", "STRICT", crlPEM(current), chain(underInter, f.inter), false},
		{"intermediate CA's CRL, strict", "STRICT", crlPEM(current, interCRL), chain(underInter, f.inter), true},
		{"revoked intermediate", "IGNORE_CA_ERROR", crlPEM(interRevoked, interCRL), chain(underInter, f.inter), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, func(c *Config) { c.RevocationCheckMode = tt.mode; c.CRL = tt.crl })
			o := run(t, in, newCtx(tt.chain))
			if (o.Status == 200) != tt.ok {
				t.Errorf("outcome %+v, want ok %v", o, tt.ok)
			}
		})
	}
}

func TestCRLFileIsReread(t *testing.T) {
	f := pki(t)
	leaf := newClient(t, f.root, "alice")
	now := time.Now()
	path := filepath.Join(t.TempDir(), "ca.crl")
	// DER first, then PEM: both forms are read.
	if err := os.WriteFile(path, f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	in := mustBuild(t, func(c *Config) { c.CRL = path; c.RevocationCheckMode = "STRICT" })
	at := func(d time.Duration) outcome {
		c := newCtx(chain(leaf))
		c.StartedAt = now.Add(d)
		return run(t, in, c)
	}
	if o := at(0); o.Status != 200 {
		t.Fatalf("before revocation: %+v", o)
	}
	if err := os.WriteFile(path, []byte(crlPEM(f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour), leaf.cert))), 0o600); err != nil {
		t.Fatal(err)
	}
	if o := at(time.Second); o.Status != 200 {
		t.Errorf("the file is looked at only every %v: %+v", crlCheckInterval, o)
	}
	// The first look that finds the file changed waits for the next one to
	// find it the same.
	if o := at(crlCheckInterval + time.Second); o.Status != 200 {
		t.Errorf("the changed file was applied at the first look: %+v", o)
	}
	if o := at(2*crlCheckInterval + 2*time.Second); o.Status != 401 {
		t.Errorf("after the file changed: %+v", o)
	}
	// A broken file keeps the CRLs in force.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 3; i <= 5; i++ {
		if o := at(time.Duration(i) * (crlCheckInterval + time.Second)); o.Status != 401 {
			t.Errorf("after a bad file, look %d: %+v", i, o)
		}
	}
}

// A CRL file written in place in parts is not applied half-written: its
// first part alone (one complete CRL of two) would lift the revocations of
// the second. Looks at the file are crlCheckInterval apart in request time;
// the writes between them stand for a writer pausing between parts.
func TestCRLFileWrittenInPartsIsNotApplied(t *testing.T) {
	f := pki(t)
	good := newClient(t, f.root, "alice")
	underInter := newClient(t, f.inter, "alice")
	now := time.Now()
	path := filepath.Join(t.TempDir(), "ca.crl")
	interCRL := crlPEM(f.inter.crl(t, now.Add(-time.Hour), now.Add(time.Hour), underInter.cert))
	if err := os.WriteFile(path, []byte(crlPEM(f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour)))+interCRL), 0o600); err != nil {
		t.Fatal(err)
	}
	in := mustBuild(t, func(c *Config) { c.CRL = path; c.RevocationCheckMode = "IGNORE_CA_ERROR" })
	look := func(n int, chain []*x509.Certificate) int {
		c := newCtx(chain)
		c.StartedAt = now.Add(time.Duration(n) * (crlCheckInterval + time.Second))
		return run(t, in, c).Status
	}
	underInterChain := chain(underInter, f.inter)
	if st := look(0, underInterChain); st != 401 {
		t.Fatalf("revoked by the intermediate's CRL before the rewrite: %d", st)
	}
	// The new file revokes alice under the root too; its first part is the
	// root's CRL alone.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fh.WriteString(crlPEM(f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour), good.cert)))
	if st := look(1, underInterChain); st != 401 {
		t.Fatalf("the half-written file lifted the intermediate's revocation: %d", st)
	}
	// Cut inside the second CRL and left so for two looks: an incomplete
	// PEM block is not the end of the list.
	fh.WriteString(interCRL[:len(interCRL)/2])
	for n := 2; n <= 3; n++ {
		if st := look(n, underInterChain); st != 401 {
			t.Fatalf("look %d at a file cut inside a CRL lifted the intermediate's revocation: %d", n, st)
		}
	}
	fh.WriteString(interCRL[len(interCRL)/2:])
	look(4, chain(good))
	if st := look(5, chain(good)); st != 401 {
		t.Errorf("the whole file was not applied: alice under the root %d", st)
	}
	if st := look(5, underInterChain); st != 401 {
		t.Errorf("the whole file lost the intermediate's CRL: %d", st)
	}
}

func TestParseCRLsRefusesAnIncompleteBlock(t *testing.T) {
	f := pki(t)
	now := time.Now()
	one := crlPEM(f.root.crl(t, now.Add(-time.Hour), now.Add(time.Hour)))
	two := crlPEM(f.inter.crl(t, now.Add(-time.Hour), now.Add(time.Hour)))
	if _, err := parseCRLs([]byte(one+two), []*x509.Certificate{f.root.cert}, nil); err != nil {
		t.Fatalf("two whole CRLs: %v", err)
	}
	_, err := parseCRLs([]byte(one+two[:len(two)-30]), []*x509.Certificate{f.root.cert}, nil)
	if err == nil || !strings.Contains(err.Error(), "CRL 2: incomplete PEM block") {
		t.Errorf("a cut second CRL: %v", err)
	}
}

func TestVerificationCache(t *testing.T) {
	f := pki(t)
	leaf := newClient(t, f.root, "alice")
	in := mustBuild(t, func(c *Config) { c.CertCacheTTL = 1000 })
	now := time.Now()
	first, _ := in.verified(chain(leaf), now)
	again, _ := in.verified(chain(leaf), now.Add(500*time.Millisecond))
	if first == nil || again != first {
		t.Fatal("a verified chain is not reused within cert_cache_ttl")
	}
	if later, _ := in.verified(chain(leaf), now.Add(1001*time.Millisecond)); later == first || later == nil {
		t.Error("an expired verification is reused")
	}
	// With intermediates, the whole chain is the key.
	viaInter := newClient(t, f.inter, "alice")
	if id, _ := in.verified(chain(viaInter, f.inter), now); id == nil {
		t.Fatal("chain with intermediate failed")
	}
	if id, _ := in.verified(chain(viaInter), now); id != nil {
		t.Error("the leaf alone verified because its chain was cached")
	}
	// Never cached past the leaf's expiry.
	short := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, NotAfter: now.Add(30 * time.Second),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, f.root)
	long := mustBuild(t, nil)
	if id, _ := long.verified(chain(short), now); id == nil || !id.expires.Equal(short.cert.NotAfter) {
		t.Errorf("cached until %+v, want the leaf's NotAfter %v", id, short.cert.NotAfter)
	}
	off := mustBuild(t, func(c *Config) { c.CertCacheTTL = 0 })
	a, _ := off.verified(chain(leaf), now)
	b, _ := off.verified(chain(leaf), now)
	if a == nil || a == b {
		t.Error("cert_cache_ttl 0 still caches")
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(32)
	now := time.Now()
	for i := range 1000 {
		var k [sha256.Size]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), 1
		c.put(k, &identity{expires: now.Add(time.Minute)}, now)
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].m)
	}
	if total > 32+cacheShards {
		t.Errorf("%d entries, bound %d", total, 32+cacheShards)
	}
}

func TestNewValidation(t *testing.T) {
	f := pki(t)
	now := time.Now()
	otherCRL := crlPEM(f.other.crl(t, now, now.Add(time.Hour)))
	// A CRL naming the root but signed by another key.
	impostor := newCA(t, "Test Root", nil)
	forged := crlPEM(impostor.crl(t, now, now.Add(time.Hour)))
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{"ca_certificates missing", func(c *Config) { c.CACertificates = nil },
			plugin.Errors{{Path: "ca_certificates", Message: "required field missing"}}},
		{"ca_certificates empty", func(c *Config) { c.CACertificates = []string{} },
			plugin.Errors{{Path: "ca_certificates", Message: "length must be at least 1"}}},
		{"unknown CA", func(c *Config) { c.CACertificates = []string{rootID, "nope"} },
			plugin.Errors{{Path: "ca_certificates[1]", Message: "ca certificate 'nope' not found"}}},
		{"enums", func(c *Config) {
			c.ConsumerBy = []string{"username", "id"}
			c.AuthenticatedGroupBy = "OU"
			c.RevocationCheckMode = "OCSP"
		}, plugin.Errors{
			{Path: "consumer_by[1]", Message: "expected one of: username, custom_id"},
			{Path: "authenticated_group_by", Message: "expected one of: CN, DN"},
			{Path: "revocation_check_mode", Message: "expected one of: IGNORE_CA_ERROR, SKIP, STRICT"},
		}},
		{"empty strings, numbers", func(c *Config) {
			c.Anonymous, c.DefaultConsumer = str(""), str("")
			c.CertCacheTTL = -1
			port := 70000
			c.HTTPSProxyPort = &port
			c.SANDirnameMatcher = []string{"CN"}
		}, plugin.Errors{
			{Path: "anonymous", Message: "length must be at least 1"},
			{Path: "default_consumer", Message: "length must be at least 1"},
			{Path: "cert_cache_ttl", Message: "value must be at least 0"},
			{Path: "https_proxy_port", Message: "value should be between 0 and 65535"},
			{Path: "san_dirname_matcher", Message: "matching SAN DirectoryName attributes is not supported"},
		}},
		{"STRICT needs a CRL", func(c *Config) { c.RevocationCheckMode = "STRICT" },
			plugin.Errors{{Path: "crl", Message: "required when revocation_check_mode is STRICT (Turnpike checks revocation against a configured CRL only)"}}},
		{"CRL file missing", func(c *Config) { c.CRL = "/nonexistent/ca.crl" },
			plugin.Errors{{Path: "crl", Message: "cannot read the CRL file: stat /nonexistent/ca.crl: no such file or directory"}}},
		{"not a CRL", func(c *Config) { c.CRL = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
			plugin.Errors{{Path: "crl", Message: "unexpected PEM block CERTIFICATE (expected X509 CRL)"}}},
		{"forged CRL", func(c *Config) { c.CRL = forged },
			plugin.Errors{{Path: "crl", Message: "CRL 1: not signed by the configured CA certificate CN=Test Root,O=Turnpike Test"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// A CRL of a CA outside ca_certificates may belong to an intermediate.
	if _, err := build(t, func(c *Config) { c.CRL = otherCRL }); err != nil {
		t.Errorf("CRL of another issuer: %v", err)
	}
}

func TestInterfaces(t *testing.T) {
	f := pki(t)
	// The CA certificates are found through Env.Certificates, which is
	// how the snapshot learns what the instance was built from.
	e := env(t)
	cfg := Registration().NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.CACertificates = []string{rootID, interID}
	inst, err := New(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	if diff := cmp.Diff([]string{rootID, interID}, e.Certificates.(*certs).looked); diff != "" {
		t.Errorf("CA certificates looked up (-want +got):\n%s", diff)
	}
	if n := in.TLSNeeds(); !n.ClientCertificate || n.ClientCAs != nil {
		t.Errorf("needs without send_ca_dn: %+v", n)
	}
	in = mustBuild(t, func(c *Config) { c.SendCADN = true })
	if n := in.TLSNeeds(); !n.ClientCertificate || len(n.ClientCAs) != 1 || n.ClientCAs[0] != f.root.cert {
		t.Errorf("needs with send_ca_dn: %+v", n)
	}
}

func TestIsClientCertHeader(t *testing.T) {
	for k, want := range map[string]bool{
		"X-Client-Cert": true, "X-Client-Cert-Dn": true, "X_Client_Cert_San": true, "X-Client-Cert_Serial": true,
		"X-Client-Certificate": false, "X-Client-Cer": false, "X-Consumer-Id": false, "Y-Client-Cert": false,
	} {
		if got := isClientCertHeader(k); got != want {
			t.Errorf("isClientCertHeader(%q) = %v", k, got)
		}
	}
}

// BenchmarkAccessCached is the per-request cost once a chain is verified:
// the common case of every request after a connection's first.
func BenchmarkAccessCached(b *testing.B) {
	f := pki(b)
	leaf := newClient(b, f.root, "alice")
	in := mustBuild(b, nil)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: chain(leaf)}
	c := &plugin.Ctx{Req: r, Directory: dir, StartedAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		c.Consumer, c.Credential = nil, ""
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAccessUncached is the cost of a full verification (chain and
// identity), what every request pays with cert_cache_ttl 0.
func BenchmarkAccessUncached(b *testing.B) {
	f := pki(b)
	leaf := newClient(b, f.root, "alice")
	in := mustBuild(b, func(c *Config) { c.CertCacheTTL = 0 })
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: chain(leaf)}
	c := &plugin.Ctx{Req: r, Directory: dir, StartedAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		c.Consumer, c.Credential = nil, ""
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}
