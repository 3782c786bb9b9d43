package gwtest

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// StartH2CUpstream serves h over HTTP/2 cleartext (prior knowledge) on a
// loopback port, as a grpc:// upstream, stopped when the test ends; it
// returns the address.
func StartH2CUpstream(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// H2CClient is an HTTP/2 client with prior knowledge over cleartext, for an
// `http2` listener; its connections close when the test ends.
func H2CClient(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
