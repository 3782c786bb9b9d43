package server

import (
	"context"
	"sync"
)

// connCtx is the requests' context of a connection on the own HTTP/1
// path: it ends when the client goes away (h1watch.go) or the connection
// closes. It also runs one abort registered through OnDone when it ends,
// which is what the proxy registers for every upstream attempt (cut the
// upstream connection's I/O when the client is gone). context.AfterFunc
// would do the same but allocates twice on each call; here the slot is
// the connection's, reused request after request. A second registration
// while the slot is taken (a plugin's concurrent service calls) is
// refused, and its caller falls back to context.AfterFunc.
type connCtx struct {
	context.Context
	cancelCtx context.CancelFunc

	mu    sync.Mutex
	abort func()
	token uint64
	ended bool
}

func newConnCtx(parent context.Context) *connCtx {
	c := &connCtx{}
	c.Context, c.cancelCtx = context.WithCancel(parent)
	return c
}

// OnDone registers abort to run when the context ends. ok is false when
// the slot is taken or the context has ended: the caller registers
// otherwise (context.AfterFunc runs it at once on an ended context).
func (c *connCtx) OnDone(abort func()) (token uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abort != nil || c.ended {
		return 0, false
	}
	c.token++
	c.abort = abort
	return c.token, true
}

// StopOnDone undoes the registration token names. As context.AfterFunc's
// stop, true means the abort had not run and now will not; false, that
// it ran (or is running), or was stopped before.
func (c *connCtx) StopOnDone(token uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abort == nil || c.token != token {
		return false
	}
	c.abort = nil
	return true
}

// cancel ends the context and runs the registered abort, if any.
func (c *connCtx) cancel() {
	c.mu.Lock()
	abort := c.abort
	c.abort, c.ended = nil, true
	c.mu.Unlock()
	c.cancelCtx()
	if abort != nil {
		abort()
	}
}
