package proxy

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// continueBody records whether anyone asked for the request body; the
// HTTP/2 client reads it from goroutines of its own.
type continueBody struct {
	body io.ReadCloser
	read atomic.Bool
}

func (b *continueBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.body.Read(p)
}

func (b *continueBody) Close() error { return b.body.Close() }

// countingWriter counts body bytes sent to the client.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// deadlineBody renews the client connection's read deadline before each
// read of the body, so a client that stops sending mid-body is cut off
// after ClientBodyTimeout instead of holding the request forever.
type deadlineBody struct {
	rc      *http.ResponseController
	body    interface{ Read([]byte) (int, error) }
	timeout time.Duration
	read    atomic.Bool // a read was made, and with it the deadline set
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	d.read.Store(true)
	d.rc.SetReadDeadline(time.Now().Add(d.timeout))
	return d.body.Read(p)
}

// Close closes the underlying body.
func (d *deadlineBody) Close() error {
	if c, ok := d.body.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
