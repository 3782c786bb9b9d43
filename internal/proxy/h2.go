package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// h2Client keeps track of the HTTP/2 transports of grpc/grpcs services.
// Each service brings its own (snapshot.Service.H2: its TLS settings,
// connect_timeout and write_timeout, shared between services with equal
// settings and carried over by reloads that leave them unchanged).
type h2Client struct {
	// seen holds every service transport that carried a request (as
	// *http.Transport keys), so that close reaches them and a reload's
	// replaced ones lose their idle connections early; mu serialises
	// the sweeps.
	seen sync.Map
	mu   sync.Mutex
}

func newH2Client() *h2Client { return &h2Client{} }

func (c *h2Client) close() {
	c.seen.Range(func(k, _ any) bool {
		k.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// h2Transport returns the transport for svc. The first time a service
// transport is seen (after startup, or after a reload that replaced one),
// the idle connections of the transports the snapshot in force no longer
// uses are closed. A transport still used by requests of an older
// snapshot keeps its busy connections, and whatever is left idle ends
// with its IdleConnTimeout anyway.
func (h *Handler) h2Transport(svc *snapshot.Service) *http.Transport {
	tr := svc.H2
	c := h.h2
	if _, ok := c.seen.Load(tr); ok {
		return tr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, loaded := c.seen.LoadOrStore(tr, struct{}{}); loaded {
		return tr
	}
	inUse := map[*http.Transport]bool{tr: true}
	if snap := h.snap.Load(); snap != nil {
		for _, s := range snap.Services {
			if s.H2 != nil {
				inUse[s.H2] = true
			}
		}
	}
	c.seen.Range(func(k, _ any) bool {
		if old := k.(*http.Transport); !inUse[old] {
			c.seen.Delete(old)
			old.CloseIdleConnections()
		}
		return true
	})
	return tr
}

// forwardH2 proxies one request to an HTTP/2 (gRPC) upstream. There is
// one attempt: a gRPC request body is a stream that cannot be replayed.
// The target counts the request in flight until the stream ends.
func (h *Handler) forwardH2(w *countingWriter, r *http.Request, st *reqState, route *snapshot.Route, svc *snapshot.Service) {
	c := &st.Ctx
	target, err := svc.Balancer.Pick(h.pickRequest(st, nil))
	if err != nil {
		h.noPeer(w, st, svc, err)
		return
	}
	st.upstream = target.Addr
	tr := h.h2Transport(svc)
	scheme := "http"
	if svc.Scheme == "https" {
		scheme = "https"
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
	// Credentials for the gateway itself never go upstream, and the
	// gateway answers Expect itself (as the HTTP/1.1 path does).
	delete(out.Header, "Proxy-Authorization")
	delete(out.Header, "Expect")
	out = out.WithContext(ctx)
	start := time.Now()
	target.Begin()
	resp, err := tr.RoundTrip(out)
	if !headTimer.Stop() && err == nil {
		// The head arrived as read_timeout ran out: the stream is already
		// cancelled.
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			err = context.DeadlineExceeded
		}
		target.End(failureOutcome(r.Context(), err))
		outcome := tryConnect
		if !h2DialFailed(err) {
			_, outcome = failureKind(err)
		}
		st.addTry(target, time.Since(start), 0, outcome)
		c.Upstream = failedResult(target, err, 1)
		h.upstreamFailed(w, st, err)
		return
	}
	defer resp.Body.Close()
	st.upLatency = time.Since(start)
	st.upStatus = resp.StatusCode
	st.addTry(target, st.upLatency, resp.StatusCode, tryResponse)
	c.Upstream = plugin.UpstreamResult{Addr: target.Addr, Status: resp.StatusCode, Latency: st.upLatency, Tries: 1}
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
	if err := h.respond(w, st, route, resp.StatusCode, resp.Body, true, *bufp, svc.ReadTimeout); err != nil {
		target.End(failureOutcome(r.Context(), err))
		st.tries[len(st.tries)-1].Outcome = tryError
		c.Upstream = failedResult(target, err, 1)
		return
	}
	target.End(upstream.Outcome{Status: resp.StatusCode, Latency: st.upLatency})
	for k, vs := range resp.Trailer {
		if !forbiddenTrailer(k) {
			hdr[http.TrailerPrefix+k] = vs
		}
	}
}

// h2DialFailed reports an error of the connection set-up (dial or TLS
// handshake), before anything of the request reached the upstream.
func h2DialFailed(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae)
}

var _ io.Reader = (*bodyReader)(nil)
