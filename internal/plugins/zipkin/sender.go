package zipkin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// sender posts batches of spans to http_endpoint as one JSON array (each
// queue entry is one request's spans, already joined by ',').
type sender struct {
	endpoint string
	client   *http.Client
	body     bytes.Buffer
}

func (s *sender) init(connect, send, read time.Duration) {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: connect}).DialContext,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: read,
		MaxIdleConnsPerHost:   1,
	}
	s.client = &http.Client{Transport: tr, Timeout: connect + send + read,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Send is called by the queue's one goroutine.
func (s *sender) Send(ctx context.Context, batch [][]byte) error {
	s.body.Reset()
	s.body.WriteByte('[')
	for i, e := range batch {
		if i > 0 {
			s.body.WriteByte(',')
		}
		s.body.Write(e)
	}
	s.body.WriteByte(']')
	// A copy: the transport may still read a request's body after Do
	// returned (a connection error mid-write), and s.body is refilled by
	// the next Send.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(bytes.Clone(s.body.Bytes())))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	// Read a little of the answer so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return errors.New("zipkin server responded unexpectedly: " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// Close closes the idle connections.
func (s *sender) Close() { s.client.CloseIdleConnections() }
