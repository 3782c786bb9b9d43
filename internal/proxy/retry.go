package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// Retries of the attempt loop (forward in transport.go), the same for
// every transport within what it allows: HTTP/1.1 all of the below,
// HTTP/2 (gRPC) and WebSocket handshakes connection failures only (a
// gRPC body is a stream, a handshake is not sent twice).
//
// When an attempt may be repeated:
//   - a connection that could not be made (refused, unreachable, connect
//     timeout, TLS handshake): nothing reached the upstream, so any method;
//   - for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) whose body,
//     if any, was buffered: any transport error or timeout before the
//     response head, and a response whose status is in RetryOnStatuses
//     (that response is drained or its connection closed, never shown);
//   - a kept-alive connection the upstream had closed while idle, for a
//     request without a body (the resend that predates retries; it is not
//     counted against `retries` or the budget).
//
// A request that reached the upstream with another method (POST, PATCH,
// ...) is never sent again. A timeout is retried only when the service has
// more than one target: a hung upstream would otherwise multiply the
// client's wait by retries+1.
//
// Limits: the service's `retries`, the per-service retry budget, the
// request deadline and the client's context. Between attempts the loop
// sleeps a full-jitter exponential backoff, except for the first retry
// after a connection failure, which goes at once to the next target.

// Defaults of the retry options.
const (
	DefaultRetryBackoffBase = 10 * time.Millisecond
	DefaultRetryBackoffCap  = time.Second
	DefaultRetryBudget      = 20 // percent
	DefaultRetryBufferBytes = 64 << 10
)

// DefaultRetryOnStatuses are the statuses an idempotent request is retried
// on when Options.RetryOnStatuses is nil.
var DefaultRetryOnStatuses = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Retry budget shape: the balance starts with budgetReserve retries, each
// first attempt adds percent/100 of one and each budgeted retry takes one;
// the balance never exceeds budgetCap retries (so a long quiet spell does
// not bank an unbounded burst for the next outage).
const (
	budgetUnit    = 1000 // milli-retries
	budgetReserve = 10 * budgetUnit
	budgetCap     = 100 * budgetUnit
)

// drainLimit is the largest body of a retried response that is read off so
// that its connection can be reused; larger ones close the connection.
const drainLimit = 16 << 10

// drainTimeout bounds the wait for the body of a retried response.
const drainTimeout = 250 * time.Millisecond

// pooledBodySize is the capacity of pooled request-body buffers.
const pooledBodySize = 64 << 10

// idempotent reports the methods that may be repeated once they reached
// the upstream.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// backoff is the full-jitter delay before retry n (0-based): uniform in
// [0, min(limit, base*2^n)]. A base of 0 or less means no delay.
func backoff(n int, base, limit time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	ceil := base
	for i := 0; i < n && ceil < limit; i++ {
		ceil *= 2
	}
	if limit > 0 && ceil > limit {
		ceil = limit
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryBudget bounds a service's retries to a share of its traffic. A nil
// budget allows every retry.
type retryBudget struct {
	milli   atomic.Int64
	deposit int64 // milli-retries earned per first attempt
}

func newRetryBudget(percent int) *retryBudget {
	b := &retryBudget{deposit: int64(percent) * budgetUnit / 100}
	b.milli.Store(budgetReserve)
	return b
}

// earn records a first attempt.
func (b *retryBudget) earn() {
	if b == nil || b.deposit == 0 {
		return
	}
	if v := b.milli.Add(b.deposit); v > budgetCap {
		b.milli.CompareAndSwap(v, budgetCap)
	}
}

// spend takes one retry from the budget; false when there is none left.
func (b *retryBudget) spend() bool {
	if b == nil {
		return true
	}
	for {
		v := b.milli.Load()
		if v < budgetUnit {
			return false
		}
		if b.milli.CompareAndSwap(v, v-budgetUnit) {
			return true
		}
	}
}

// budgets holds one retry budget per service, kept across reloads by
// service id. Lookups on the request path read an immutable table keyed
// by the service pointers of the snapshot in force; it is rebuilt (and
// budgets of services gone from the configuration forgotten) when a
// request brings a service the table does not know.
type budgets struct {
	percent int
	holder  *snapshot.Holder
	table   atomic.Pointer[budgetTable]
	mu      sync.Mutex
	byID    map[string]*retryBudget
}

type budgetTable struct {
	snap *snapshot.Snapshot
	m    map[*snapshot.Service]*retryBudget
}

func (bs *budgets) get(svc *snapshot.Service) *retryBudget {
	if bs.percent < 0 {
		return nil
	}
	if t := bs.table.Load(); t != nil {
		if b, ok := t.m[svc]; ok {
			return b
		}
	}
	return bs.slow(svc)
}

func (bs *budgets) slow(svc *snapshot.Service) *retryBudget {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	snap := bs.holder.Load()
	if t := bs.table.Load(); snap != nil && (t == nil || t.snap != snap) {
		byID := make(map[string]*retryBudget, len(snap.Services))
		m := make(map[*snapshot.Service]*retryBudget, len(snap.Services))
		for _, s := range snap.Services {
			b := byID[s.Info.ID]
			if b == nil {
				if b = bs.byID[s.Info.ID]; b == nil {
					b = newRetryBudget(bs.percent)
				}
				byID[s.Info.ID] = b
			}
			m[s] = b
		}
		bs.byID = byID
		bs.table.Store(&budgetTable{snap: snap, m: m})
		if b, ok := m[svc]; ok {
			return b
		}
	}
	// A request still on a retired snapshot, or a service compiled outside
	// the holder (tests): share the budget by id without caching.
	if bs.byID == nil {
		bs.byID = map[string]*retryBudget{}
	}
	b := bs.byID[svc.Info.ID]
	if b == nil {
		b = newRetryBudget(bs.percent)
		bs.byID[svc.Info.ID] = b
	}
	return b
}

// statusSet is a set of HTTP statuses 0-639.
type statusSet [10]uint64

func makeStatusSet(codes []int) statusSet {
	var s statusSet
	for _, c := range codes {
		if c >= 100 && c < 600 {
			s[c>>6] |= 1 << (c & 63)
		}
	}
	return s
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code>>6]&(1<<(code&63)) != 0
}

// retrier is the retry bookkeeping of one request.
type retrier struct {
	h        *Handler
	svc      *snapshot.Service
	budget   *retryBudget
	deadline time.Time // zero: no request deadline
	retried  int       // retries made (stale keep-alive resends not counted)
	idem     bool      // the method may be repeated once it reached the upstream
	replay   bool      // the request body (if any) can be sent again
}

// retryFailure classifies what an attempt ended with, for the decision.
type retryFailure uint8

const (
	failConnect retryFailure = iota // nothing reached the upstream
	failTimeout                     // sent, then no response head in time
	failError                       // sent, then reset or closed
	failStatus                      // a response with a retryable status
	failFinal                       // never retried: the client's body failed, or every target would answer the same
	failStale                       // a kept-alive connection the upstream had closed while idle
)

// useBudget gives the retrier the retry budget of owner (the service the
// attempts spend for: a plugin's target spends its route's) and earns the
// request's share, when the service retries at all.
func (rt *retrier) useBudget(owner *snapshot.Service) {
	if rt.svc.Retries > 0 {
		rt.budget = rt.h.budgets.get(owner)
		rt.budget.earn()
	}
}

// next decides whether another attempt follows one that failed with f,
// made the attempts-th: a kept-alive connection the upstream had closed
// is resent at once, once per attempt allowed, outside retries and the
// budget (this predates retries); otherwise allow decides.
func (rt *retrier) next(ctx context.Context, f retryFailure, attempts int) (time.Duration, bool) {
	if f == failStale {
		if attempts <= rt.svc.Retries+1 && ctx.Err() == nil {
			return 0, true
		}
		f = failError
	}
	return rt.allow(ctx, f)
}

// allow decides whether another attempt may follow and returns the delay
// before it. It spends budget only when the answer is yes.
func (rt *retrier) allow(ctx context.Context, f retryFailure) (time.Duration, bool) {
	if f == failFinal || rt.retried >= rt.svc.Retries || ctx.Err() != nil {
		return 0, false
	}
	if f != failConnect && !(rt.idem && rt.replay) {
		return 0, false
	}
	if f == failTimeout && len(rt.svc.Balancer.Targets()) < 2 {
		return 0, false
	}
	var d time.Duration
	if f != failConnect || rt.retried > 0 {
		d = backoff(rt.retried, rt.h.opts.RetryBackoffBase, rt.h.opts.RetryBackoffCap)
	}
	if !rt.deadline.IsZero() && !time.Now().Add(d).Before(rt.deadline) {
		return 0, false
	}
	// A connection that was never made put no load on any upstream, so
	// retrying it cannot amplify an outage: only retries of requests that
	// reached an upstream spend budget.
	if f != failConnect && !rt.budget.spend() {
		return 0, false
	}
	rt.retried++
	return d, true
}

// capDeadline returns t, or the request deadline when that comes first.
func (rt *retrier) capDeadline(t time.Time) time.Time {
	if !rt.deadline.IsZero() && rt.deadline.Before(t) {
		return rt.deadline
	}
	return t
}

// connectTimeout is the service's connect timeout, cut to the request
// deadline; 0 or less when the deadline has passed.
func (rt *retrier) connectTimeout() time.Duration {
	ct := rt.svc.ConnectTimeout
	if !rt.deadline.IsZero() {
		ct = min(ct, time.Until(rt.deadline))
	}
	return ct
}

// bufferBody reads a body of at most limit bytes into a pooled buffer so
// that it can be sent again. For a body of unknown length it reads up to
// limit+1 bytes: a larger body is streamed, starting with what was read,
// and cannot be replayed. It returns the buffered body (nil when the body
// is streamed), the reader to stream otherwise, and the body's length.
func (h *Handler) bufferBody(body io.Reader, cl int64, bp **[]byte) (replay []byte, stream io.Reader, n int64, err error) {
	limit := h.opts.RetryBufferBytes
	if cl > limit {
		return nil, &clientBody{body}, cl, nil
	}
	p := h.bodyPool.Get().(*[]byte)
	*bp = p
	b := (*p)[:0]
	if cl > 0 {
		if int64(cap(b)) < cl {
			b = make([]byte, 0, cl)
		}
		b = b[:cl]
		if _, err := io.ReadFull(&clientBody{body}, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = &errClientBody{err}
			}
			return nil, nil, 0, err
		}
		return b, nil, cl, nil
	}
	// Unknown length: read until EOF or past the limit.
	cb := &clientBody{body}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, rerr := cb.Read(b[len(b):min(int64(cap(b)), limit+1)])
		b = b[:len(b)+m]
		if rerr == io.EOF {
			if int64(len(b)) <= limit {
				*p = b[:0]
				return b, nil, int64(len(b)), nil
			}
			break
		}
		if rerr != nil {
			return nil, nil, 0, rerr
		}
		if int64(len(b)) > limit {
			break
		}
	}
	*p = b[:0]
	return nil, io.MultiReader(bytesReader(b), cb), -1, nil
}

// bytesReader reads b once.
func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// putBody returns a pooled body buffer, unless it grew past the pooled
// size (then it is left to the collector).
func (h *Handler) putBody(p *[]byte) {
	if p != nil && cap(*p) <= pooledBodySize {
		h.bodyPool.Put(p)
	}
}

// failureKind classifies a failed exchange. A response head over the size
// limit, or a switch of protocols nobody asked for, is what the upstream
// software does, not a failure of one target.
func failureKind(err error) retryFailure {
	var cb *errClientBody
	var pe *plugin.Exit
	if errors.As(err, &cb) || errors.As(err, &pe) || errors.Is(err, errHeadTooLarge) || errors.Is(err, errBadSwitch) {
		return failFinal
	}
	if isTimeout(err) {
		return failTimeout
	}
	return failError
}
