package grpcweb

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
)

var (
	errBadText  = errors.New("request body is not valid base64")
	errTooLarge = errors.New("request body too large")
)

// textDecoder decodes a grpc-web-text request body as it arrives. A client
// may send the body as several base64 strings one after the other, each
// padded, so the body is decoded quantum by quantum (4 characters, 3
// bytes or fewer when padded) rather than as one base64 string. Line
// breaks, which base64.StdEncoding would skip, are refused: no client
// sends them, and skipping them would shift the quanta.
type textDecoder struct {
	q   [4]byte
	nq  int
	out []byte
	max int // the most bytes out may hold
}

// Write decodes p, keeping an incomplete quantum for the next call.
func (d *textDecoder) Write(p []byte) error {
	for len(p) > 0 {
		if d.nq > 0 || len(p) < 4 {
			for d.nq < 4 && len(p) > 0 {
				d.q[d.nq] = p[0]
				d.nq++
				p = p[1:]
			}
			if d.nq == 4 {
				if err := d.quantum(); err != nil {
					return err
				}
			}
			continue
		}
		k := bytes.IndexByte(p, '=')
		if k < 0 {
			k = len(p)
		}
		n := k / 4 * 4
		if n == 0 {
			// The next quantum holds the padding.
			copy(d.q[:], p[:4])
			d.nq = 4
			p = p[4:]
			if err := d.quantum(); err != nil {
				return err
			}
			continue
		}
		if err := d.decode(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// decode decodes whole unpadded quanta.
func (d *textDecoder) decode(src []byte) error {
	want := len(src) / 4 * 3
	if len(d.out)+want > d.max {
		return errTooLarge
	}
	at := len(d.out)
	d.out = grow(d.out, want)
	n, err := base64.StdEncoding.Decode(d.out[at:at+want], src)
	if err != nil || n != want {
		// n is short when src held line breaks.
		return errBadText
	}
	d.out = d.out[:at+n]
	return nil
}

// quantum decodes the 4 characters in d.q, which may end in padding.
func (d *textDecoder) quantum() error {
	d.nq = 0
	for _, c := range d.q {
		if c == '\r' || c == '\n' {
			return errBadText
		}
	}
	var b [3]byte
	n, err := base64.StdEncoding.Decode(b[:], d.q[:])
	if err != nil || n == 0 {
		return errBadText
	}
	if len(d.out)+n > d.max {
		return errTooLarge
	}
	d.out = append(d.out, b[:n]...)
	return nil
}

// Close reports a body that ended inside a quantum.
func (d *textDecoder) Close() error {
	if d.nq != 0 {
		return errBadText
	}
	return nil
}

// grow extends b by n bytes, reallocating when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// readBody reads a request body of at most max bytes once decoded (base64
// when text), reading raw bytes through scratch. size is the declared
// length, -1 when unknown.
func readBody(r io.Reader, text bool, size int64, max int, scratch []byte) ([]byte, error) {
	hint := 4096
	if size >= 0 {
		if text {
			size = size / 4 * 3
		}
		if size > int64(max) {
			return nil, errTooLarge
		}
		// The server holds the body to its declared length.
		hint = int(size)
	}
	d := textDecoder{out: make([]byte, 0, hint), max: max}
	for {
		n, err := r.Read(scratch)
		if n > 0 {
			if text {
				if werr := d.Write(scratch[:n]); werr != nil {
					return nil, werr
				}
			} else {
				if len(d.out)+n > max {
					return nil, errTooLarge
				}
				d.out = append(d.out, scratch[:n]...)
			}
		}
		if err == io.EOF {
			return d.out, d.Close()
		}
		if err != nil {
			return nil, err
		}
	}
}
