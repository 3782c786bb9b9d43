package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// h2Client sends requests of grpc/grpcs services over HTTP/2 with
// net/http's transport, which multiplexes streams and carries trailers.
type h2Client struct {
	plain  *http.Transport // h2c, prior knowledge
	secure *http.Transport
}

func newH2Client() *h2Client {
	plain := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 60 * time.Second, DisableCompression: true}
	plain.Protocols = new(http.Protocols)
	plain.Protocols.SetUnencryptedHTTP2(true)
	secure := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 60 * time.Second, DisableCompression: true,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	secure.Protocols = new(http.Protocols)
	secure.Protocols.SetHTTP2(true)
	return &h2Client{plain: plain, secure: secure}
}

func (c *h2Client) close() {
	c.plain.CloseIdleConnections()
	c.secure.CloseIdleConnections()
}

// forwardH2 proxies one request to an HTTP/2 (gRPC) upstream.
func (h *Handler) forwardH2(w *countingWriter, r *http.Request, st *reqState, route *snapshot.Route, svc *snapshot.Service) {
	c := &st.Ctx
	target, err := svc.Balancer.Pick(h.pickRequest(st, nil))
	if err != nil {
		h.noPeer(w, st, svc, err)
		return
	}
	st.upstream = target.Addr
	scheme, tr := "http", h.h2.plain
	if svc.Scheme == "https" {
		scheme, tr = "https", h.h2.secure
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// read_timeout bounds the wait for the response head; a gRPC stream
	// may then run as long as both sides keep it open.
	headTimer := time.AfterFunc(svc.ReadTimeout, cancel)
	out := &http.Request{
		Method:        c.Method,
		URL:           &url.URL{Scheme: scheme, Host: target.Addr, Opaque: c.Path, RawQuery: c.RawQuery},
		Header:        r.Header,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Host:          upstreamHost(c, route, svc),
		Trailer:       r.Trailer,
	}
	if r.ProtoMajor == 2 && r.Header.Get("Content-Type") != "" {
		out.Header["Te"] = []string{"trailers"}
	}
	out = out.WithContext(ctx)
	start := time.Now()
	resp, err := tr.RoundTrip(out)
	headTimer.Stop()
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			err = context.DeadlineExceeded
		}
		h.upstreamFailed(w, st, err)
		return
	}
	defer resp.Body.Close()
	st.upLatency = time.Since(start)
	st.upStatus = resp.StatusCode
	hdr := w.Header()
	for k, vs := range resp.Header {
		if isHopByHop(k) {
			continue
		}
		hdr[k] = vs
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" && len(resp.Trailer) == 0 {
		hdr.Del("Content-Length")
	}
	bufp := h.bufPool.Get().(*[]byte)
	defer h.bufPool.Put(bufp)
	h.respond(w, st, route, resp.StatusCode, resp.Body, true, *bufp, svc.ReadTimeout)
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
}

var _ io.Reader = (*bodyReader)(nil)
