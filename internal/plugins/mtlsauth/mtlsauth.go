package mtlsauth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's mtls-auth schema, plus Turnpike's `crl` and
// `inject_client_cert_details`. The fields Kong uses to fetch revocation
// data over the network (http_timeout, the proxies, ssl_verify) and its
// consumer cache (cache_ttl) are accepted and checked, and have no effect:
// revocation data comes from `crl`, and consumers are looked up in the
// configuration's in-memory index.
type Config struct {
	// CACertificates are ids of `ca_certificates` entities: the trust
	// anchors of client certificates.
	CACertificates []string `yaml:"ca_certificates"`
	// ConsumerBy are the consumer fields a certificate's subject names are
	// matched against, in order: "username", "custom_id".
	ConsumerBy         []string `yaml:"consumer_by"`
	SkipConsumerLookup bool     `yaml:"skip_consumer_lookup"`
	// Anonymous and DefaultConsumer are a consumer id or username.
	Anonymous       *string `yaml:"anonymous"`
	DefaultConsumer *string `yaml:"default_consumer"`
	// AuthenticatedGroupBy is CN or DN: the group set for the acl plugin
	// when skip_consumer_lookup is on.
	AuthenticatedGroupBy string `yaml:"authenticated_group_by"`
	// RevocationCheckMode is SKIP, IGNORE_CA_ERROR or STRICT.
	RevocationCheckMode string `yaml:"revocation_check_mode"`
	AllowPartialChain   bool   `yaml:"allow_partial_chain"`
	SendCADN            bool   `yaml:"send_ca_dn"`
	// CertCacheTTL is how long, in milliseconds, a verified certificate
	// (chain and revocation status) is remembered.
	CertCacheTTL      float64  `yaml:"cert_cache_ttl"`
	CacheTTL          float64  `yaml:"cache_ttl"`
	HTTPTimeout       float64  `yaml:"http_timeout"`
	HTTPProxyHost     *string  `yaml:"http_proxy_host"`
	HTTPProxyPort     *int     `yaml:"http_proxy_port"`
	HTTPSProxyHost    *string  `yaml:"https_proxy_host"`
	HTTPSProxyPort    *int     `yaml:"https_proxy_port"`
	SSLVerify         bool     `yaml:"ssl_verify"`
	SANDirnameMatcher []string `yaml:"san_dirname_matcher"`

	// CRL is Turnpike's revocation source: one or more PEM "X509 CRL"
	// blocks given inline, or the path of a file holding PEM blocks or one
	// DER CRL (re-read when it changes).
	CRL string `yaml:"crl"`
	// InjectClientCertDetails sends the verified certificate's fields
	// upstream, with the header names of Kong's tls-metadata-headers.
	InjectClientCertDetails bool `yaml:"inject_client_cert_details"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.ConsumerBy = []string{"username", "custom_id"}
	c.AuthenticatedGroupBy = "CN"
	c.RevocationCheckMode = "IGNORE_CA_ERROR"
	c.CertCacheTTL = 60000
	c.CacheTTL = 60
	c.HTTPTimeout = 30000
	c.SSLVerify = true
}

const name = "mtls-auth"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   1600,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

// Kong's answers (kong/plugins/mtls-auth/access.lua).
const (
	msgNoCert    = "No required TLS certificate was sent"
	msgFailed    = "TLS certificate failed verification"
	msgNoCN      = "Certificate missing Common Name"
	msgNoDefault = "Unauthorized"
)

// revocation is revocation_check_mode.
type revocation uint8

const (
	revocationIgnoreCAError revocation = iota
	revocationSkip
	revocationStrict
)

// Upstream headers. Kong names the first two X-Client-Cert-DN and
// X-Client-Cert-SAN; header names are case-insensitive.
const (
	headerDN          = "X-Client-Cert-Dn"
	headerSAN         = "X-Client-Cert-San"
	headerCert        = "X-Client-Cert"
	headerSerial      = "X-Client-Cert-Serial"
	headerIssuerDN    = "X-Client-Cert-Issuer-Dn"
	headerSubjectDN   = "X-Client-Cert-Subject-Dn"
	headerFingerprint = "X-Client-Cert-Fingerprint"
)

// field is a consumer field consumer_by matches.
type field uint8

const (
	fieldUsername field = iota
	fieldCustomID
)

// sharedGroups is the acl plugin's SharedAuthenticatedGroups key (plugins
// do not import each other).
const sharedGroups = "authenticated_groups"

type instance struct {
	roots *x509.CertPool
	// intermediates are the configured CAs that are not roots, offered to
	// chain building as well, so that a client that sends only its leaf
	// is verified up to a configured root (as OpenSSL builds chains from
	// its trust store); nil when there are none.
	intermediates *x509.CertPool
	// selfSigned holds the SHA-256 of the configured CAs that are roots,
	// for allow_partial_chain: false.
	selfSigned      map[[sha256.Size]byte]bool
	hints           []*x509.Certificate
	consumerBy      []field
	skipLookup      bool
	anonymous       string
	defaultConsumer string
	groupByDN       bool
	mode            revocation
	partial         bool
	inject          bool
	ttl             time.Duration
	crl             *crlSource // nil: no CRL configured
	cache           *cache
	logger          *slog.Logger
}

var (
	_ plugin.Accessor = (*instance)(nil)
	_ plugin.TLSUser  = (*instance)(nil)
)

// New validates the config as Kong's schema does, resolves the CA
// certificates through env and loads the CRL.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }

	in := &instance{
		roots:      x509.NewCertPool(),
		selfSigned: map[[sha256.Size]byte]bool{},
		skipLookup: c.SkipConsumerLookup,
		groupByDN:  c.AuthenticatedGroupBy == "DN",
		partial:    c.AllowPartialChain,
		inject:     c.InjectClientCertDetails,
		logger:     env.Logger,
	}
	var cas []*x509.Certificate
	switch {
	case c.CACertificates == nil:
		add("ca_certificates", "required field missing")
	case len(c.CACertificates) == 0:
		add("ca_certificates", "length must be at least 1")
	}
	for i, id := range c.CACertificates {
		path := "ca_certificates[" + strconv.Itoa(i) + "]"
		var ca *x509.Certificate
		ok := false
		if env.Certificates != nil {
			ca, ok = env.Certificates.CACertificate(id)
		}
		if !ok {
			add(path, "ca certificate '"+id+"' not found")
			continue
		}
		cas = append(cas, ca)
		in.roots.AddCert(ca)
		if isSelfSigned(ca) {
			in.selfSigned[sha256.Sum256(ca.Raw)] = true
		} else {
			if in.intermediates == nil {
				in.intermediates = x509.NewCertPool()
			}
			in.intermediates.AddCert(ca)
		}
	}
	if c.SendCADN {
		in.hints = cas
	}
	for i, f := range c.ConsumerBy {
		switch f {
		case "username":
			in.consumerBy = append(in.consumerBy, fieldUsername)
		case "custom_id":
			in.consumerBy = append(in.consumerBy, fieldCustomID)
		default:
			add("consumer_by["+strconv.Itoa(i)+"]", "expected one of: username, custom_id")
		}
	}
	for _, s := range []struct {
		path string
		v    *string
		to   *string
	}{{"anonymous", c.Anonymous, &in.anonymous}, {"default_consumer", c.DefaultConsumer, &in.defaultConsumer}} {
		if s.v == nil {
			continue
		}
		if *s.v == "" {
			add(s.path, "length must be at least 1")
		}
		*s.to = *s.v
	}
	if c.AuthenticatedGroupBy != "CN" && c.AuthenticatedGroupBy != "DN" {
		add("authenticated_group_by", "expected one of: CN, DN")
	}
	switch c.RevocationCheckMode {
	case "IGNORE_CA_ERROR":
		in.mode = revocationIgnoreCAError
	case "SKIP":
		in.mode = revocationSkip
	case "STRICT":
		in.mode = revocationStrict
		if c.CRL == "" {
			add("crl", "required when revocation_check_mode is STRICT (Turnpike checks revocation against a configured CRL only)")
		}
	default:
		add("revocation_check_mode", "expected one of: IGNORE_CA_ERROR, SKIP, STRICT")
	}
	for _, n := range []struct {
		path string
		v    float64
	}{{"cert_cache_ttl", c.CertCacheTTL}, {"cache_ttl", c.CacheTTL}, {"http_timeout", c.HTTPTimeout}} {
		if n.v < 0 {
			add(n.path, "value must be at least 0")
		}
	}
	for _, p := range []struct {
		path string
		v    *int
	}{{"http_proxy_port", c.HTTPProxyPort}, {"https_proxy_port", c.HTTPSProxyPort}} {
		if p.v != nil && (*p.v < 0 || *p.v > 65535) {
			add(p.path, "value should be between 0 and 65535")
		}
	}
	if len(c.SANDirnameMatcher) > 0 {
		add("san_dirname_matcher", "matching SAN DirectoryName attributes is not supported")
	}
	if c.CRL != "" {
		src, err := newCRLSource(c.CRL, cas, env.Logger)
		switch {
		case err != nil:
			add("crl", err.Error())
		case in.mode != revocationSkip:
			in.crl = src
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in.ttl = time.Duration(c.CertCacheTTL * float64(time.Millisecond))
	in.cache = newCache(cacheSize)
	return in, nil
}

// TLSNeeds asks for a client certificate, naming the CAs of send_ca_dn in
// the request.
func (in *instance) TLSNeeds() plugin.TLSNeeds {
	return plugin.TLSNeeds{ClientCertificate: true, ClientCAs: in.hints}
}

// Access authenticates the request with its TLS client certificate. Client
// copies of the certificate headers are dropped first, on every path.
func (in *instance) Access(c *plugin.Ctx) error {
	stripClientCertHeaders(c.Req.Header)
	return plugin.RunAuth(c, in.anonymous, in)
}

// CheckCredentials verifies the client certificate and finds its consumer
// (Kong's do_authentication).
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	st := c.Req.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return plugin.NewExit(http.StatusUnauthorized, msgNoCert)
	}
	now := c.StartedAt
	if now.IsZero() {
		now = time.Now()
	}
	id, reason := in.verified(st.PeerCertificates, now)
	if id == nil {
		in.debug("client certificate failed verification", reason, st.PeerCertificates[0])
		return plugin.NewExit(http.StatusUnauthorized, msgFailed)
	}
	h := c.Req.Header
	if in.skipLookup {
		if id.groups == nil {
			return plugin.NewExit(http.StatusUnauthorized, msgNoCN)
		}
		if c.Shared == nil {
			c.Shared = map[string]any{}
		}
		c.Shared[sharedGroups] = id.groups
		in.setCertHeaders(h, id)
		return nil
	}
	consumer := in.lookup(c.Directory, id.names)
	fallback := false
	if consumer == nil {
		if in.defaultConsumer == "" {
			in.debug("client certificate failed verification", "no consumer matches its subject names", st.PeerCertificates[0])
			return plugin.NewExit(http.StatusUnauthorized, msgFailed)
		}
		ok := false
		if c.Directory != nil {
			consumer, ok = c.Directory.Consumer(in.defaultConsumer)
		}
		if !ok {
			return plugin.NewExit(http.StatusUnauthorized, msgNoDefault)
		}
		fallback = true
	}
	plugin.Authenticate(c, &plugin.Credential{ID: id.credID, Kind: name, Consumer: consumer})
	if fallback {
		in.setCertHeaders(h, id)
	} else if in.inject {
		id.inject(h)
	}
	return nil
}

// lookup is Kong's auto-matching: each subject name in turn (SANs, then
// the CN) against the consumer fields consumer_by names, in its order.
// Directory.Consumer also answers to ids, which consumer_by does not
// match, hence the username check.
func (in *instance) lookup(d plugin.Directory, names []string) *plugin.Consumer {
	if d == nil {
		return nil
	}
	for _, n := range names {
		for _, f := range in.consumerBy {
			var co *plugin.Consumer
			ok := false
			if f == fieldUsername {
				co, ok = d.Consumer(n)
				ok = ok && co.Username == n
			} else {
				co, ok = d.ConsumerByCustomID(n)
			}
			if ok {
				return co
			}
		}
	}
	return nil
}

// setCertHeaders sends the certificate's DN and subject names upstream
// (skip_consumer_lookup and default_consumer), and its details when asked.
func (in *instance) setCertHeaders(h http.Header, id *identity) {
	h[headerDN] = []string{id.dn}
	if id.san != "" {
		h[headerSAN] = []string{id.san}
	}
	if in.inject {
		id.inject(h)
	}
}

// debug logs why a certificate was refused; the client is never told.
func (in *instance) debug(msg, reason string, leaf *x509.Certificate) {
	if in.logger != nil && in.logger.Enabled(context.Background(), slog.LevelDebug) {
		in.logger.Debug("mtls-auth: "+msg, "reason", reason, "subject", formatDN(leaf.RawSubject))
	}
}

// stripClientCertHeaders drops client-sent X-Client-Cert and
// X-Client-Cert-* headers, also spelt with underscores, so that upstreams
// behind this plugin only ever see the gateway's.
func stripClientCertHeaders(h http.Header) {
	for k := range h {
		if isClientCertHeader(k) {
			delete(h, k)
		}
	}
}

func isClientCertHeader(k string) bool {
	const prefix = "x-client-cert"
	if len(k) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := k[i]
		if c == '_' {
			c = '-'
		}
		if c != prefix[i] && c|0x20 != prefix[i] {
			return false
		}
	}
	return len(k) == len(prefix) || k[len(prefix)] == '-' || k[len(prefix)] == '_'
}
