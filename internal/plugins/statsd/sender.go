package statsd

import (
	"bytes"
	"context"
	"net"
	"time"
)

// ioTimeout bounds a connect and a write (Kong's TCP socket timeout).
const ioTimeout = time.Second

// sender writes batches of entries (each a request's lines, joined by
// '\n') to the StatsD server: over TCP each line ends with '\n'; over
// UDP each line is a datagram, or, with udp_packet_size, lines are joined
// into datagrams of up to that many bytes (a longer line goes alone).
type sender struct {
	addr   string
	tcp    bool
	packet int
	conn   net.Conn
	buf    []byte
}

// Send is called by the queue's one goroutine.
func (s *sender) Send(ctx context.Context, batch [][]byte) error {
	if s.conn == nil {
		network := "udp"
		if s.tcp {
			network = "tcp"
		}
		d := net.Dialer{Timeout: ioTimeout}
		conn, err := d.DialContext(ctx, network, s.addr)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	s.buf = s.buf[:0]
	var err error
	for _, entry := range batch {
		for line := range bytes.SplitSeq(entry, []byte{'\n'}) {
			if err = s.add(line); err != nil {
				break
			}
		}
	}
	if err == nil && len(s.buf) > 0 {
		if s.tcp {
			err = s.write(s.buf)
		} else {
			err = s.write(s.buf[:len(s.buf)-1])
		}
	}
	if err != nil {
		s.Close()
	}
	return err
}

// add puts a line in the pending bytes (each followed by '\n'), writing
// out what a datagram can hold first.
func (s *sender) add(line []byte) error {
	switch {
	case s.tcp:
	case s.packet == 0:
		return s.write(line)
	case len(s.buf) > 0 && len(s.buf)+len(line) > s.packet:
		if err := s.write(s.buf[:len(s.buf)-1]); err != nil {
			return err
		}
		s.buf = s.buf[:0]
	}
	s.buf = append(append(s.buf, line...), '\n')
	return nil
}

func (s *sender) write(b []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := s.conn.Write(b)
	return err
}

// Close closes the connection; the next Send makes a new one.
func (s *sender) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
