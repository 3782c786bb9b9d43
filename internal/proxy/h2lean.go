package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/h2up"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// newLean returns the lean HTTP/2 client that stands beside the
// service's net/http transport tr, with tr's settings.
func newLean(tr *http.Transport, svc *snapshot.Service) *h2up.Client {
	cfg := h2up.Config{
		Dial:           tr.DialContext,
		ConnectTimeout: tr.TLSHandshakeTimeout,
		MaxHeaderBytes: tr.MaxResponseHeaderBytes,
		IdleTimeout:    tr.IdleConnTimeout,
	}
	if svc.Scheme == "https" {
		// Clone settles net/http's lazy HTTP/2 set-up, which edits the
		// TLS config, before it is read.
		cfg.TLS = tr.Clone().TLSClientConfig
	}
	if tr.HTTP2 != nil {
		cfg.WriteTimeout = tr.HTTP2.WriteByteTimeout
	}
	return h2up.New(cfg)
}

// leanBody reads a request body short enough for the lean client into
// x.buf, once per request; ok is false when the request is not one the
// lean client takes (no length known, too long, request trailers).
func (x *exchange) leanBody(r *http.Request) (body []byte, ok bool, err error) {
	if x.leanDone {
		return x.leanReq, x.leanOK, nil
	}
	x.leanDone = true
	if len(r.Trailer) > 0 {
		return nil, false, nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		x.leanOK = true
		return nil, true, nil
	}
	n := r.ContentLength
	if n < 0 || n >= int64(len(x.buf)) {
		return nil, false, nil
	}
	got := 0
	for got <= int(n) {
		m, rerr := r.Body.Read(x.buf[got : n+1])
		got += m
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, false, &errClientBody{rerr}
		}
	}
	if got < int(n) {
		return nil, false, &errClientBody{io.ErrUnexpectedEOF}
	}
	if got > int(n) {
		return nil, false, &errClientBody{errors.New("the request body is longer than its Content-Length")}
	}
	x.leanReq, x.leanOK = x.buf[:n], true
	return x.leanReq, true, nil
}

// leanRoundTrip makes attempt a with the lean client; handled is false
// when the request is left to net/http (nothing of it was sent, and a
// body read here is in x.leanReq for net/http to send).
func (h *Handler) leanRoundTrip(x *exchange, a *attempt, lc *h2up.Client) (resp *http.Response, handled bool, err error) {
	r, svc, c := x.st.Req, x.svc, &x.st.Ctx
	body, ok, err := x.leanBody(r)
	if err != nil {
		return nil, true, err
	}
	if !ok {
		return nil, false, nil
	}
	path := c.Path
	if c.RawQuery != "" {
		path += "?" + c.RawQuery
	}
	scheme := "http"
	if svc.Scheme == "https" {
		scheme = "https"
	}
	resp, err = lc.RoundTrip(r.Context(), &h2up.Request{
		Addr: a.target.Addr, Method: c.Method, Scheme: scheme, Authority: upstreamHost(c, x.st.route, svc),
		Path: path, Header: r.Header, Body: body, HeadTimeout: headTimeout(r.Header, svc.ReadTimeout),
	})
	if errors.Is(err, h2up.ErrUnsupported) {
		return nil, false, nil
	}
	return resp, true, err
}

// leanFallback is the body net/http sends for a request whose body the
// lean client read but did not send: a copy, since net/http may go on
// writing it from its own goroutine after the head came, while the pooled
// buffer it was read into carries the response (and, after the handler,
// another request).
func (x *exchange) leanFallback() io.ReadCloser {
	return io.NopCloser(bytes.NewReader(bytes.Clone(x.leanReq)))
}

// noCancel is the cancel of a lean stream: closing its body ends it.
func noCancel() {}
