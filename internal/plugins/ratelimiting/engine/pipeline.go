package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/store"
)

const (
	// maxPipeline is the most script calls sent in one pipeline.
	maxPipeline = 128
	// callGrace is how long past its timeout a caller still waits for its
	// pipeline, which gives up at the timeout itself, to answer first:
	// the pipeline's failure then reaches the breaker before the caller
	// returns.
	callGrace = 10 * time.Millisecond
)

// errQueued is the cause of a call that waited its whole timeout in the
// queue.
var errQueued = fmt.Errorf("no round trip free within the timeout: %w", context.DeadlineExceeded)

// A call's state: pending until the pipeline finishes it or its caller
// gives up on it, whichever comes first. The other side then frees it.
const (
	callPending uint32 = iota
	callDone
	callAbandoned
)

// call is one script invocation on its way through a pipeline. Calls are
// reused: whoever sees it last (its caller, or the pipeline when the
// caller gave up) puts it back.
type call struct {
	script   *redis.Script
	args     []any // EVALSHA's arguments, the command's name first
	key      string
	nums     [2]int64 // arguments args points to
	cmd      *redis.IntSliceCmd
	deadline time.Time
	err      error // set when the script was not sent, or its caller is gone
	state    atomic.Uint32
	done     chan struct{} // one value when the pipeline finished the call
	timer    *time.Timer
}

// pipeline sends the script calls of many concurrent decisions together,
// with at most inFlight round trips in flight. A call that finds nothing
// queued and a round trip free is sent at once by its own goroutine, as
// a plain command: a lone call waits for nobody and pays no hand-off.
// Calls that arrive while every round trip is taken queue up; when one
// comes back, a worker (up to inFlight are started as needed, and stay
// until close) sends everything queued, up to maxPipeline calls, as one
// pipeline and hands each caller its reply. Under load round trips are
// shared, with no linger timer and no wait for a batch to fill.
type pipeline struct {
	client   redis.UniversalClient
	breaker  *gobreaker.CircuitBreaker[any]
	timeout  time.Duration
	inFlight int
	calls    sync.Pool
	wg       sync.WaitGroup

	mu      sync.Mutex
	ready   sync.Cond // signaled when a worker can send, broadcast on close
	queue   []*call
	sending int  // round trips in flight, at most inFlight
	workers int  // started
	idle    int  // waiting, and not yet signaled
	waking  bool // a worker was signaled or started and has not looked yet
	closed  bool
}

func newPipeline(client redis.UniversalClient, breaker *gobreaker.CircuitBreaker[any], timeout time.Duration, inFlight int) *pipeline {
	p := &pipeline{client: client, breaker: breaker, timeout: timeout, inFlight: inFlight}
	p.ready.L = &p.mu
	p.calls.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &call{done: make(chan struct{}, 1), timer: t}
	}
	return p
}

// newCall is a call of s; the caller appends the key and the script's
// arguments to its args.
func (p *pipeline) newCall(s *redis.Script, sha any) *call {
	c := p.calls.Get().(*call)
	c.script = s
	c.args = append(c.args[:0], "evalsha", sha, 1)
	return c
}

// free puts c back for reuse, forgetting its key and reply.
func (p *pipeline) free(c *call) {
	clear(c.args)
	c.script, c.key, c.cmd, c.err = nil, "", nil, nil
	c.state.Store(callPending)
	p.calls.Put(c)
}

// do sends c and waits for its reply, at most the timeout (or until ctx
// is done). c must not be used afterwards.
func (p *pipeline) do(ctx context.Context, c *call) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		p.free(c)
		return nil, &unavailableError{err}
	}
	c.cmd = redis.NewIntSliceCmd(context.Background(), c.args...)
	c.cmd.SetFirstKeyPos(3) // EVALSHA sha 1 key: the key routes the call in a cluster
	c.deadline = time.Now().Add(p.timeout)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.free(c)
		return nil, errClosed
	}
	if len(p.queue) == 0 && p.sending < p.inFlight {
		p.sending++
		p.mu.Unlock()
		p.sendAlone(ctx, c)
		p.mu.Lock()
		p.sending--
		if len(p.queue) > 0 {
			p.wake() // calls queued behind this one
		}
		p.mu.Unlock()
		return p.result(c)
	}
	p.queue = append(p.queue, c)
	p.wake()
	p.mu.Unlock()
	c.timer.Reset(p.timeout + callGrace)
	var cause error
	select {
	case <-c.done:
		c.timer.Stop()
		return p.result(c)
	case <-c.timer.C:
		cause = fmt.Errorf("no answer within %v: %w", p.timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		cause = ctx.Err()
		c.timer.Stop()
	}
	if !c.state.CompareAndSwap(callPending, callAbandoned) {
		<-c.done // finished meanwhile: its reply is there
		return p.result(c)
	}
	return nil, &unavailableError{cause}
}

// result is a finished call's reply or error; it frees c.
func (p *pipeline) result(c *call) ([]int64, error) {
	defer p.free(c)
	if c.err != nil {
		return nil, c.err
	}
	vals, err := c.cmd.Result()
	if err != nil {
		if store.Unreachable(err) {
			return nil, &unavailableError{err}
		}
		return nil, fmt.Errorf("ratelimit: redis: %w", err)
	}
	return vals, nil
}

// wake gets a worker to the queue when a round trip is free: an idle
// one, or a new one while fewer than inFlight run, unless one is already
// on its way (it takes the whole queue). With every round trip taken, the
// first to come back sends the queue. p.mu is held.
func (p *pipeline) wake() {
	switch {
	case p.waking, p.sending >= p.inFlight:
	case p.idle > 0:
		p.idle--
		p.waking = true
		p.ready.Signal()
	case p.workers < p.inFlight:
		p.workers++
		p.waking = true
		p.wg.Add(1)
		go p.work()
	}
}

// work sends what is queued, a pipeline at a time, until close.
func (p *pipeline) work() {
	defer p.wg.Done()
	pipe := p.client.Pipeline()
	var batch []*call
	var cmds []redis.Cmder
	p.mu.Lock()
	for {
		for !p.closed && (len(p.queue) == 0 || p.sending >= p.inFlight) {
			p.waking = false
			p.idle++
			p.ready.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.waking = false
		p.sending++
		n := min(len(p.queue), maxPipeline)
		batch = append(batch[:0], p.queue[:n]...)
		rest := copy(p.queue, p.queue[n:])
		clear(p.queue[rest:])
		p.queue = p.queue[:rest]
		if rest > 0 {
			p.wake() // more than one pipeline's worth
		}
		p.mu.Unlock()

		live := batch[:0]
		now := time.Now()
		for _, c := range batch {
			switch {
			case c.state.Load() == callAbandoned:
				p.free(c) // its caller gave up before it was sent
			case !now.Before(c.deadline):
				// It waited its whole timeout for a round trip.
				c.err = &unavailableError{errQueued}
				p.finish(c)
			default:
				live = append(live, c)
			}
		}
		if len(live) > 0 {
			cmds = p.send(pipe, live, cmds)
		}
		clear(batch)
		p.mu.Lock()
		p.sending--
	}
}

// sendAlone runs c by itself, as a plain command, through the breaker,
// bounded by its deadline and ctx's. A failure because ctx ended is the
// caller's, not Redis': the breaker does not count it.
func (p *pipeline) sendAlone(ctx context.Context, c *call) {
	rctx, cancel := context.WithDeadline(ctx, c.deadline)
	_, err := p.breaker.Execute(func() (any, error) {
		_ = p.client.Process(rctx, c.cmd)
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := c.script.Load(rctx, p.client).Err(); err != nil {
				c.cmd.SetErr(err)
			} else {
				_ = p.client.Process(rctx, c.cmd)
			}
		}
		err := health(c)
		if err != nil && ended(ctx) != nil {
			return nil, context.Canceled
		}
		return nil, err
	})
	cancel()
	if err == nil {
		return
	}
	switch gone := ended(ctx); {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		c.err = errOpen
	case gone != nil:
		c.err = &unavailableError{gone}
	case p.isClosed():
		c.err = errClosed
	}
}

// ended is ctx's error, also when its deadline has passed but its timer
// has not fired yet (a read that timed out at the same deadline may
// return first).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, _ := ctx.Deadline(); record.Expired(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// isClosed reports whether close has begun.
func (p *pipeline) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// send runs calls as one pipeline through the breaker, for which the
// whole pipeline is one call, and finishes them.
func (p *pipeline) send(pipe redis.Pipeliner, calls []*call, cmds []redis.Cmder) []redis.Cmder {
	deadline := calls[0].deadline
	for _, c := range calls[1:] {
		if c.deadline.Before(deadline) {
			deadline = c.deadline
		}
	}
	// Close ends a pipeline in flight by closing its connection.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_, err := p.breaker.Execute(func() (any, error) {
		cmds = p.exec(ctx, pipe, calls, cmds)
		return nil, health(calls...)
	})
	cancel()
	refused := errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
	closed := err != nil && !refused && p.isClosed()
	for _, c := range calls {
		switch {
		case refused:
			c.err = errOpen
		case closed && c.cmd.Err() != nil:
			c.err = errClosed
		}
		p.finish(c)
	}
	clear(cmds)
	return cmds[:0]
}

// exec sends the calls' scripts in one round trip. Scripts Redis does not
// know (a restart, SCRIPT FLUSH) are loaded, once each, and their calls
// sent again in a second round trip.
func (p *pipeline) exec(ctx context.Context, pipe redis.Pipeliner, calls []*call, cmds []redis.Cmder) []redis.Cmder {
	cmds = cmds[:0]
	for _, c := range calls {
		cmds = append(cmds, c.cmd)
	}
	_ = pipe.BatchProcess(ctx, cmds...)
	_, _ = pipe.Exec(ctx) // every command holds its own reply or error

	var loaded []*redis.Script
	var loadErrs []error
	retry := cmds[:0]
	for _, c := range calls {
		if err := c.cmd.Err(); err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			continue
		}
		i := 0
		for i < len(loaded) && loaded[i] != c.script {
			i++
		}
		if i == len(loaded) {
			// On a cluster this loads the script on every node.
			loaded = append(loaded, c.script)
			loadErrs = append(loadErrs, c.script.Load(ctx, p.client).Err())
		}
		if loadErrs[i] != nil {
			c.cmd.SetErr(loadErrs[i])
			continue
		}
		retry = append(retry, c.cmd)
	}
	if len(retry) > 0 {
		_ = pipe.BatchProcess(ctx, retry...)
		_, _ = pipe.Exec(ctx)
	}
	return cmds
}

// health is what the breaker learns from a pipeline: the first error that
// says Redis could not serve, or nil when Redis answered every call
// (even with a script error).
func health(calls ...*call) error {
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && store.Unreachable(err) {
			return err
		}
	}
	return nil
}

// finish hands c its reply, or frees it when its caller has gone.
func (p *pipeline) finish(c *call) {
	if c.state.CompareAndSwap(callPending, callDone) {
		c.done <- struct{}{}
		return
	}
	p.free(c)
}

// close fails the queued calls and the pipelines in flight with
// errClosed, closes the client and waits for the workers to end.
func (p *pipeline) close() {
	p.mu.Lock()
	p.closed = true
	queued := p.queue
	p.queue = nil
	p.ready.Broadcast()
	p.mu.Unlock()
	for _, c := range queued {
		c.err = errClosed
		p.finish(c)
	}
	p.client.Close() // also ends the reads of pipelines in flight
	p.wg.Wait()
}
