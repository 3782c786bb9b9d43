package hmacauth

import (
	"testing"
)

// BenchmarkAccess is the access phase of a request signed over its date
// and request line with hmac-sha256: parse, lookup, signing string, HMAC.
func BenchmarkAccess(b *testing.B) {
	in := mustBuild(b, nil)
	dir := newDirectory()
	sig := sign(algorithmHashes[hmacSHA256], "secret", "date: "+date+"\nGET /request HTTP/1.1")
	auth := authValue("bob", "hmac-sha256", "date request-line", sig)
	c := req{header: []string{"Date", date, "Authorization", auth}}.ctx(dir)
	h := c.Req.Header
	b.ReportAllocs()
	for b.Loop() {
		c.Credential, c.Consumer = "", nil
		h["Authorization"] = []string{auth}
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
	if h["X-Consumer-Username"][0] != "bob" {
		b.Fatal("not authenticated")
	}
}
