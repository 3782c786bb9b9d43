package h2up

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// stream is one request's stream and its response body. The read loop
// fills it; the caller waits on notify for the head and for DATA.
type stream struct {
	cn     *conn
	id     uint32
	ctx    context.Context
	notify chan struct{}

	mu       sync.Mutex
	resp     *http.Response // the head, once it arrived
	buf      []byte         // DATA received, unread from off on
	off      int
	trailer  http.Header // received, for the reader to put in resp.Trailer
	err      error       // io.EOF after END_STREAM, or why the stream failed
	closed   bool        // the body was closed
	finished bool        // the slot went back to the connection

	// Guarded by cn.mu: the window granted to the server and what was
	// read of it since, and whether the server is done sending.
	recvWindow int64
	unacked    int64
	remoteDone bool
}

func newStream(cn *conn, id uint32, ctx context.Context) *stream {
	return &stream{cn: cn, id: id, ctx: ctx, notify: make(chan struct{}, 1), recvWindow: streamWindow}
}

func (st *stream) wake() {
	select {
	case st.notify <- struct{}{}:
	default:
	}
}

var errBodyClosed = errors.New("h2up: response body closed")

// awaitHead waits for the response head, the stream's end, ctx or
// deadline.
func (st *stream) awaitHead(deadline <-chan time.Time) (*http.Response, error) {
	for {
		st.mu.Lock()
		resp, err := st.resp, st.err
		st.mu.Unlock()
		if resp != nil {
			if resp.Body == http.NoBody {
				st.finish()
			}
			return resp, nil
		}
		if err != nil {
			st.finish()
			return nil, err
		}
		select {
		case <-st.notify:
		case <-st.ctx.Done():
			st.cancel()
			return nil, st.ctx.Err()
		case <-deadline:
			st.cancel()
			return nil, context.DeadlineExceeded
		}
	}
}

// Read reads the response body; io.EOF comes after the trailer is in
// Response.Trailer.
func (st *stream) Read(p []byte) (int, error) {
	for {
		st.mu.Lock()
		if st.off < len(st.buf) {
			n := copy(p, st.buf[st.off:])
			st.off += n
			if st.off == len(st.buf) {
				st.buf, st.off = st.buf[:0], 0
			}
			st.mu.Unlock()
			st.cn.giveBack(st, int64(n))
			return n, nil
		}
		err, tr := st.err, st.trailer
		st.trailer = nil
		st.mu.Unlock()
		if err != nil {
			if err == io.EOF && tr != nil {
				st.setTrailer(tr)
			}
			st.finish()
			return 0, err
		}
		select {
		case <-st.notify:
		case <-st.ctx.Done():
			st.cancel()
			return 0, st.ctx.Err()
		}
	}
}

// setTrailer puts the trailer in the response, on the reader's goroutine
// (as net/http does), so the caller may look at Response.Trailer any time.
func (st *stream) setTrailer(tr http.Header) {
	if st.resp.Trailer == nil {
		st.resp.Trailer = tr
		return
	}
	for k, vs := range tr {
		st.resp.Trailer[k] = vs
	}
}

// Close ends the stream (RST_STREAM CANCEL when the server still sends)
// and gives back what was left unread.
func (st *stream) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	unread := len(st.buf) - st.off
	st.buf, st.off = nil, 0
	st.err = errBodyClosed
	st.mu.Unlock()
	if unread > 0 {
		st.cn.giveBack(nil, int64(unread))
	}
	st.cancel()
	return nil
}

// cancel resets the stream if the server may still send on it, and lets
// go of it.
func (st *stream) cancel() {
	cn := st.cn
	cn.mu.Lock()
	open := !st.remoteDone && cn.err == nil
	st.remoteDone = true
	cn.mu.Unlock()
	if open {
		cn.writeControl(func(fr *http2.Framer) { fr.WriteRSTStream(st.id, http2.ErrCodeCancel) })
	}
	st.finish()
}

// finish gives the stream's slot back to the connection, once.
func (st *stream) finish() {
	st.mu.Lock()
	done := st.finished
	st.finished = true
	st.mu.Unlock()
	if done {
		return
	}
	cn := st.cn
	cn.mu.Lock()
	if cn.streams[st.id] == st {
		delete(cn.streams, st.id)
	}
	cn.mu.Unlock()
	cn.release()
}

// fail ends the stream with err; refused says the server did not
// process it, which makes a stream without a head resendable.
func (st *stream) fail(err error, refused bool) {
	st.mu.Lock()
	if st.err == nil {
		if refused && st.resp == nil {
			err = errRefused
		}
		st.err = err
	}
	st.mu.Unlock()
	st.wake()
}

// ackable counts n bytes read and says how much window to give back to
// the stream now; cn.mu is held.
func (st *stream) ackable(n int64) int64 {
	st.unacked += n
	if st.remoteDone || st.unacked < streamWindow/4 {
		return 0
	}
	v := st.unacked
	st.unacked = 0
	st.recvWindow += v
	return v
}

var _ io.ReadCloser = (*stream)(nil)
