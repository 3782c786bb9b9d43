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

// readBody is the client's request body as the gateway reads it. It
// counts the bytes read (the record's BytesReceived: what arrived, not
// what the client declared) and, with a timeout, renews the connection's
// read deadline before each read, so a client that stops sending
// mid-body is cut off after ClientBodyTimeout instead of holding the
// request forever.
type readBody struct {
	rc      *http.ResponseController // nil: no deadline
	body    interface{ Read([]byte) (int, error) }
	timeout time.Duration
	read    atomic.Bool // a read was made, and with it the deadline set
	n       atomic.Int64
}

func (d *readBody) Read(p []byte) (int, error) {
	d.read.Store(true)
	if d.rc != nil {
		d.rc.SetReadDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.body.Read(p)
	d.n.Add(int64(n))
	return n, err
}

// Close closes the underlying body.
func (d *readBody) Close() error {
	if c, ok := d.body.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
