package server

import (
	"crypto/tls"
	"io"
	"testing"
	"time"
)

func TestTLSHandshakesCountedByVersionAndFailure(t *testing.T) {
	s, _, secure, _ := startServer(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS13} {
		c, err := tls.Dial("tcp", secure, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// A client offering only TLS 1.1 fails, and so does plain HTTP.
	if c, err := tls.Dial("tcp", secure, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	c := dialer(t, false, secure)
	io.WriteString(c, get)
	io.ReadAll(c)
	st := &s.Stats.TLS
	deadline := time.Now().Add(5 * time.Second)
	// The server counts after its side of the handshake, which may end
	// after the client's.
	for (st.TLS12.Load() < 1 || st.TLS13.Load() < 2 || st.Errors.Load() < 2) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st.TLS12.Load() != 1 || st.TLS13.Load() != 2 || st.Errors.Load() != 2 {
		t.Fatalf("TLS 1.2: %d, TLS 1.3: %d, errors: %d; want 1, 2, 2", st.TLS12.Load(), st.TLS13.Load(), st.Errors.Load())
	}
}
