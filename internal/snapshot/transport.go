package snapshot

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// upstreamTLS is the TLS of a service's https, grpcs and wss connections,
// from the service's fields as Kong applies them: the client certificate
// (the service's, else its upstream's), tls_verify (on unless the service
// sets it false: Kong leaves verification off by default, Turnpike is
// secure by default), tls_verify_depth, ca_certificates (else the system
// pool) and the server name (upstreamSNI). Everything that changes a
// connection goes into the config's pool key (tlsKey), so a certificate
// rotated by a reload is presented on new connections only, while
// requests in flight finish on the old ones.
func (c *compiler) upstreamTLS(se *config.ServiceEntry) *tls.Config {
	s := se.Service
	conf := &tls.Config{ServerName: upstreamSNI(se), MinVersion: tls.VersionTLS12}
	key := "|" + conf.ServerName
	verify := s.TLSVerify == nil || *s.TLSVerify
	conf.InsecureSkipVerify = !verify
	key += "|verify:" + strconv.FormatBool(verify)
	if verify && s.TLSVerifyDepth != nil {
		conf.VerifyPeerCertificate = verifyDepth(*s.TLSVerifyDepth)
		key += "|depth:" + strconv.Itoa(*s.TLSVerifyDepth)
	}
	path, ref := se.Path+".client_certificate", s.ClientCert
	if ref == nil && se.Upstream != nil {
		path, ref = se.Upstream.Path+".client_certificate", se.Upstream.Upstream.ClientCert
	}
	if ref != nil {
		if cert, id := c.clientCert(path, ref); cert != nil {
			conf.GetClientCertificate = presentAlways(cert)
			key += "|cert:" + id
		}
	}
	if len(s.CACertificates) > 0 {
		// The CA certificates were parsed once, when the model was built,
		// and are indexed by id (caCertificates runs first).
		pool := x509.NewCertPool()
		digests := make([]string, 0, len(s.CACertificates))
		for i, ref := range s.CACertificates {
			ca := c.snap.entities.cas[ref]
			if ca == nil {
				c.fail(se.Path+".ca_certificates["+strconv.Itoa(i)+"]", "ca_certificate '%s' not found", ref)
				continue
			}
			pool.AddCert(ca.X509)
			digests = append(digests, ca.Digest)
		}
		conf.RootCAs = pool
		// Connections verified against one CA set must never serve a
		// service pinned to another, nor survive a CA rotation.
		key += "|ca:" + strings.Join(digests, ",")
	}
	c.tlsKeys[conf] = key
	return conf
}

// upstreamSNI is the server name sent to a service's upstream: its
// upstream's host_header when set, else the service's host (never a
// target's address, which a certificate does not name).
func upstreamSNI(se *config.ServiceEntry) string {
	if se.Upstream != nil && se.Upstream.Upstream.HostHeader != "" {
		return se.Upstream.Upstream.HostHeader
	}
	return se.Service.Host
}

// clientCert is the key pair of the certificate ref names, parsed once per
// compile, and its id with the digest of its content (a certificate
// replaced under the same id must not reuse connections made with the old
// one); nil, with an error at path, when it is missing or does not parse.
func (c *compiler) clientCert(path string, ref *config.Ref) (*tls.Certificate, string) {
	id := ref.Key()
	if cert, ok := c.clientCerts[id]; ok {
		return cert, id + ":" + c.snap.entities.digest(entityDep{kind: depCertificate, id: id})
	}
	e := c.snap.entities.certs[id]
	if e == nil {
		c.fail(path, "certificate '%s' not found", id)
		return nil, ""
	}
	pair, err := tls.X509KeyPair([]byte(e.Certificate.Cert), []byte(e.Certificate.Key))
	if err != nil {
		c.fail(path, "certificate '%s': %v", id, err)
		return nil, ""
	}
	c.clientCerts[id] = &pair
	return &pair, id + ":" + c.snap.entities.digest(entityDep{kind: depCertificate, id: id})
}

// presentAlways sends the service's certificate whatever CAs the upstream
// names in its request, as NGINX does; Go's default would send none when
// the names do not match, and the upstream would see a client without one.
func presentAlways(cert *tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
}

var errVerifyDepth = errors.New("upstream certificate chain is longer than tls_verify_depth allows")

// verifyDepth limits the verified chain as NGINX's proxy_ssl_verify_depth
// (OpenSSL's verify depth) does: depth d allows at most d intermediate CAs
// between the upstream's certificate and the trust anchor, so a chain of
// up to d+2 certificates. Any one chain within the limit passes.
func verifyDepth(depth int) func([][]byte, [][]*x509.Certificate) error {
	return func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, ch := range chains {
			if len(ch) <= depth+2 {
				return nil
			}
		}
		return errVerifyDepth
	}
}

func (c *compiler) pool(scheme, addr string, tlsConf *tls.Config) *upstream.Pool {
	key := scheme + "://" + addr
	if tlsConf != nil {
		key += c.tlsKey(tlsConf)
	}
	return c.lease.Pool(key, addr, tlsConf)
}

// tlsKey is the part of a pool or HTTP/2 transport key that names the
// upstream TLS settings (upstreamTLS's config) its connections are made
// with; one place, so the two keys cannot drift apart.
func (c *compiler) tlsKey(conf *tls.Config) string { return c.tlsKeys[conf] }

// h2Transports are the HTTP/2 transports of one compile by settings: this
// snapshot's, and the previous one's, which are reused when a service's
// settings did not change.
type h2Transports struct {
	c          *compiler
	cur, prev  map[string]*http.Transport
	maxHeaders int64
}

func (c *compiler) h2Transports() *h2Transports {
	h := &h2Transports{c: c, cur: map[string]*http.Transport{}, prev: map[string]*http.Transport{},
		maxHeaders: int64(c.d.MaxResponseHeaderBytes)}
	if prev := c.d.Previous; prev != nil {
		for _, ps := range prev.Services {
			if ps.H2 != nil {
				h.prev[ps.h2Key] = ps.H2
			}
		}
	}
	return h
}

// get returns the transport of a grpc or grpcs service, and its key.
func (h *h2Transports) get(se *config.ServiceEntry, svc *Service) (*http.Transport, string) {
	var h2TLS *tls.Config
	key := svc.Scheme + "|" + svc.ConnectTimeout.String() + "|" + svc.WriteTimeout.String()
	if svc.Scheme == "https" {
		h2TLS = h.c.upstreamTLS(se)
		key += h.c.tlsKey(h2TLS)
	}
	tr := h.cur[key]
	if tr == nil {
		tr = h.prev[key]
	}
	if tr == nil {
		tr = newH2Transport(svc, h2TLS, h.maxHeaders)
	}
	h.cur[key] = tr
	return tr, key
}

func newH2Transport(svc *Service, h2TLS *tls.Config, maxHeaders int64) *http.Transport {
	dialer := &net.Dialer{Timeout: svc.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     h2TLS,
		TLSHandshakeTimeout: svc.ConnectTimeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		HTTP2:               &http.HTTP2Config{WriteByteTimeout: svc.WriteTimeout},
		Protocols:           new(http.Protocols),
	}
	tr.MaxResponseHeaderBytes = maxHeaders
	if h2TLS != nil {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return tr
}
