package proxycache

import (
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// BenchmarkAccessHit is the hit path: key, lookup, decode, the Exit, and
// the header fields written into a new response header each time, as
// net/http makes one per response.
func BenchmarkAccessHit(b *testing.B) {
	in := newTest(b, nil)
	do(b, in, newCtx("GET", "/bench/items?page=1&sort=asc", nil), jsonOK(`{"items":[1,2,3]}`))
	c := newCtx("GET", "/bench/items?page=1&sort=asc", nil)
	b.ReportAllocs()
	for b.Loop() {
		c.Resp.Header = http.Header{}
		e, ok := in.Access(c).(*plugin.Exit)
		if !ok || e.Status != 200 {
			b.Fatal("no hit")
		}
	}
}
