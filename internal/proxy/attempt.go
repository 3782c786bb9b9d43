package proxy

import (
	"context"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// attempt is one try of a request on one upstream target. It is the only
// place an attempt is reported: to the target (in flight, passive health,
// latency average), to the request's record (which the access log and
// the retry bookkeeping read) and to the plugins (Ctx.Upstream). The
// attempt's facts are written once, in its record.Attempt.
type attempt struct {
	st     *reqState
	target *upstream.Target
	start  time.Time
	i      int  // index in st.rec.Attempts
	tunnel bool // a WebSocket tunnel took over the connection
}

// begin starts an attempt on t and counts it in flight there. The
// attempt lives in the pooled request state: the transports it is handed
// to are interfaces, through which a local one would escape.
func (st *reqState) begin(t *upstream.Target) *attempt {
	now := clock.Now()
	i := st.rec.AddAttempt(t.Addr, now.Sub(st.StartedAt))
	t.Begin()
	st.x.a = attempt{st: st, target: t, start: now, i: i}
	return &st.x.a
}

func (a *attempt) rec() *record.Attempt { return &a.st.rec.Attempts[a.i] }

// connected marks when a connection was in hand.
func (a *attempt) connected() { a.rec().Connected = time.Since(a.start) }

// fail ends an attempt that got no usable response head.
func (a *attempt) fail(ctx context.Context, err error, f retryFailure) {
	r := a.rec()
	r.End = time.Since(a.start)
	switch f {
	case failConnect:
		r.Outcome = record.OutcomeConnectError
	case failTimeout:
		r.Outcome = record.OutcomeTimeout
	default:
		r.Outcome = record.OutcomeError
	}
	a.target.End(failureOutcome(ctx, err))
	a.publishFailure(err)
}

// dropped ends an attempt whose response has a retryable status and is
// not passed on.
func (a *attempt) dropped(status int) {
	r := a.rec()
	r.Status, r.Outcome = status, record.OutcomeStatus
	r.End = time.Since(a.start)
	a.target.End(upstream.Outcome{Status: status, Latency: r.Head})
	a.publish()
}

// head marks the response head's arrival.
func (a *attempt) head() { a.rec().Head = time.Since(a.start) }

// responded makes the attempt the one whose response goes to the client;
// the target counts it in flight until done.
func (a *attempt) responded(status int) {
	r := a.rec()
	r.Status, r.Outcome = status, record.OutcomeResponse
	a.st.rec.Answered = a.i + 1
	a.publish()
}

// upgraded reports a WebSocket handshake's outcome to passive health and
// the latency average now; the tunnel stays in flight (least-connections)
// until done, which then reports nothing more.
func (a *attempt) upgraded() {
	r := a.rec()
	a.target.Begin()
	a.target.End(upstream.Outcome{Status: r.Status, Latency: r.Head})
	a.tunnel = true
}

// done ends the attempt whose response went to the client; err is a
// failure of its body before anything of it went out.
func (a *attempt) done(ctx context.Context, err error, bytesIn int64) {
	r := a.rec()
	r.End = time.Since(a.start)
	r.BytesIn = bytesIn
	switch {
	case a.tunnel:
		a.target.End(upstream.Outcome{})
	case err != nil:
		r.Outcome = record.OutcomeError
		a.target.End(failureOutcome(ctx, err))
		a.publishFailure(err)
	default:
		a.target.End(upstream.Outcome{Status: r.Status, Latency: r.Head})
	}
}

// publish and publishFailure tell log-phase plugins (circuit breakers)
// what the attempt ended with.
func (a *attempt) publish() {
	r := a.rec()
	a.st.Upstream = plugin.UpstreamResult{Addr: r.Target, Status: r.Status, Latency: r.Head, Tries: len(a.st.rec.Attempts)}
}

func (a *attempt) publishFailure(err error) {
	a.st.Upstream = plugin.UpstreamResult{Addr: a.target.Addr, Failed: true, TimedOut: isTimeout(err), Tries: len(a.st.rec.Attempts)}
}
