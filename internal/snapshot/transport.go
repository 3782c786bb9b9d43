package snapshot

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// upstreamTLS verifies upstream certificates unless the service turns it
// off with tls_verify: false (Kong leaves verification off by default;
// Turnpike is secure by default).
func (c *compiler) upstreamTLS(se *config.ServiceEntry, serverName string) *tls.Config {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if v := se.Service.TLSVerify; v != nil && !*v {
		conf.InsecureSkipVerify = true
	}
	if len(se.Service.CACertificates) > 0 {
		// The CA certificates were parsed once, when the model was built,
		// and are indexed by id (caCertificates runs first).
		pool := x509.NewCertPool()
		digests := make([]string, 0, len(se.Service.CACertificates))
		for i, ref := range se.Service.CACertificates {
			ca := c.snap.certs.cas[ref]
			if ca == nil {
				c.fail(se.Path+".ca_certificates["+strconv.Itoa(i)+"]", "ca_certificate '%s' not found", ref)
				continue
			}
			pool.AddCert(ca.X509)
			digests = append(digests, ca.Digest)
		}
		conf.RootCAs = pool
		c.caKeys[conf] = strings.Join(digests, ",")
	}
	return conf
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
func (c *compiler) tlsKey(conf *tls.Config) string {
	key := "|" + conf.ServerName + "|" + strconv.FormatBool(conf.InsecureSkipVerify)
	if conf.RootCAs != nil {
		// Connections verified against one CA set must never serve a
		// service pinned to another, nor survive a CA rotation.
		key += "|ca:" + c.caKeys[conf]
	}
	return key
}

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
		h2TLS = h.c.upstreamTLS(se, se.Service.Host)
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
