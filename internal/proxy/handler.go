package proxy

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/pathsafe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Options are the proxy's edge settings.
type Options struct {
	Logger *slog.Logger
	// Observers are told of every request's record at its end, in order
	// (the access log is one).
	Observers []record.Observer
	// TrustedIPs are the peers whose X-Forwarded-*, X-Real-IP and request id
	// headers are believed.
	TrustedIPs TrustedIPs
	// RealIPHeader is the header a trusted peer names the client in
	// (canonical form; Kong's real_ip_header, default X-Real-IP), and
	// RealIPRecursive skips trusted addresses in it from the right (Kong's
	// real_ip_recursive).
	RealIPHeader    string
	RealIPRecursive bool
	// RequestIDHeader carries the request id upstream and downstream.
	RequestIDHeader string
	// MaxBodySize answers 413 above this many request body bytes (0: no limit).
	MaxBodySize int64
	// MaxURILength answers 414 above this request-target length.
	MaxURILength int
	// AllowEncodedSlashes lets %2F, %5C and \ through in paths. They are
	// refused by default (400): an upstream that decodes them would see a
	// different path than the one the router and plugins checked.
	AllowEncodedSlashes bool
	// AllowDotParams lets "." and ".." segments with path
	// parameters (`..;`, `.;x`, `..%3B`) through. They are refused by
	// default (400): the router sees a plain name, but Tomcat and Spring
	// drop the parameters and then resolve the dot segment.
	AllowDotParams bool
	// ClientBodyTimeout bounds the wait between two reads of the client's
	// body (NGINX's client_body_timeout).
	ClientBodyTimeout time.Duration
	// Version goes into Via and Server headers.
	Version string
	// Metrics records the core series (nil: none).
	Metrics *observe.Metrics

	// Retries of upstream attempts (the number is each service's
	// `retries`); see retry.go for when a request is retried.

	// RetryBackoffBase and RetryBackoffCap shape the full-jitter backoff
	// between attempts: retry n waits a uniform random time in
	// [0, min(cap, base*2^n)]. 0 means the default (10 ms and 1 s); a
	// negative base means no backoff.
	RetryBackoffBase time.Duration
	RetryBackoffCap  time.Duration
	// RetryBudget is the extra load retries may add to a service, in
	// percent of its requests: each request earns RetryBudget/100 of a
	// retry, each retry that reached an upstream spends one (a reserve of
	// 10 and a ceiling of 100 retries per service). 0 means the default,
	// 20; negative means no budget.
	RetryBudget int
	// RetryOnStatuses are the upstream statuses an idempotent request is
	// retried on. nil means 502, 503 and 504; codes outside 100-599 are
	// ignored, so []int{0} turns status retries off.
	RetryOnStatuses []int
	// RetryBufferBytes is the largest request body buffered so that an
	// idempotent request can be retried; larger bodies are streamed and
	// not retried once sent. 0 means the default, 64 KiB; negative means
	// bodies are never buffered.
	RetryBufferBytes int64
	// MaxResponseHeaderBytes bounds an upstream response head, interim
	// (1xx) heads included; a larger one is a 502, not retried. 0 means
	// the default, 64 KiB.
	MaxResponseHeaderBytes int
	// RequestTimeout bounds each request from its first upstream attempt to
	// the upstream response head, across retries and backoff; on expiry
	// the client gets 504 and the upstream connection is closed. The body
	// is then bounded by the service's read_timeout between reads. 0: none.
	RequestTimeout time.Duration
}

// Handler serves proxied traffic from the snapshot in force.
type Handler struct {
	snap     *snapshot.Holder
	opts     Options
	ids      *idGen
	via      string
	server   string
	ctxPool  sync.Pool
	bufPool  sync.Pool
	h2       *h2Client
	requests atomic.Uint64
	// retry state
	retryStatus statusSet
	budgets     budgets
	bodyPool    sync.Pool
	// ownedHeaders are the configured headers whose underscore spellings
	// are dropped with the built-in ones (stripRequestHeaders).
	ownedHeaders []string
	// setHeaders are the headers setForwarded sets (Ctx.GatewayHeaders).
	setHeaders []string
}

// NewHandler makes the proxy handler.
func NewHandler(snap *snapshot.Holder, opts Options) *Handler {
	if opts.RequestIDHeader == "" {
		opts.RequestIDHeader = "X-Request-Id"
	}
	opts.RequestIDHeader = http.CanonicalHeaderKey(opts.RequestIDHeader)
	if opts.RealIPHeader == "" {
		opts.RealIPHeader = "X-Real-Ip"
	}
	opts.RealIPHeader = http.CanonicalHeaderKey(opts.RealIPHeader)
	if opts.MaxURILength == 0 {
		opts.MaxURILength = 16 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryBackoffBase == 0 {
		opts.RetryBackoffBase = DefaultRetryBackoffBase
	}
	if opts.RetryBackoffCap <= 0 {
		opts.RetryBackoffCap = DefaultRetryBackoffCap
	}
	if opts.RetryBudget == 0 {
		opts.RetryBudget = DefaultRetryBudget
	}
	if opts.RetryOnStatuses == nil {
		opts.RetryOnStatuses = DefaultRetryOnStatuses
	}
	if opts.MaxResponseHeaderBytes <= 0 {
		opts.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if opts.RetryBufferBytes == 0 {
		opts.RetryBufferBytes = DefaultRetryBufferBytes
	}
	h := &Handler{
		snap:   snap,
		opts:   opts,
		ids:    newIDGen(),
		via:    "1.1 turnpike/" + opts.Version,
		server: "turnpike/" + opts.Version,
		h2:     newH2Client(),
	}
	h.ownedHeaders = []string{opts.RealIPHeader, opts.RequestIDHeader}
	h.setHeaders = []string{"X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
		"X-Forwarded-Path", "X-Forwarded-Prefix", "Via", opts.RequestIDHeader}
	h.retryStatus = makeStatusSet(opts.RetryOnStatuses)
	h.budgets = budgets{percent: opts.RetryBudget, holder: snap}
	h.bodyPool.New = func() any { b := make([]byte, 0, pooledBodySize); return &b }
	h.ctxPool.New = func() any { return new(reqState) }
	h.bufPool.New = func() any { b := make([]byte, 32<<10); return &b }
	return h
}

// Requests is the number of requests served since start.
func (h *Handler) Requests() uint64 { return h.requests.Load() }

// Close releases idle upstream HTTP/2 connections.
func (h *Handler) Close() { h.h2.close() }

// Listener returns the handler for one listener, which knows the scheme
// and port that clients used (for X-Forwarded-Proto/Port and https-only
// routes).
func (h *Handler) Listener(scheme, port string) http.Handler {
	return &listenerHandler{h: h, scheme: scheme, port: port}
}

type listenerHandler struct {
	h      *Handler
	scheme string
	port   string
}

func (lh *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := lh.h
	h.requests.Add(1)
	st := h.ctxPool.Get().(*reqState)
	c := &st.Ctx
	c.Req = r
	c.Record = &st.rec
	c.StartedAt = time.Now()
	c.Scheme = lh.scheme
	ip, addr := clientAddr(r.RemoteAddr)
	c.ClientIP = ip
	st.trusted = len(h.opts.TrustedIPs) > 0 && h.opts.TrustedIPs.Contains(addr)
	c.TrustedPeer = st.trusted
	c.ForwardedIP = ip
	if st.trusted {
		if v := realIP(r.Header[h.opts.RealIPHeader], h.opts.TrustedIPs, h.opts.RealIPRecursive); v != "" {
			c.ForwardedIP = v
		}
	}
	if id := r.Header.Get(h.opts.RequestIDHeader); st.trusted && validRequestID(id) {
		c.RequestID = id
	} else {
		c.RequestID = h.ids.next()
	}
	c.Resp.Header = w.Header()

	st.cw = countingWriter{ResponseWriter: w}
	cw := &st.cw
	body := r.Body
	// When net/http will answer Expect: 100-continue (it answers any other
	// Expect with 417 before the handler).
	expect := r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.ContentLength != 0 && len(r.Header["Expect"]) > 0
	if expect {
		st.cont = &continueBody{body: body}
		r.Body = st.cont
	}
	h.serve(cw, r, st, lh)
	// net/http decides what to do with a body the handler left unread by
	// the body's type: with its own body it closes the connection when
	// 100 Continue was never sent and drops a large rest unread. Behind a
	// wrapper (ours or a plugin's) it would send 100 Continue and wait for
	// up to 256 KiB of body before the answer goes out. For the bounded
	// read of a smaller rest, the client gets the body timeout (already
	// set by each read of a body that was read).
	r.Body = body
	switch {
	case expect && !st.cont.read.Load():
		// 100 Continue never went out, so the client holds its body back:
		// net/http would wait for a small one until the body timeout before
		// it closes the connection. The answer is out by then, the deadline
		// only cuts that wait.
		http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
	case r.ProtoMajor == 1 && h.opts.ClientBodyTimeout > 0 && r.ContentLength != 0 && !r.Close && (st.dbody == nil || !st.dbody.read.Load()):
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.opts.ClientBodyTimeout))
	}
	c.Resp.Size = cw.n
	h.finish(st, r)
	abort := st.abort
	// The Shared map outlives its request emptied: the next request's
	// plugins fill it again without allocating.
	st.ReleaseShared()
	shared := st.Shared
	*st = reqState{}
	st.Shared = shared
	h.ctxPool.Put(st)
	if abort {
		panic(http.ErrAbortHandler)
	}
}

func (h *Handler) serve(w *countingWriter, r *http.Request, st *reqState, lh *listenerHandler) {
	c := &st.Ctx
	st.grpc = grpcKindOf(r)
	snap := h.snap.Load()
	if snap == nil {
		h.exit(w, st, plugin.NewExit(http.StatusServiceUnavailable, "The gateway has no configuration yet"))
		return
	}
	c.Secrets = snap.Secrets
	path, query, e := h.checkTarget(r)
	if e != nil {
		h.exit(w, st, e)
		return
	}
	st.rreq = router.Request{Method: r.Method, Host: r.Host, Path: path, Header: r.Header}
	if r.TLS != nil {
		st.rreq.SNI = r.TLS.ServerName
	}
	if !snap.Router.Match(&st.rreq, &st.match) {
		// The global plugins' response phases still run (Kong's), so a
		// request no route matched is logged, counted and traced.
		st.chain = snap.Unrouted
		h.exit(w, st, plugin.NewExit(http.StatusNotFound, msgNoRoute))
		return
	}
	route := snap.Routes[st.match.Route]
	st.route = route
	st.chain = route.Chain
	st.rec.Routed = time.Since(c.StartedAt)
	c.Route = &route.Info
	c.Directory = snap.Directory
	if e := route.ProtocolExit(r, lh.scheme == "https", st.trusted); e != nil {
		h.exit(w, st, e)
		return
	}
	svc := route.Service
	upgrade := stripRequestHeaders(r.Header, h.ownedHeaders)
	if svc != nil {
		c.Service = &svc.Info
		c.Path = router.UpstreamPath(svc.Path, path, st.match.MatchedPath, route.StripPath)
	} else {
		c.Path = path
	}
	c.Method = r.Method
	c.RawQuery = query
	c.ClientPath = path
	if st.match.Captures != nil {
		c.Captures = plugin.Captures{Positional: st.match.Captures, Names: st.match.CaptureNames, Unmatched: st.match.Unmatched}
	}

	if h.opts.MaxBodySize > 0 && r.ContentLength < 0 {
		r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodySize)
	}
	if r.ContentLength != 0 {
		st.dbody = &readBody{body: r.Body}
		if h.opts.ClientBodyTimeout > 0 {
			// The server's writer, not the pooled cw: an HTTP/2
			// upstream's transport may read the body after the handler
			// returned.
			st.dbody.rc, st.dbody.timeout = http.NewResponseController(w.ResponseWriter), h.opts.ClientBodyTimeout
		}
		r.Body = st.dbody
	}

	if err := h.access(st, route); err != nil {
		h.exitErr(w, st, err)
		return
	}
	if svc == nil {
		h.exit(w, st, plugin.NewExit(http.StatusServiceUnavailable, msgNoService))
		return
	}
	st.svc = svc
	if c.Target != nil {
		st.svc = retarget(c, route, svc)
	}
	// After the plugins, as Kong sets them (NGINX's proxy_set_header): the
	// plugins see the client's headers, and none can change these.
	h.setForwarded(r, st, lh, path, route)
	if !h.upstreamRequestValid(r, c, route, svc) {
		h.exit(w, st, plugin.NewExit(http.StatusBadRequest, msgBadRequest))
		return
	}
	switch {
	case upgrade != "":
		st.x.upgrade = upgrade
		h.forward(w, st, tunnelTransport{})
	case svc.HTTP2:
		h.forward(w, st, h2Transport{})
	default:
		h.forward(w, st, h1Transport{})
	}
}

// checkTarget holds the request target and declared body size to the
// edge limits; it returns the normalised path and the query, or the exit
// to answer with.
func (h *Handler) checkTarget(r *http.Request) (path, query string, e *plugin.Exit) {
	if len(r.RequestURI) > h.opts.MaxURILength {
		return "", "", plugin.NewExit(http.StatusRequestURITooLong, msgURITooLong)
	}
	rawPath, query := splitTarget(r)
	path, ok := router.NormalizePath(rawPath)
	if !ok || (!h.opts.AllowEncodedSlashes && pathsafe.HasEncodedSlash(rawPath)) ||
		(!h.opts.AllowDotParams && pathsafe.HasDotSegmentParams(path)) || !router.ValidHost(r.Host) {
		return "", "", plugin.NewExit(http.StatusBadRequest, msgBadRequest)
	}
	if h.opts.MaxBodySize > 0 && r.ContentLength > h.opts.MaxBodySize {
		return "", "", plugin.NewExit(http.StatusRequestEntityTooLarge, msgTooLarge)
	}
	return path, query, nil
}

// upstreamRequestValid holds the upstream path and Host, as the plugins
// left them, to the client's rules.
func (h *Handler) upstreamRequestValid(r *http.Request, c *plugin.Ctx, route *snapshot.Route, svc *snapshot.Service) bool {
	// The client path passed these rules, but joining it to the service
	// path after strip_path, or a plugin's rewrite, can break them anew.
	trusted := 0
	if strings.HasPrefix(c.Path, svc.Path) {
		trusted = len(svc.Path)
	}
	// A Host a plugin set from the request (request-transformer renders
	// one from headers or query arguments) is held to the client's rules.
	if !pathsafe.Upstream(c.Path, trusted, h.opts.AllowEncodedSlashes, h.opts.AllowDotParams) ||
		c.UpstreamHost != "" && !router.ValidHost(c.UpstreamHost) {
		return false
	}
	// HTTP/1.0 without Host, or an empty Host, leaves nothing to
	// preserve: the client's fault, not an error of the gateway.
	return !route.PreserveHost || c.UpstreamHost != "" || r.Host != ""
}

// exitErr answers with a plugin's error, running the header filters.
func (h *Handler) exitErr(w *countingWriter, st *reqState, err error) {
	e, ok := err.(*plugin.Exit)
	if !ok {
		h.opts.Logger.Error("plugin failed", "request_id", st.RequestID, "error", err)
		st.rec.Error = err.Error()
		e = plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	st.Resp.Status = e.Status
	for k, vs := range e.Header {
		st.Resp.Header[k] = vs
	}
	// The header filters may change what e.Header put in the response;
	// the copy without it keeps writeExit from putting it back. A copy on
	// the stack, not a second Exit per plugin answer (a cache hit).
	x := *e
	x.Header = nil
	h.headerFilters(st)
	if x.Body != nil && st.chain != nil {
		x.Body = h.exitBodyFilters(st, x.Body)
	}
	h.exit(w, st, &x)
}

// exit writes a gateway-made response. Once a route matched, its header
// filters run on it like on an upstream response, so that, for example,
// CORS headers are on a 502 too and a browser sees the real error.
func (h *Handler) exit(w *countingWriter, st *reqState, e *plugin.Exit) {
	st.Resp.Status = e.Status
	if st.chain != nil && !st.filtered {
		h.headerFilters(st)
	}
	hdr := w.Header()
	// The request state holds the values set here and writeExit's
	// Content-Length; each header gets its own full-capacity slice of it,
	// so that an append to one copies.
	vals := &st.exitVals
	vals[0], vals[1] = h.server, st.RequestID
	vals[2] = strconv.FormatInt(time.Since(st.StartedAt).Milliseconds(), 10)
	hdr["Server"] = vals[0:1:1]
	hdr[h.opts.RequestIDHeader] = vals[1:2:2]
	hdr["X-Turnpike-Response-Latency"] = vals[2:3:3]
	writeExit(w, st.Req, st.grpc, e, st.RequestID, vals[3:4:4])
}

// finish completes the request's record, runs the log phase after the
// response is out and hands the record to the observers.
func (h *Handler) finish(st *reqState, r *http.Request) {
	c := &st.Ctx
	rec := &st.rec
	rec.Time = c.StartedAt
	rec.RequestID = c.RequestID
	rec.ClientIP = c.ForwardedIP
	rec.Method = r.Method
	rec.URI = r.RequestURI
	rec.Host = r.Host
	rec.Proto = r.Proto
	rec.UserAgent = r.Header.Get("User-Agent")
	rec.Status = c.Resp.Status
	rec.BytesSent = c.Resp.Size
	if st.dbody != nil {
		rec.BytesReceived = st.dbody.n.Load()
	}
	rec.Source = record.SourceGateway
	if c.Resp.FromUpstream {
		rec.Source = record.SourceUpstream
	}
	if c.Route != nil {
		rec.Route = c.Route.Name
		if len(c.Route.Paths) > 0 {
			rec.RoutePath = c.Route.Paths[0]
		}
	}
	if c.Service != nil {
		rec.Service = c.Service.Name
	}
	if c.Consumer != nil {
		rec.Consumer = c.Consumer.Username
	}
	rec.Credential = c.Credential
	rec.Latency = time.Since(c.StartedAt)
	if st.chain != nil {
		h.logPhase(st)
	}
	for _, o := range h.opts.Observers {
		o.Observe(rec)
	}
}

// setForwarded sets the X-Forwarded-*, X-Real-IP, Via and request id
// headers for the upstream. Client-sent values survive only from trusted
// peers.
func (h *Handler) setForwarded(r *http.Request, st *reqState, lh *listenerHandler, path string, route *snapshot.Route) {
	c := &st.Ctx
	hdr := r.Header
	// The request state holds the values set here; each header gets its
	// own full-capacity slice of it, so that an append to one copies.
	vals := &st.fwdVals
	set := func(i int, k, v string) {
		vals[i] = v
		hdr[k] = vals[i : i+1 : i+1]
	}
	xff := c.ClientIP
	proto, fhost, fport, fpath := lh.scheme, r.Host, lh.port, path
	if st.trusted {
		if prior := hdr["X-Forwarded-For"]; len(prior) > 0 {
			xff = joinComma(prior) + ", " + c.ClientIP
		}
		if v := hdr.Get("X-Forwarded-Proto"); v != "" {
			proto = v
		}
		if v := hdr.Get("X-Forwarded-Host"); v != "" {
			fhost = v
		}
		if v := hdr.Get("X-Forwarded-Port"); v != "" {
			fport = v
		}
		if v := hdr.Get("X-Forwarded-Path"); v != "" {
			fpath = v
		}
		// As Kong's X-Real-IP $remote_addr after the realip module: the
		// client address the gateway worked out, never the one a client
		// wrote that the real-IP header did not vouch for.
		set(0, "X-Real-Ip", c.ForwardedIP)
	} else {
		set(0, "X-Real-Ip", c.ClientIP)
		delete(hdr, "X-Forwarded-Prefix")
	}
	set(1, "X-Forwarded-For", xff)
	set(2, "X-Forwarded-Proto", proto)
	set(3, "X-Forwarded-Host", stripPort(fhost))
	set(4, "X-Forwarded-Port", fport)
	set(5, "X-Forwarded-Path", fpath)
	if route.StripPath && st.match.MatchedPath != "" && st.match.MatchedPath != "/" {
		set(6, "X-Forwarded-Prefix", st.match.MatchedPath)
	}
	if via := hdr["Via"]; len(via) > 0 {
		set(7, "Via", joinComma(via)+", "+h.via)
	} else {
		set(7, "Via", h.via)
	}
	set(8, h.opts.RequestIDHeader, c.RequestID)
	c.GatewayHeaders = h.setHeaders
}

// noPeer answers 503 when the balancer has no target to offer (or the
// service's host name has no address), and counts it.
func (h *Handler) noPeer(w *countingWriter, st *reqState, svc *snapshot.Service, err error) {
	st.rec.Error = err.Error()
	if m := h.opts.Metrics; m != nil {
		m.NoHealthyTarget.WithLabelValues(svc.Info.Name).Inc()
	}
	msg := msgNoPeer
	if errors.Is(err, upstream.ErrNameResolution) {
		msg = msgNameResolution
	}
	h.upstreamError(w, st, plugin.NewExit(http.StatusServiceUnavailable, msg))
}

// pickRequest fills the balancer's view of the request; prev is the
// target of the attempt before (nil on the first).
func (h *Handler) pickRequest(st *reqState, prev *upstream.Target) *upstream.PickRequest {
	c := &st.Ctx
	p := &st.pick
	*p = upstream.PickRequest{Prev: prev, Req: c.Req, ClientIP: c.ForwardedIP, Path: c.ClientPath,
		Captures: st.match.Captures, CaptureNames: st.match.CaptureNames}
	if c.Consumer != nil {
		p.ConsumerID = c.Consumer.ID
	}
	return p
}

// upstreamHost is the Host header for the upstream: a plugin's override,
// else the client's with preserve_host, else the service's.
func upstreamHost(c *plugin.Ctx, route *snapshot.Route, svc *snapshot.Service) string {
	switch {
	case c.UpstreamHost != "":
		return c.UpstreamHost
	case route.PreserveHost:
		return c.Req.Host
	}
	return svc.HostHeader
}
