package oidc

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// MaxResponseBytes bounds every answer read from the authorization
// server (metadata, key sets, introspection): the server is trusted to
// issue tokens, not to be small.
const MaxResponseBytes = 1 << 20

// errTooLarge is a server answer past MaxResponseBytes.
var errTooLarge = errors.New("oidc: answer of the authorization server exceeds 1 MiB")

// limitedTransport cuts every response body at MaxResponseBytes (go-oidc
// reads the key set whole) and slows key-set refetches: go-oidc refetches
// the key set whenever a token names a key it does not hold, so tokens
// with made-up key ids would otherwise make one call each to the server.
type limitedTransport struct {
	base http.RoundTripper
	// jwksURL is the key set's address, once discovery has found it.
	jwksURL  atomic.Pointer[string]
	minFetch time.Duration
	now      func() time.Time

	mu      sync.Mutex
	fetched time.Time
	keys    []byte
	header  http.Header
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if u := t.jwksURL.Load(); u != nil && req.Method == http.MethodGet && req.URL.String() == *u {
		return t.keySet(req)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// keySet answers a key-set fetch from the last one when it is younger
// than minFetch. go-oidc lets one fetch run at a time, so no lock is held
// across the call for long.
func (t *limitedTransport) keySet(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	if t.keys != nil && t.now().Sub(t.fetched) < t.minFetch {
		resp := &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: t.header.Clone(),
			Body: io.NopCloser(bytes.NewReader(t.keys)), Request: req, ContentLength: int64(len(t.keys))}
		t.mu.Unlock()
		return resp, nil
	}
	t.mu.Unlock()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(&limitedBody{rc: resp.Body, left: MaxResponseBytes})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		t.mu.Lock()
		t.keys, t.header, t.fetched = body, resp.Header.Clone(), t.now()
		t.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// limitedBody fails a read past its budget rather than truncating
// silently, so a cut answer is an error, never a shorter document.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
