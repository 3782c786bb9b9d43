package proxy

import (
	"io"
	"net/http"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// bodyReader streams an upstream response body and returns the connection
// to its pool when the body was read to its end.
type bodyReader struct {
	conn      *upstream.Conn
	remaining int64 // for Content-Length bodies
	chunked   io.Reader
	untilEOF  bool
	done      bool
	reusable  bool
	trailer   http.Header
	// trailerBudget is what the head left of the limit on header bytes.
	trailerBudget int
	// timeout is the service's read_timeout, which Kong applies between
	// two reads; the deadline is renewed at most every quarter of it.
	timeout time.Duration
	renewAt time.Time
	read    int64 // body bytes read, for the attempt's record
	// resp, when set, gets the trailer as the end is read, before the
	// body filters see io.EOF.
	resp *plugin.Response
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.readBody(p)
	b.read += int64(n)
	if err == io.EOF && b.resp != nil {
		b.resp.Trailer = b.trailer
	}
	return n, err
}

func (b *bodyReader) readBody(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.conn.R.Buffered() == 0 {
		if now := time.Now(); now.After(b.renewAt) {
			b.conn.RenewReadDeadline(now.Add(b.timeout))
			b.renewAt = now.Add(b.timeout / 4)
		}
	}
	switch {
	case b.chunked != nil:
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if terr := b.readTrailer(); terr != nil {
				return n, terr
			}
			b.done = true
		}
		return n, err
	case b.untilEOF:
		n, err := b.conn.R.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	if b.remaining <= 0 {
		b.done = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.conn.R.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.done = true
		if err == nil {
			err = io.EOF
		}
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readTrailer reads the trailer fields after the last chunk, held to the
// rules and the size limit of the head.
func (b *bodyReader) readTrailer() error {
	for {
		line, err := headLine(b.conn.R, &b.trailerBudget)
		if err != nil {
			return err
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return nil
		}
		name, value, ok := splitField(line)
		if !ok {
			return errBadResponse
		}
		k := canonicalKey(name)
		if forbiddenTrailer(k) {
			continue
		}
		if b.trailer == nil {
			b.trailer = http.Header{}
		}
		b.trailer[k] = append(b.trailer[k], string(value))
	}
}

// forbiddenTrailer names the fields an upstream's trailer may not carry
// to the client (RFC 9110 6.5.1): framing, hop-by-hop and routing fields,
// authentication and cookies, response control and the fields that say
// how to read the content. Clients that read a trailer into the header
// would otherwise take a Content-Length, Set-Cookie or Location that no
// header filter (CORS, response-transformer) and no log ever saw.
func forbiddenTrailer(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Te", "Connection", "Keep-Alive", "Proxy-Connection",
		"Upgrade", "Host", "Authorization", "Proxy-Authorization", "Www-Authenticate", "Proxy-Authenticate",
		"Set-Cookie", "Cookie", "Age", "Cache-Control", "Expires", "Date", "Location", "Retry-After", "Vary",
		"Warning", "Pragma", "Content-Type", "Content-Encoding", "Content-Range", "Expect", "Max-Forwards",
		"Range":
		return true
	}
	return false
}

// finish releases the connection: back to the pool when the body was
// consumed and the upstream keeps the connection open, closed otherwise.
func (b *bodyReader) finish() {
	if b.conn == nil {
		return
	}
	if b.done && b.reusable {
		b.conn.Release()
	} else {
		b.conn.Discard()
	}
	b.conn = nil
}
